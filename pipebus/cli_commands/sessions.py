"""``pipebus sessions``: the sessions of a log, newest first, as a table or JSON lines."""

from __future__ import annotations

import argparse
import asyncio

from inspector.data import SessionRow, list_sessions
from pipebus.cli_commands.logs import opened_log
from pipebus.cli_commands.output import duration, emit, json_line, local_time, say, table
from pipebus.cli_commands.records import session_record
from pipebus.core.describe import short_id

HEADERS = ("ID", "NAME", "STARTED", "DURATION", "STATUS", "EVENTS", "ERRORS", "LOST")


def events_cell(row: SessionRow) -> str:
    """The events a session holds, and how many of its steps are missing if any are."""
    return f"{row.events} ({row.missing} missing)" if row.missing else str(row.events)


async def _sessions(args: argparse.Namespace) -> int:
    async with opened_log(args) as log:
        found = await list_sessions(log)
        where = log.url
    if args.json:
        emit(json_line(session_record(row)) for row in found)
        return 0
    if not found:
        say(f"no sessions recorded in {where}")
        return 0
    rows = (
        (
            short_id(row.info.id),
            row.info.name or "-",
            local_time(row.info.started_ns),
            duration(row.duration_ns),
            row.status,
            events_cell(row),
            str(row.info.errors),
            str(row.info.lost_events),
        )
        for row in found
    )
    emit(table(HEADERS, rows, right=(5, 6, 7)))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``pipebus sessions``."""
    return asyncio.run(_sessions(args))
