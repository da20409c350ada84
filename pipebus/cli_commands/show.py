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
from collections.abc import Mapping

from pipebus.cli_commands import CommandError
from pipebus.cli_commands.logs import JobNames, opened_log, resolve_job
from pipebus.cli_commands.output import emit, json_line, one_line
from pipebus.cli_commands.records import event_record
from pipebus.core.catalog import CATALOG
from pipebus.core.describe import describe, offset_ms, short_id
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


def event_line(
    event: StoredEvent, started_ns: int, width: int, job_names: Mapping[str, str] | None = None
) -> str:
    """``step  +offset ms  Type  source → target  field=value ...`` for one event.

    The offset is from the session's start (:func:`~pipebus.core.describe.offset_ms`);
    a job id is shown short, with the job's name from ``job_names`` beside it.
    """
    head = f"{event.seq:>{width}}  {offset_ms(event.time_ns, started_ns):>10.3f} ms  "
    try:
        return head + describe(event.message, job_names=job_names)
    except DecodeError as exc:
        raw = event.payload if len(event.payload) <= 120 else event.payload[:119] + "…"
        return (
            f"{head}{event.type}  {event.source} → {event.target or '*'}  "
            f"{UNDECODABLE} {one_line(str(exc))}  payload={raw}"
        )


def missing_line(first: int, last: int, width: int) -> str:
    """The line that stands for steps the log does not hold, where they would be."""
    steps = f"step {first} is" if first == last else f"steps {first}-{last} are"
    return f"{'…':>{width}}  {steps} missing: never stored (lost, or the recording process died)"


def _missing_note(session_id: str, runs: list[tuple[int, int]]) -> str:
    count = sum(last - first + 1 for first, last in runs)
    where = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:10])
    more = f" and {len(runs) - 10} more runs" if len(runs) > 10 else ""
    return (
        f"pipebus: note: {count} step{'s' if count != 1 else ''} of session "
        f"{short_id(session_id)} in this range are not in the log: {where}{more}"
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
        session = replay.session_id
        job = await resolve_job(log, session, args.job) if args.job else None
        position, stop = _window(args, len(replay))
        end = min(stop, len(replay) + 1) if stop is not None else len(replay) + 1
        started, width = replay.info.started_ns, len(str(len(replay)))
        names = JobNames(log, session)
        missing: list[tuple[int, int]] = []  # every run of missing steps met, for --json

        async def holes(before: int) -> list[tuple[int, int]]:
            """The missing steps from ``position`` up to ``before`` (as far as was read)."""
            found = await log.missing_steps(session, position, min(before, end))
            missing.extend(found)
            return found

        remaining: int | None = args.limit
        while remaining is None or remaining > 0:
            size = PAGE if remaining is None else min(PAGE, remaining)
            page = await replay.events(
                position, stop, types=types, worker=args.worker, job=job, limit=size
            )
            if not page:
                break
            whole = page[-1].seq - position + 1 == len(page)  # no step skipped: none missing
            runs = [] if whole else await holes(page[-1].seq + 1)
            if args.json:
                lines = [json_line(event_record(event)) for event in page]
            else:
                known = await names.learn(page)
                lines = []
                for event in page:
                    while runs and runs[0][0] < event.seq:
                        lines.append(missing_line(*runs.pop(0), width))
                    lines.append(event_line(event, started, width, known))
            if not emit(lines):
                return 0
            position = page[-1].seq + 1
            if remaining is not None:
                remaining -= len(page)
            if len(page) < size:
                break
        if remaining is None or remaining > 0:  # read to the end of the window
            runs = await holes(end)
            if not args.json:
                emit(missing_line(first, last, width) for first, last in runs)
        if missing and args.json:  # the records stay on stdout, alone
            print(_missing_note(session, missing), file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``pipebus show``."""
    return asyncio.run(_show(args))
