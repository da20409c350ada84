"""Exports of a slice of a session: JSONL events, or a worker's regression transcript.

The events come from :meth:`inspector.data.SessionData.pages`; this module only
formats and writes them. A transcript file is what ``pipebus_regression.check``
(the pytest plugin) and ``pipebus replay --transcript`` replay.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import fields
from pathlib import Path

from pipebus.eventlog.rows import StoredEvent
from pipebus.replay.transcript import Step, Transcript, step_of

FIELDS = tuple(
    each.name
    for each in fields(StoredEvent)
    if not each.name.startswith("_") and each.name not in ("session_id", "payload")
)
"""What a line holds of an event besides its session and payload, in the event's order."""


def event_line(event: StoredEvent) -> str:
    """One event as a JSON line: every stored field, the payload as JSON."""
    record = {name: getattr(event, name) for name in FIELDS}
    record["session"] = event.session_id
    record["payload"] = json.loads(event.payload)
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def parse_slice(text: str, length: int) -> tuple[int, int, str]:
    """``"START-END PATH"`` (either end may be left out) as (start, end, path).

    Raises:
        ValueError: If the steps are not numbers, or no path is given.
    """
    span, _, path = text.strip().partition(" ")
    first, _, last = span.partition("-")
    start = int(first) if first else 1
    end = int(last) if last else length
    if not path.strip():
        raise ValueError("give the steps and a file: START-END PATH")
    return max(1, start), min(length, max(start, end)), path.strip()


async def write_jsonl(
    pages: AsyncIterator[list[StoredEvent]],
    path: str | Path,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the events of ``pages`` as JSON lines; returns how many.

    ``progress`` is called with the events written so far, after each page.
    """
    target = Path(path)
    await asyncio.to_thread(target.write_text, "", encoding="utf-8")
    written = 0
    async for page in pages:
        text = "".join(event_line(event) + "\n" for event in page)
        await asyncio.to_thread(_append, target, text)
        written += len(page)
        if progress is not None:
            progress(written)
    return written


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(text)


async def write_transcript(
    pages: AsyncIterator[list[StoredEvent]], worker: str, session_id: str, path: str | Path
) -> Transcript:
    """Write ``worker``'s inputs and outputs among the events of ``pages`` as a transcript.

    Raises:
        ValueError: If the worker sent nothing in the slice.
    """
    steps: list[Step] = []
    runner: str | None = None
    async for page in pages:
        for event in page:
            kind = step_of(event, worker)
            if kind is None:
                continue
            if kind == "out" and runner is None:
                runner = event.runner
            steps.append(Step(kind, event.seq, event.message))
    if runner is None:
        raise ValueError(f"{worker!r} sent nothing in these steps")
    transcript = Transcript(worker, runner, session_id, tuple(steps))
    await asyncio.to_thread(transcript.save, path)
    return transcript
