"""Opening the event log a command names (``--db``), and finding its sessions and jobs."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from pipebus.cli_commands import CommandError
from pipebus.core.describe import job_name_of
from pipebus.core.errors import DecodeError
from pipebus.core.ids import short_job_id
from pipebus.eventlog.rows import StoredEvent
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
async def opened_log(args: argparse.Namespace) -> AsyncIterator[EventLog]:
    """The command's log, opened read-only, closed on exit.

    Only recording and ``pipebus db upgrade`` create or migrate a log: a command that
    reads refuses one that is missing, empty, someone else's or of an older schema,
    and leaves it exactly as it was.

    Raises:
        CommandError: If the log is a SQLite file that does not exist.
        EventLogError: If it cannot be opened or is not a current pipebus log.
    """
    location = location_of(args)
    require_existing(location)
    log = await EventLog.open(location, read_only=True)
    try:
        yield log
    finally:
        await log.close()


async def resolve_job(log: EventLog, session_id: str, given: str) -> str:
    """The id of the session's one job that ``given`` names.

    ``given`` is what the commands print for a job (:func:`~pipebus.core.ids.short_job_id`),
    or a prefix of its whole id.

    Raises:
        CommandError: If no job, or more than one, matches.
        EventLogError: If the log cannot be read.
    """
    found = await log.jobs_named(session_id, given, limit=2)
    if found and found[0] == given:
        return given
    if not found:
        raise CommandError(f"no job of session {session_id[:8]} matches {given!r}")
    if len(found) > 1:
        shown = " and ".join(short_job_id(job_id) for job_id in found)
        raise CommandError(
            f"{given!r} matches several jobs of the session ({shown}, ...); give more of the id"
        )
    return found[0]


class JobNames:
    """The names of a session's jobs, for showing beside their ids; learnt as events are read.

    A job's name is in its request: a request read along the way names its job; the
    requests of the other jobs met are read from the log (once per job).
    """

    def __init__(self, log: EventLog, session_id: str) -> None:
        self._log = log
        self._session_id = session_id
        self._asked: set[str] = set()
        self.names: dict[str, str] = {}

    def _note(self, event: StoredEvent) -> None:
        if event.type != "BusJobRequestMessage":
            return
        try:
            named = job_name_of(event.message)
        except DecodeError:
            return  # shown raw by the caller; the job goes without a name
        if named is not None:
            self.names.setdefault(*named)

    async def learn(self, read: Iterable[StoredEvent]) -> dict[str, str]:
        """Learn the names of the jobs of ``read``; returns every name known so far.

        Raises:
            EventLogError: If the log cannot be read.
        """
        read = list(read)
        for event in read:
            self._note(event)
        unknown = {e.job_id for e in read if e.job_id} - self.names.keys() - self._asked
        if unknown:
            self._asked |= unknown
            for event in await self._log.job_requests(self._session_id, sorted(unknown)):
                self._note(event)
        return self.names
