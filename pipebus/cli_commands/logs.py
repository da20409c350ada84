"""Opening the event log a command names (``--db``), and finding its sessions and jobs."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pipebus.cli_commands import CommandError
from pipebus.eventlog.sqlite import database_file
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.urls import ENVIRONMENT_VARIABLE, default_location


def location_of(args: argparse.Namespace) -> str:
    """The log a command reads: ``--db``, else ``$PIPEBUS_EVENT_LOG``, else ``./pipebus.db``."""
    given: str | None = args.db
    return given or default_location()


def missing_file(location: str) -> Path | None:
    """The SQLite file ``location`` names, if it does not exist (None for other logs)."""
    path = database_file(location)
    return None if path is None or path.exists() else path


def require_existing(location: str) -> None:
    """Refuse to read a SQLite log that does not exist (opening would create it).

    Raises:
        CommandError: If the file is missing.
    """
    path = missing_file(location)
    if path is not None:
        raise CommandError(
            f"no event log at {path} (give --db PATH|URL, or set {ENVIRONMENT_VARIABLE})"
        )


@asynccontextmanager
async def opened_log(args: argparse.Namespace, *, upgrade: bool = True) -> AsyncIterator[EventLog]:
    """The command's log, opened (and upgraded if older, unless not to), closed on exit.

    Raises:
        CommandError: If the log is a SQLite file that does not exist.
        EventLogError: If it cannot be opened or is not a pipebus log.
    """
    location = location_of(args)
    require_existing(location)
    log = await EventLog.open(location, upgrade=upgrade)
    try:
        yield log
    finally:
        await log.close()


async def resolve_job(log: EventLog, session_id: str, prefix: str) -> str:
    """The id of the session's one job whose id starts with ``prefix``.

    Raises:
        CommandError: If no job, or more than one, matches.
        EventLogError: If the log cannot be read.
    """
    found = await log.jobs_starting_with(session_id, prefix, limit=2)
    if found and found[0] == prefix:
        return prefix
    if not found:
        raise CommandError(f"no job of session {session_id[:8]} has an id starting with {prefix!r}")
    if len(found) > 1:
        raise CommandError(f"{prefix!r} matches several jobs of the session; give more of the id")
    return found[0]
