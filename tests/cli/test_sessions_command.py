"""``pipebus sessions``: the table and the JSON lines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from pipebus import __version__
from pipebus.cli_commands.output import duration
from pipebus.eventlog.rows import SessionInfo
from pipebus.eventlog.store import EventLog
from tests.cli import (
    IMPOSSIBLE_PID,
    SESSION_KEYS,
    execute,
    orphan,
    pipebus,
    record_demo,
    record_session,
    stored_events,
)
from tests.eventlog.crash_program import SESSION

ROOT = Path(__file__).resolve().parents[2]


def test_sessions_lists_a_recorded_session_as_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    session_id = record_demo()
    run = pipebus(capsys, "sessions")
    assert run.status == 0 and run.err == ""
    header, row = run.lines
    assert header.split() == [
        "ID",
        "NAME",
        "STARTED",
        "DURATION",
        "STATUS",
        "EVENTS",
        "ERRORS",
        "LOST",
    ]
    cells = row.split()
    assert cells[0] == session_id[:8]
    assert cells[1] == "-"  # the demo names no session
    assert cells[-4:] == ["ended", str(len(stored_events(session_id))), "0", "0"]


def test_sessions_json_is_one_object_per_session_with_stable_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    demo_id = record_demo()
    record_session("bbbb" * 8, events=3)
    run = pipebus(capsys, "sessions", "--json")
    assert run.status == 0
    newest, demo = (json.loads(line) for line in run.lines)
    assert list(newest) == SESSION_KEYS and list(demo) == SESSION_KEYS
    assert newest == newest | {
        "id": "bbbb" * 8,
        "name": "synthetic",
        "runner": "runner-a",
        "host": socket.gethostname(),
        "version": __version__,
        "status": "ended",
        "events": 3,
        "errors": 0,
        "lost_events": 0,
        "first_lost_seq": None,
    }
    assert demo["id"] == demo_id and demo["runner"] == "demo-runner"
    assert demo["status"] == "ended" and demo["events"] == len(stored_events(demo_id))
    assert demo["ended_ns"] > demo["started_ns"]


def test_a_session_whose_recorder_died_is_shown_incomplete(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_session("cccc" * 8, events=5, ended=False)
    orphan("cccc" * 8)
    (found,) = (json.loads(line) for line in pipebus(capsys, "sessions", "--json").lines)
    assert (found["status"], found["pid"], found["ended_ns"]) == (
        "incomplete",
        IMPOSSIBLE_PID,
        None,
    )
    assert found["events"] == 5
    _, row = pipebus(capsys, "sessions").lines
    assert row.split()[-4:] == ["incomplete", "5", "0", "0"]


def test_a_log_without_sessions_says_so_and_json_prints_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = pipebus(capsys, "sessions")
    assert run.status == 0 and run.out.startswith("no sessions recorded in ")
    assert pipebus(capsys, "sessions", "--json").out == ""


def test_sessions_reads_the_log_given_with_db(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    record_session("dddd" * 8, events=2, location=other)
    assert pipebus(capsys, "sessions", "--json").out == ""
    (found,) = pipebus(capsys, "sessions", "--db", str(other), "--json").lines
    assert json.loads(found)["id"] == "dddd" * 8


async def _killed_recording(path: Path) -> None:
    """Record the crash program's session into ``path`` and SIGKILL it mid-way."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.eventlog.crash_program", str(path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert (await process.stdout.readline()).strip() == b"started"
        async with asyncio.timeout(20):
            seen = 0
            while seen < 500:  # the other process commits in the background
                seen = (await _session(path)).events
                await asyncio.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _session(path: Path) -> SessionInfo:
    log = await EventLog.open(path)
    try:
        return await log.session(SESSION)
    finally:
        await log.close()


def test_a_killed_session_shows_the_span_it_recorded_not_one_growing_with_the_clock(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "killed.db"
    asyncio.run(_killed_recording(path))
    info = asyncio.run(_session(path))
    (found,) = (
        json.loads(line) for line in pipebus(capsys, "sessions", "--db", str(path), "--json").lines
    )
    assert found["status"] == "incomplete" and found["ended_ns"] is None
    recorded = info.heartbeat_ns - info.started_ns  # up to the recorder's last write
    assert found["duration_ns"] == recorded
    assert found["events"] == found["last_step"] == asyncio.run(_stored(path))
    _, row = pipebus(capsys, "sessions", "--db", str(path)).lines
    assert f"  {duration(recorded)}  " in row and "incomplete" in row


async def _stored(path: Path) -> int:
    log = await EventLog.open(path)
    try:
        return len(await log.events(SESSION))
    finally:
        await log.close()


def test_sessions_count_the_events_stored_and_say_how_many_steps_are_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_session("abab" * 8, events=30, ended=False)
    orphan("abab" * 8)
    execute("DELETE FROM events WHERE seq BETWEEN 10 AND 14 OR seq = 20")  # never stored
    (found,) = (json.loads(line) for line in pipebus(capsys, "sessions", "--json").lines)
    assert (found["events"], found["last_step"]) == (24, 30)
    _, row = pipebus(capsys, "sessions").lines
    assert row.split()[-6:] == ["incomplete", "24", "(6", "missing)", "0", "0"]
