"""``pipebus sessions``: the sessions of a log, newest first, as a table or JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import time

from pipebus.cli_commands.logs import opened_log
from pipebus.cli_commands.output import duration, emit, json_line, local_time, say, table
from pipebus.cli_commands.records import session_record
from pipebus.eventlog.rows import SessionInfo
from pipebus.eventlog.store import EventLog

HEADERS = ("ID", "NAME", "STARTED", "DURATION", "STATUS", "EVENTS", "ERRORS", "LOST")


async def _events_of(log: EventLog, info: SessionInfo) -> int:
    """How many events a session holds; a running one's row may lag behind its events."""
    if info.status != "running":
        return info.events
    return max(info.events, await log.count(info.id))


async def _sessions(args: argparse.Namespace) -> int:
    now = time.time_ns()
    async with opened_log(args) as log:
        found = [(info, await _events_of(log, info)) for info in await log.sessions()]
        where = log.url
    if args.json:
        emit(json_line(session_record(info, now_ns=now, events=count)) for info, count in found)
        return 0
    if not found:
        say(f"no sessions recorded in {where}")
        return 0
    rows = (
        (
            info.id[:8],
            info.name or "-",
            local_time(info.started_ns),
            duration(info.duration_ns(now)),
            info.shown_status(now),
            str(count),
            str(info.errors),
            str(info.lost_events),
        )
        for info, count in found
    )
    emit(table(HEADERS, rows, right=(5, 6, 7)))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``pipebus sessions``."""
    return asyncio.run(_sessions(args))
