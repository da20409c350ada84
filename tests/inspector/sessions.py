"""Sessions for the inspector's tests: a fixed, synthetic one, and waiting on the app."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

from inspector.app import InspectorApp
from inspector.screens.main import MainScreen
from pipebus.core.envelope import Envelope
from pipebus.core.messages import (
    BusHandlerErrorMessage,
    BusJobCancelMessage,
    BusJobGroupFinishedMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobStreamStartMessage,
    BusJobUpdateMessage,
    BusMessage,
    BusTTSSpeakMessage,
    BusWorkerReadyMessage,
    BusWorkerStoppedMessage,
)
from pipebus.core.types import JobStatus
from pipebus.eventlog.rows import event_row
from pipebus.eventlog.schema import EVENT_COLUMNS, events, sessions
from pipebus.eventlog.store import EventLog

SESSION = "5e55105e" + "0" * 24
START_NS = 1_790_000_000_000_000_000
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "shop.py", line 12, in translate\n'
    "    raise LookupError(\"no model for 'klingon'\")\n"
    "LookupError: no model for 'klingon'"
)


def scenario() -> list[tuple[BusMessage, int | None]]:
    """The messages of the fixed session, each with the step whose handler sent it."""
    ready = [
        BusWorkerReadyMessage(source=name, runner="shop", parent=parent, active=name != "closer")
        for name, parent in (
            ("agent", None),
            ("writer", "agent"),
            ("translator", "agent"),
            ("archivist", None),
            ("closer", None),
        )
    ]
    messages: list[tuple[BusMessage, int | None]] = [(m, None) for m in ready]
    messages += [
        (
            BusJobRequestMessage(
                source="agent",
                target="writer",
                job_id="j-write",
                job_name="write",
                payload={"topic": "venus"},
            ),
            None,
        ),
        (
            BusJobStreamStartMessage(
                source="writer", target="agent", job_id="j-write", data={"format": "text"}
            ),
            6,
        ),
        (
            BusJobStreamDataMessage(
                source="writer", target="agent", job_id="j-write", data={"text": "Venus"}
            ),
            6,
        ),
        (
            BusJobStreamDataMessage(
                source="writer", target="agent", job_id="j-write", data={"text": "days"}
            ),
            6,
        ),
        (
            BusJobStreamEndMessage(
                source="writer", target="agent", job_id="j-write", data={"words": 2}
            ),
            6,
        ),
        (BusJobGroupFinishedMessage(source="agent", job_id="j-write", status="completed"), 10),
        (
            BusJobRequestMessage(
                source="agent",
                target="translator",
                job_id="j-tr",
                job_name="translate",
                payload={"to": "klingon", "text": "x" * 30},
            ),
            11,
        ),
        (
            BusHandlerErrorMessage(
                source="translator",
                message_id="5e55-m12",
                handler="job:translate",
                error_type="LookupError",
                error="no model for 'klingon'",
                traceback=TRACEBACK,
            ),
            12,
        ),
        (
            BusJobResponseMessage(
                source="translator",
                target="agent",
                job_id="j-tr",
                status=JobStatus.ERROR,
                response={"error": "LookupError"},
            ),
            12,
        ),
        (
            BusJobGroupFinishedMessage(
                source="agent", job_id="j-tr", status="failed", reason="translator answered error"
            ),
            14,
        ),
        (
            BusWorkerStoppedMessage(
                source="translator", runner="shop", status="failed", reason="LookupError"
            ),
            None,
        ),
        (
            BusJobRequestMessage(
                source="agent",
                target="archivist",
                job_id="j-arc",
                job_name="archive",
                payload={"keep": "all"},
            ),
            15,
        ),
        (
            BusJobUpdateMessage(
                source="archivist", target="agent", job_id="j-arc", update={"archived": 0}
            ),
            17,
        ),
        (
            BusJobCancelMessage(
                source="agent", target="archivist", job_id="j-arc", reason="hung up"
            ),
            18,
        ),
        (
            BusJobGroupFinishedMessage(
                source="agent", job_id="j-arc", status="cancelled", reason="hung up"
            ),
            18,
        ),
        (BusTTSSpeakMessage(source="closer", text="Goodbye!"), None),
    ]
    for name in ("agent", "writer", "archivist", "closer"):
        messages.append((BusWorkerStoppedMessage(source=name, runner="shop", status="ended"), None))
    return messages


LONG = 3_000
"""Events of the long session: many times what a screen shows."""


def long_scenario(length: int = LONG) -> list[tuple[BusMessage, int | None]]:
    """The fixed session with the closer speaking until it holds ``length`` events."""
    fixed = scenario()
    head, stops = fixed[:-4], fixed[-4:]
    lines = length - len(fixed)
    speech = [(BusTTSSpeakMessage(source="closer", text=f"line {n}"), None) for n in range(lines)]
    return head + speech + stops


async def write_session(
    path: str | Path,
    *,
    name: str = "shop",
    session: str = SESSION,
    messages: list[tuple[BusMessage, int | None]] | None = None,
) -> str:
    """Write the fixed session (or ``messages``) into the log at ``path``; returns its id.

    Every id and time is fixed, so the screens it shows are the same on every run.
    """
    rows: list[dict[str, Any]] = []
    spans: dict[int, int] = {}
    for seq, (message, cause) in enumerate(messages or scenario(), start=1):
        spans[seq] = 0x1000 + seq
        envelope = Envelope(
            message,
            f"{session[:4]}-m{seq}",
            session,
            seq,
            START_NS + seq * 1_500_000,
            "shop",
            0xABC0 + (cause or seq),
            spans[seq],
            spans[cause] if cause else 0,
            f"{session[:4]}-m{cause}" if cause else None,
            False,
            getattr(message, "job_id", None),
        )
        rows.append(dict(zip(EVENT_COLUMNS, event_row(envelope, session, seq), strict=True)))
    async with await EventLog.open(path) as log:
        await log.begin_session(session, runner="shop", name=name)
        async with log.engine.begin() as connection:
            await connection.execute(insert(events), rows)
            await connection.execute(
                update(sessions)
                .where(sessions.c.id == session)
                .values(
                    started_ns=START_NS,
                    ended_ns=START_NS + (len(rows) + 1) * 1_500_000,
                    heartbeat_ns=START_NS,
                    status="ended",
                    last_seq=len(rows),
                    errors=1,
                )
            )
    return session


async def settle(pilot: Any, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app run until ``condition()`` holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the inspector never got there")
        await pilot.pause()


def main_screen(app: InspectorApp) -> MainScreen:
    """The app's main screen (the test fails if another screen is on top)."""
    screen = app.screen
    assert isinstance(screen, MainScreen), f"on {type(screen).__name__}, not the main screen"
    return screen


async def shown(pilot: Any, app: InspectorApp, step: int | None = None) -> MainScreen:
    """Wait until the main screen is up and shows ``step`` (default: wherever it is)."""

    def ready() -> bool:
        screen = app.screen
        if not isinstance(screen, MainScreen) or not screen.idle:
            return False
        if screen.data.missing(screen.timeline.wanted()):
            return False
        return step is None or screen.model.cursor == step

    await settle(pilot, ready)
    return main_screen(app)
