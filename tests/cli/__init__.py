"""Tests of the ``pipebus`` command, and the helpers they share to record sessions."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipebus import BusTTSSpeakMessage
from pipebus.cli import main
from pipebus.core.messages import BusMessage
from pipebus.demo import run_demo
from pipebus.eventlog.rows import StoredEvent, event_row, recordable_row
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import Batch
from pipebus.observability import Envelope

SESSION_KEYS = [
    "id",
    "name",
    "runner",
    "host",
    "pid",
    "version",
    "started_ns",
    "ended_ns",
    "status",
    "events",
    "errors",
    "lost_events",
    "first_lost_seq",
    "last_step",
    "duration_ns",
]

EVENT_KEYS = [
    "seq",
    "message_id",
    "time_ns",
    "type",
    "source",
    "target",
    "priority",
    "local",
    "job_id",
    "runner",
    "remote",
    "trace_id",
    "span_id",
    "parent_span_id",
    "causation_id",
    "message",
]

WORKER_KEYS = [
    "kind",
    "step",
    "name",
    "runner",
    "parent",
    "status",
    "active",
    "errors",
    "stop_reason",
    "working_on",
    "waiting_on",
]

JOB_KEYS = [
    "kind",
    "step",
    "id",
    "name",
    "requester",
    "status",
    "reason",
    "started_ns",
    "finished_ns",
    "workers",
]

IMPOSSIBLE_PID = 4_194_305
"""One more than Linux's largest pid: no process ever has it."""


@dataclass(frozen=True)
class Run:
    """What one ``pipebus`` invocation did."""

    status: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def pipebus(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """Run ``pipebus ARGS`` in this process and capture what it printed."""
    capsys.readouterr()
    status = main(list(args))
    captured = capsys.readouterr()
    return Run(status, captured.out, captured.err)


def log_path() -> Path:
    """The test's private default log (see ``tests/conftest.py``)."""
    return Path(os.environ["PIPEBUS_EVENT_LOG"])


def record_demo() -> str:
    """Record the demo session into the default log; returns its session id."""
    lines: list[str] = []
    runner = asyncio.run(run_demo(lines.append))
    return runner.bus.session_id


def stored_events(session_id: str) -> list[StoredEvent]:
    """Every event of a session of the default log, read through the API."""

    async def read() -> list[StoredEvent]:
        log = await EventLog.open(log_path())
        try:
            return await log.events(session_id)
        finally:
            await log.close()

    return asyncio.run(read())


def speak_envelopes(session_id: str, count: int) -> list[tuple[int, Envelope]]:
    """``count`` broadcasts from ``speaker``, at steps 1..count, 1 ms apart."""
    return [
        (
            seq,
            Envelope(
                BusTTSSpeakMessage(source="speaker", text=f"line {seq}"),
                f"m-{seq}",
                session_id,
                seq,
                1_000_000_000 + seq * 1_000_000,
                "runner-a",
                seq,
                seq,
            ),
        )
        for seq in range(1, count + 1)
    ]


def record_session(
    session_id: str, *, events: int = 0, ended: bool = True, location: Path | None = None
) -> None:
    """Record a synthetic session of ``events`` broadcasts (still running unless ``ended``)."""

    async def record() -> None:
        log = await EventLog.open(location or log_path())
        try:
            await log.begin_session(session_id, runner="runner-a", name="synthetic")
            writer = log.writer(session_id)
            rows = [
                recordable_row(e, session_id, seq) for seq, e in speak_envelopes(session_id, events)
            ]
            await writer.append(Batch(rows, [], []))
            await writer.close()
            if ended:
                await log.end_session(session_id, "ended")
        finally:
            await log.close()

    asyncio.run(record())


def write_rows(session_id: str, messages: list[tuple[BusMessage, str | None]]) -> None:
    """Record an ended session of ``messages`` at steps 1.., each with its payload text.

    A text given is stored as it is (a row as an older pipebus wrote it); None encodes
    the message as this pipebus does.
    """

    async def record() -> None:
        log = await EventLog.open(log_path())
        try:
            await log.begin_session(session_id, runner="runner-a")
            writer = log.writer(session_id)
            rows = [
                event_row(
                    Envelope(message, f"m-{seq}", session_id, seq, seq, "runner-a", 1, seq),
                    session_id,
                    seq,
                    text,
                )
                for seq, (message, text) in enumerate(messages, 1)
            ]
            await writer.append(Batch(rows, [], []))
            await writer.close()
            await log.end_session(session_id, "ended")
        finally:
            await log.close()

    asyncio.run(record())


def execute(sql: str, *parameters: object, location: Path | None = None) -> None:
    """Run one SQL statement on the (SQLite) log, behind pipebus's back."""
    connection = sqlite3.connect(location or log_path())
    try:
        connection.execute(sql, parameters)
        connection.commit()
    finally:
        connection.close()


def orphan(session_id: str) -> None:
    """Make a recorded session look like one whose recording process died."""
    execute(
        "UPDATE sessions SET status = 'running', ended_ns = NULL, pid = ? WHERE id = ?",
        IMPOSSIBLE_PID,
        session_id,
    )
