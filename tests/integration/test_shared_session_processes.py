"""Runner processes join one PostgreSQL session the README's way, all starting at once.

Each process builds ``WorkerRunner(..., event_log=URL, session_id=SAME)`` only when told
to go, into a schema that does not exist yet: no session row, no tables, nothing made
beforehand. They open the log, create its schema, join the session and send at the
same moment, on one Redis bus, so each records the others' messages too.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pipebus.eventlog.engine import head_revision, stored_revision
from pipebus.eventlog.store import EventLog
from tests.eventlog.conftest import drop_schema
from tests.integration.processes import ROOT
from tests.services import need_postgres

RUNNERS = 3
MESSAGES = 3000


@pytest.fixture
async def fresh_location() -> AsyncIterator[str]:
    """A PostgreSQL log URL whose schema nobody has created yet; dropped afterwards."""
    base = need_postgres()
    schema = f"pbtest_{secrets.token_hex(6)}"
    yield f"{base}?schema={schema}"
    await drop_schema(base, schema)


OPEN_A_LOG = """
import asyncio, json, sys
from pipebus.eventlog.engine import head_revision, stored_revision
from pipebus.eventlog.store import EventLog

async def open_and_close(location):
    log = await EventLog.open(location)
    await log.close()

print(json.dumps({"event": "ready"}), flush=True)
sys.stdin.readline()
asyncio.run(open_and_close(sys.argv[1]))
print(json.dumps({"event": "ended"}), flush=True)
"""
"""A process that opens a log the moment it is told to (all imports done before)."""


async def start_together(commands: list[list[str]]) -> list[tuple[int, dict[str, Any], str]]:
    """Start processes, wait until each is ready, say go to all; (exit code, last line, stderr)."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, *command,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for command in commands
    ]  # fmt: skip
    try:
        for process in processes:
            assert process.stdout is not None
            ready = json.loads(await process.stdout.readline())
            assert ready["event"] == "ready"
        outcomes = await asyncio.gather(*(process.communicate(b"go\n") for process in processes))
        return [
            (process.returncode or 0, json.loads(out.splitlines()[-1]) if out else {}, err.decode())
            for process, (out, err) in zip(processes, outcomes, strict=True)
        ]
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


@pytest.mark.timeout(180)
async def test_runner_processes_joining_one_session_at_once_store_every_message_once_gapless(
    fresh_location: str, redis_url: str, channel: str, tmp_path: Path
) -> None:
    session = secrets.token_hex(16)
    names = [f"r{i}" for i in range(RUNNERS)]
    commands = [
        [
            "-m", "tests.integration.shared_session_runner",
            "--name", name, "--channel", channel, "--redis", redis_url,
            "--event-log", fresh_location, "--session", session,
            "--messages", str(MESSAGES), "--sent", str(tmp_path / f"{name}.sent"),
        ]
        for name in names
    ]  # fmt: skip
    results = await start_together(commands)

    for name, (code, said, errors) in zip(names, results, strict=True):
        assert code == 0, f"runner {name} exited {code}:\n{errors}"
        assert errors == "", f"runner {name} logged errors:\n{errors}"
        assert said["event"] == "ended", f"runner {name}: {said}"
        assert (said["sent"], said["lost"], said["failure"]) == (MESSAGES, 0, None), said
    log = await EventLog.open(fresh_location)
    try:
        info = await log.session(session)
        stored = await log.events(session)
    finally:
        await log.close()
    counts = Counter(event.message_id for event in stored)
    assert [event.seq for event in stored] == list(range(1, len(stored) + 1))  # gapless
    assert info.events == len(stored)
    assert max(counts.values()) == 1  # each message once
    for name in names:
        sent = (tmp_path / f"{name}.sent").read_text().split()
        assert len(sent) == len(set(sent)) == MESSAGES
        assert all(counts[message_id] == 1 for message_id in sent), f"{name}'s messages"
    assert {event.runner for event in stored} <= set(names)
    assert (info.lost_events, info.first_lost_seq) == (0, None)


async def test_processes_opening_one_new_log_at_once_all_open_it(fresh_location: str) -> None:
    """The first creates the schema and its tables; the others wait, then find them."""
    results = await start_together([["-c", OPEN_A_LOG, fresh_location] for _ in range(4)])
    for code, said, errors in results:
        assert (code, said, errors) == (0, {"event": "ended"}, "")
    log = await EventLog.open(fresh_location)
    try:
        assert await stored_revision(log.engine, log.url) == head_revision()
    finally:
        await log.close()
