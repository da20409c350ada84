"""``EventLog``: one event log (an SQLite file or a PostgreSQL database), read and written.

Writing a session's events goes through a :class:`~pipebus.eventlog.writer.SessionWriter`
(one per recording session, a connection of its own); everything else (sessions,
reading events, snapshots) is here. Readers use their own pooled connections; on
SQLite, WAL mode lets them read while the writer commits.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Select, and_, func, insert, or_, select, update

from pipebus._version import __version__
from pipebus.core.errors import EventLogError
from pipebus.eventlog.engine import create_engine, prepare_schema
from pipebus.eventlog.queries import LogQueries
from pipebus.eventlog.rows import SessionInfo, StoredEvent
from pipebus.eventlog.schema import events, sessions
from pipebus.eventlog.urls import default_location
from pipebus.eventlog.writer import LogWriter, SessionWriter
from pipebus.eventlog.writer_child import EVENT_COLUMNS
from pipebus.eventlog.writer_process import ProcessSqliteWriter


class EventLog(LogQueries):
    """An event log. Open it with :meth:`open` (or ``async with await EventLog.open()``).

    Args:
        engine: The database engine (see :func:`pipebus.eventlog.engine.create_engine`).
    """

    @classmethod
    async def open(cls, location: str | Path | None = None, *, upgrade: bool = True) -> EventLog:
        """Open (and create or upgrade) the log at a path or URL.

        ``location`` defaults to ``$PIPEBUS_EVENT_LOG``, else ``./pipebus.db``.

        Raises:
            EventLogError: If the log cannot be opened or is not a pipebus log.
            SchemaVersionError: If it was written by a newer pipebus.
        """
        engine = create_engine(location if location is not None else default_location())
        try:
            await prepare_schema(engine, upgrade=upgrade)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        """Close every connection of the log."""
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"EventLog({self.url!r})"

    # --- sessions ---------------------------------------------------------------------

    async def begin_session(
        self,
        session_id: str,
        *,
        runner: str,
        name: str | None = None,
        snapshot_every: int = 2000,
        durability: str = "batch",
    ) -> bool:
        """Create the session's row; returns False if it exists (another runner's).

        Raises:
            EventLogError: If the log cannot be written.
        """
        now = time.time_ns()
        async with self._reading("begin a session") as connection:
            exists = await connection.scalar(
                select(sessions.c.id).where(sessions.c.id == session_id)
            )
            if exists is not None:
                return False
            await connection.execute(
                insert(sessions).values(
                    id=session_id,
                    name=name,
                    runner=runner,
                    pid=os.getpid(),
                    host=socket.gethostname(),
                    version=__version__,
                    started_ns=now,
                    heartbeat_ns=now,
                    status="running",
                    last_seq=0,
                    errors=0,
                    lost_events=0,
                    snapshot_every=snapshot_every,
                    durability=durability,
                )
            )
            await connection.commit()
        return True

    async def end_session(self, session_id: str, status: str) -> None:
        """Mark a session finished with ``status`` (ended, cancelled, failed)."""
        now = time.time_ns()
        async with self._reading("end a session") as connection:
            await connection.execute(
                update(sessions)
                .where(sessions.c.id == session_id)
                .values(status=status, ended_ns=now, heartbeat_ns=now)
            )
            await connection.commit()

    def writer(
        self, session_id: str, *, shared: bool = False, durability: str = "batch"
    ) -> LogWriter:
        """A writer appending to ``session_id`` (exclusive unless ``shared``).

        Raises:
            EventLogError: For shared writing on SQLite (use PostgreSQL for that).
        """
        if self.dialect == "sqlite":
            if shared:
                raise EventLogError(
                    "several runners recording one session need a PostgreSQL log; "
                    "SQLite has one writer per file"
                )
            url = self.engine.url.render_as_string(hide_password=False)
            return ProcessSqliteWriter(url, session_id, durability=durability)
        return SessionWriter(self.engine, session_id, shared=shared, durability=durability)

    async def sessions(self) -> list[SessionInfo]:
        """Every session, newest first."""
        async with self._reading("list sessions") as connection:
            rows = await connection.execute(select(sessions).order_by(sessions.c.started_ns.desc()))
            return [SessionInfo.from_row(row) for row in rows]

    async def session(self, reference: str = "last") -> SessionInfo:
        """The session named by ``reference``: an id, a unique id prefix, or ``"last"``.

        Raises:
            EventLogError: If no session, or more than one, matches.
        """
        async with self._reading("find a session") as connection:
            query = select(sessions)
            if reference == "last":
                query = query.order_by(sessions.c.started_ns.desc()).limit(1)
            else:
                query = query.where(sessions.c.id.startswith(reference, autoescape=True)).limit(2)
            rows = (await connection.execute(query)).all()
        if not rows:
            what = "no session yet" if reference == "last" else f"no session matches {reference!r}"
            raise EventLogError(f"{what} in {self.url}")
        if len(rows) > 1:
            raise EventLogError(f"{reference!r} matches several sessions; give more of the id")
        return SessionInfo.from_row(rows[0])

    # --- events -------------------------------------------------------------------------

    async def events(
        self,
        session_id: str,
        start: int = 1,
        stop: int | None = None,
        *,
        types: Sequence[str] | None = None,
        worker: str | None = None,
        job_id: str | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[StoredEvent]:
        """Events with ``start <= seq < stop``, optionally filtered, in seq order.

        ``worker`` matches the source or the target. ``descending`` reads backwards from
        ``stop`` (with ``limit``, the last events before it).

        Raises:
            EventLogError: If the log cannot be read.
        """
        rows = await self.event_rows(
            session_id,
            start,
            stop,
            types=types,
            worker=worker,
            job_id=job_id,
            limit=limit,
            descending=descending,
        )
        found = [StoredEvent.from_row(row) for row in rows]
        return found[::-1] if descending else found

    async def event_rows(
        self,
        session_id: str,
        start: int = 1,
        stop: int | None = None,
        *,
        columns: Sequence[str] = EVENT_COLUMNS,
        types: Sequence[str] | None = None,
        worker: str | None = None,
        job_id: str | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[Sequence[Any]]:
        """The rows :meth:`events` reads, undecoded, with only the ``columns`` asked for.

        The fast path for reading many events (a replay folding them): positional rows
        (tuples on SQLite), in the order ``columns`` names them; see
        :data:`~pipebus.eventlog.rows.FOLD_COLUMNS` and its ``fold_envelopes``.

        Raises:
            ValueError: If a column is not one of the events table's.
            EventLogError: If the log cannot be read.
        """
        unknown = set(columns) - set(EVENT_COLUMNS)
        if unknown:
            raise ValueError(f"not columns of the events table: {', '.join(sorted(unknown))}")
        conditions = [events.c.session_id == session_id, events.c.seq >= start]
        if stop is not None:
            conditions.append(events.c.seq < stop)
        if types:
            conditions.append(events.c.type.in_(list(types)))
        if worker is not None:
            conditions.append(or_(events.c.source == worker, events.c.target == worker))
        if job_id is not None:
            conditions.append(events.c.job_id == job_id)
        order = events.c.seq.desc() if descending else events.c.seq
        query: Select[Any] = (
            select(*(events.c[name] for name in columns)).where(and_(*conditions)).order_by(order)
        )
        if limit is not None:
            query = query.limit(limit)
        return await self._fetch(query, "read events")

    async def event(self, session_id: str, seq: int) -> StoredEvent | None:
        """The event at ``seq``, or None."""
        found = await self.events(session_id, seq, seq + 1)
        return found[0] if found else None

    async def event_by_message_id(self, session_id: str, message_id: str) -> StoredEvent | None:
        """The event of message ``message_id`` in the session, or None."""
        query = select(events).where(
            events.c.session_id == session_id, events.c.message_id == message_id
        )
        async with self._reading("find an event") as connection:
            row = (await connection.execute(query)).first()
        return StoredEvent.from_row(row) if row is not None else None

    async def caused_by(self, session_id: str, message_id: str) -> list[StoredEvent]:
        """The events sent by handlers of ``message_id`` (its direct effects), in order."""
        query = (
            select(events)
            .where(events.c.session_id == session_id, events.c.causation_id == message_id)
            .order_by(events.c.seq)
        )
        async with self._reading("find effects") as connection:
            rows = (await connection.execute(query)).all()
        return [StoredEvent.from_row(row) for row in rows]

    async def count(self, session_id: str) -> int:
        """How many events the session holds (its last position)."""
        query = select(func.coalesce(func.max(events.c.seq), 0)).where(
            events.c.session_id == session_id
        )
        rows = await self._fetch(query, "count events")
        return int(rows[0][0] or 0) if rows else 0
