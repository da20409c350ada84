"""``pipebus show``: a session's events, one per line, filtered, read a page at a time.

Events are read in pages of :data:`PAGE` and printed page by page, so a session of
a million events never sits in memory, and ``pipebus show | head`` stops reading
once ``head`` has what it wants.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import sys
from collections.abc import Callable

from pipebus.cli_commands import CommandError
from pipebus.cli_commands.logs import opened_log, resolve_job
from pipebus.cli_commands.output import emit, json_line, one_line
from pipebus.cli_commands.records import event_record
from pipebus.core.catalog import CATALOG
from pipebus.core.describe import describe
from pipebus.core.errors import DecodeError
from pipebus.eventlog.rows import StoredEvent
from pipebus.replay.session import SessionReplay

PAGE = 2000
"""Events read (and printed) at a time."""

UNDECODABLE = "[undecodable]"
"""Marks the line of an event whose payload does not decode, printed as recorded."""


def wire_names(given: list[str] | None) -> list[str] | None:
    """The recorded type names for ``--type`` values (comma-separated lists allowed).

    A registered alias becomes its type's wire name. A name no registered type has is
    kept (the log may hold types of an application this process does not import),
    with a note on stderr suggesting the closest registered names.
    """
    if not given:
        return None
    names: list[str] = []
    for value in given:
        for name in filter(None, (part.strip() for part in value.split(","))):
            entry = CATALOG.by_name(name)
            if entry is None:
                close = difflib.get_close_matches(name, CATALOG.names(), n=3)
                hint = f"; did you mean {' or '.join(close)}?" if close else ""
                print(
                    f"pipebus: note: no registered message type is named {name!r}{hint}",
                    file=sys.stderr,
                )
            names.append(entry.wire_name if entry is not None else name)
    return names


def event_line(event: StoredEvent, started_ns: int, width: int) -> str:
    """``step  +offset ms  Type  source → target  field=value ...`` for one event."""
    offset = (event.time_ns - started_ns) / 1e6
    head = f"{event.seq:>{width}}  {offset:>10.3f} ms  "
    try:
        return head + describe(event.message)
    except DecodeError as exc:
        raw = event.payload if len(event.payload) <= 120 else event.payload[:119] + "…"
        return (
            f"{head}{event.type}  {event.source} → {event.target or '*'}  "
            f"{UNDECODABLE} {one_line(str(exc))}  payload={raw}"
        )


def _window(args: argparse.Namespace, length: int) -> tuple[int, int | None]:
    """The steps to read, ``start`` to ``stop - 1``, from ``--from`` and ``--to``."""
    start: int = args.start
    last: int | None = args.to
    if last is not None and last < start:
        raise CommandError(f"--to {last} comes before --from {start}")
    if start > max(length, 1):
        raise CommandError(f"--from {start}: the session has {length} events")
    return start, (last + 1 if last is not None else None)


async def _show(args: argparse.Namespace) -> int:
    types = wire_names(args.type)
    async with opened_log(args) as log:
        replay = await SessionReplay.open(log, args.session)
        job = await resolve_job(log, replay.session_id, args.job) if args.job else None
        position, stop = _window(args, len(replay))
        started, width = replay.info.started_ns, len(str(len(replay)))
        render: Callable[[StoredEvent], str] = (
            (lambda event: json_line(event_record(event)))
            if args.json
            else (lambda event: event_line(event, started, width))
        )
        remaining: int | None = args.limit
        while remaining is None or remaining > 0:
            size = PAGE if remaining is None else min(PAGE, remaining)
            page = await replay.events(
                position, stop, types=types, worker=args.worker, job=job, limit=size
            )
            if not page or not emit(render(event) for event in page):
                break
            position = page[-1].seq + 1
            if remaining is not None:
                remaining -= len(page)
            if len(page) < size:
                break
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``pipebus show``."""
    return asyncio.run(_show(args))
