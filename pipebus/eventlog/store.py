"""``EventLog``: one event log (an SQLite file or a PostgreSQL database), read and written.

Writing a session's events goes through the :class:`~pipebus.eventlog.writer.Writer`
that :meth:`EventLog.writer` gives (one per recording session, a connection or a
process of its own); everything else is here: sessions, events read back, the
searches the inspector and the command line run over a whole session, deliveries
and snapshots. Readers use their own pooled connections; on SQLite, WAL mode lets
them read while the writer commits. Callers never see a table: they ask questions
and get rows (:class:`~pipebus.eventlog.rows.StoredEvent`, positions, ids).
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import time
from array import array
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pipebus._version import __version__
from pipebus.core.errors import EventLogError
from pipebus.core.ids import JOB_ID_TIME_DIGITS, job_id_wanted
from pipebus.eventlog import collector
from pipebus.eventlog.driver_errors import reason
from pipebus.eventlog.engine import create_engine, prepare_schema
from pipebus.eventlog.filters import EventFilter, TypeSet
from pipebus.eventlog.payload_search import explain, required_literals
from pipebus.eventlog.postgres import PostgresWriter
from pipebus.eventlog.rows import SessionInfo, StoredEvent
from pipebus.eventlog.schema import EVENT_COLUMNS, deliveries, events, sessions, snapshots
from pipebus.eventlog.sqlite import SqliteWriter, fetch_tuples
from pipebus.eventlog.urls import default_location, describe
from pipebus.eventlog.writer import Writer
from pipebus.projections import SessionState
from pipebus.projections.snapshot import dump, load


class EventLog:
    """An event log. Open it with :meth:`open` (or ``async with await EventLog.open()``).

    Args:
        engine: The database engine (see :func:`pipebus.eventlog.engine.create_engine`).
    """

    def __init__(self, engine: AsyncEngine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only
        self._holds_collector = False

    @classmethod
    async def open(cls, location: str | Path | None = None, *, read_only: bool = False) -> EventLog:
        """Open (and create or upgrade) the log at a path or URL.

        ``location`` defaults to ``$PIPEBUS_EVENT_LOG``, else ``./pipebus.db``. With
        ``read_only`` (commands that only read) nothing is ever written: a log that is
        missing, empty or of an older schema is refused, never created or upgraded.

        Raises:
            EventLogError: If the log cannot be opened or is not a pipebus log (or,
                ``read_only``, is not one yet).
            SchemaVersionError: If it was written by a newer pipebus (or, ``read_only``,
                needs ``pipebus db upgrade``).
        """
        location = location if location is not None else default_location()
        engine = create_engine(location, read_only=read_only)
        try:
            await prepare_schema(engine, upgrade=not read_only)
        except BaseException:
            await engine.dispose()
            raise
        log = cls(engine, read_only=read_only)
        collector.hold()  # while a log is open, its events come and go in bulk
        log._holds_collector = True
        return log

    async def close(self) -> None:
        """Close every connection of the log."""
        if self._holds_collector:
            self._holds_collector = False
            collector.release()
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

    @property
    def url(self) -> str:
        """The log's URL, password hidden."""
        return describe(self.engine.url.render_as_string(hide_password=True))

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

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
        # One statement, not a look then an insert: runners joining a new session at
        # once would all see it missing, and all but one would fail on its key.
        dialect_insert = postgresql_insert if self.dialect == "postgresql" else sqlite_insert
        create = (
            dialect_insert(sessions)
            .values(
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
            .on_conflict_do_nothing(index_elements=[sessions.c.id])
        )
        async with self._reading("begin a session") as connection:
            created = (await connection.execute(create)).rowcount == 1
            await connection.commit()
        return created

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

    def writer(self, session_id: str, *, shared: bool = False, durability: str = "batch") -> Writer:
        """A writer appending to ``session_id`` (exclusive unless ``shared``).

        Raises:
            EventLogError: For shared writing on SQLite (use PostgreSQL for that), or a
                log opened read-only.
        """
        self._refuse_if_read_only("record a session")
        if self.dialect == "sqlite":
            if shared:
                raise EventLogError(
                    "several runners recording one session need a PostgreSQL log; "
                    "SQLite has one writer per file"
                )
            url = self.engine.url.render_as_string(hide_password=False)
            return SqliteWriter(url, session_id, durability=durability)
        return PostgresWriter(self.engine, session_id, shared=shared, durability=durability)

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
        trace_id: str | None = None,
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
            trace_id=trace_id,
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
        trace_id: str | None = None,
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
        if trace_id is not None:
            conditions.append(events.c.trace_id == trace_id)
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

    async def events_at(self, session_id: str, positions: Iterable[int]) -> list[StoredEvent]:
        """The events at ``positions`` (any, not only a range), in seq order.

        Raises:
            EventLogError: If the log cannot be read.
        """
        query = select(*events.c).where(
            events.c.session_id == session_id, events.c.seq.in_(list(positions))
        )
        rows = await self._fetch(query, "read events")
        return sorted(map(StoredEvent.from_row, rows), key=lambda event: event.seq)

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

    async def stored(self, session_ids: Sequence[str]) -> dict[str, int]:
        """How many events each session holds: rows stored, not its highest step.

        They differ when steps are missing (events the log could not write, or a
        session whose recording process died). Sessions without events are left out.

        Raises:
            EventLogError: If the log cannot be read.
        """
        if not session_ids:
            return {}
        c = events.c
        query = (
            select(c.session_id, func.count())
            .where(c.session_id.in_(list(session_ids)))
            .group_by(c.session_id)
        )
        return {str(row[0]): int(row[1]) for row in await self._fetch(query, "count events")}

    async def missing_steps(self, session_id: str, start: int, stop: int) -> list[tuple[int, int]]:
        """The runs of steps with ``start <= step < stop`` that the log does not hold.

        Each run is ``(first, last)``, both included, in order; none if every step is
        there (one count tells, without looking for where).

        Raises:
            EventLogError: If the log cannot be read.
        """
        if stop <= start:
            return []
        c = events.c
        within = (c.session_id == session_id, c.seq >= start, c.seq < stop)
        counts: list[ColumnElement[Any]] = [func.count(), func.min(c.seq), func.max(c.seq)]
        counted = await self._fetch(select(*counts).where(*within), "count events")
        held, lowest, highest = counted[0] if counted else (0, None, None)
        if held == stop - start:
            return []
        if not held or lowest is None or highest is None:
            return [(start, stop - 1)]
        steps = select(c.seq.label("seq"), func.lead(c.seq).over(order_by=c.seq).label("next"))
        pairs = steps.where(*within).subquery()
        holes = await self._fetch(
            select(pairs.c.seq, pairs.c.next)
            .where(pairs.c.next > pairs.c.seq + 1)
            .order_by(pairs.c.seq),
            "find missing steps",
        )
        runs = [(start, int(lowest) - 1)] if lowest > start else []
        runs += [(int(seq) + 1, int(after) - 1) for seq, after in holes]
        if highest < stop - 1:
            runs.append((int(highest) + 1, stop - 1))
        return runs

    # --- searches over a whole session (the inspector, the command line) ----------------

    async def positions(
        self,
        session_id: str,
        where: EventFilter | None = None,
        *,
        first_of_each_job: bool = False,
        whole_jobs: Collection[str] = (),
        start: int | None = None,
        stop: int | None = None,
    ) -> array[int]:
        """The positions of the events ``where`` selects (all, without it), in order.

        With ``first_of_each_job``, of a job's events only its first is selected (but
        every event of the ``whole_jobs``): a timeline with each job folded into a row.
        ``start`` and ``stop`` limit the search to ``start <= seq < stop`` (a slow search
        done a part at a time, to show its progress). The search runs in the database;
        the answer is a compact array, as it may hold most of a session's positions.

        Raises:
            EventLogError: If the log cannot be read (or a pattern is not a regex).
        """
        c = events.c
        terms: list[ColumnElement[bool]] = []
        if where is not None:
            terms.append(_condition(where, self.dialect))
        if first_of_each_job:
            firsts = (
                select(func.min(c.seq))
                .where(c.session_id == session_id, c.job_id.is_not(None))
                .group_by(c.job_id)
            )
            whole = sorted(whole_jobs)
            terms.append(
                or_(
                    c.job_id.is_(None),
                    c.job_id.in_(whole) if whole else false(),
                    c.seq.in_(firsts.scalar_subquery()),
                )
            )
        if start is not None:
            terms.append(c.seq >= start)
        if stop is not None:
            terms.append(c.seq < stop)
        query: Select[Any] = select(c.seq).where(c.session_id == session_id, *terms).order_by(c.seq)
        found = await self._fetch(query, "search events")
        return array("q", (row[0] for row in found))

    async def next_match(
        self,
        session_id: str,
        after: int,
        any_of: Sequence[EventFilter],
        *,
        backwards: bool = False,
        within: EventFilter | None = None,
    ) -> int | None:
        """The first position after ``after`` (before it, ``backwards``) that any filter selects.

        ``within`` limits the search to the events it selects too. None if no event
        matches (or no filter is given).

        Raises:
            EventLogError: If the log cannot be read (or a pattern is not a regex).
        """
        if not any_of:
            return None
        c = events.c
        dialect = self.dialect
        condition = or_(*(_condition(each, dialect) for each in any_of))
        if within is not None:
            condition = and_(condition, _condition(within, dialect))
        beyond = c.seq < after if backwards else c.seq > after
        pick = func.max(c.seq) if backwards else func.min(c.seq)
        found = await self._fetch(
            select(pick).where(c.session_id == session_id, beyond, condition), "search events"
        )
        return int(found[0][0]) if found and found[0][0] is not None else None

    async def positions_caused_by(self, session_id: str, message_ids: Sequence[str]) -> list[int]:
        """The positions of the events that handlers of ``message_ids`` sent, in order.

        Raises:
            EventLogError: If the log cannot be read.
        """
        return await self._positions_by_index(session_id, events.c.causation_id, message_ids)

    async def positions_of_messages(self, session_id: str, message_ids: Sequence[str]) -> list[int]:
        """The positions of the messages ``message_ids``, in order (by their unique index).

        Raises:
            EventLogError: If the log cannot be read.
        """
        return await self._positions_by_index(session_id, events.c.message_id, message_ids)

    async def positions_of_jobs(self, session_id: str, job_ids: Sequence[str]) -> list[int]:
        """The positions of the events of the jobs ``job_ids``, in order.

        Raises:
            EventLogError: If the log cannot be read.
        """
        return await self._positions_by_index(session_id, events.c.job_id, job_ids)

    async def job_events(self, session_id: str, start: int, stop: int) -> list[StoredEvent]:
        """The events with ``start <= seq < stop`` that belong to a job, in order.

        Raises:
            EventLogError: If the log cannot be read.
        """
        c = events.c
        query = select(*c).where(
            c.session_id == session_id, c.seq >= start, c.seq < stop, c.job_id.is_not(None)
        )
        rows = await self._fetch(query, "read job events")
        return sorted(map(StoredEvent.from_row, rows), key=lambda event: event.seq)

    async def jobs_named(self, session_id: str, given: str, *, limit: int = 2) -> list[str]:
        """Ids of the session's jobs that ``given`` names, the exact match then the shortest.

        ``given`` is a prefix of a job id or of its shown part
        (:func:`~pipebus.core.ids.job_id_matches`). At most ``limit`` of them: two tell
        whether it names one job.

        Raises:
            EventLogError: If the log cannot be read.
        """
        c = events.c
        query = (
            select(c.job_id)
            .where(
                c.session_id == session_id,
                c.job_id.is_not(None),
                _job_named(c.job_id, given, self.dialect),
            )
            .group_by(c.job_id)
            .order_by((c.job_id != given), func.length(c.job_id), c.job_id)
            .limit(limit)
        )
        async with self._reading("find jobs") as connection:
            return [str(job_id) for job_id in (await connection.execute(query)).scalars()]

    async def job_requests(self, session_id: str, job_ids: Sequence[str]) -> list[StoredEvent]:
        """The job requests of the jobs ``job_ids`` (they carry the jobs' names), in order.

        Raises:
            EventLogError: If the log cannot be read.
        """
        if not job_ids:
            return []
        c = events.c
        query = select(*c).where(
            c.session_id == session_id,
            c.job_id.in_(sorted(set(job_ids))),
            c.type == "BusJobRequestMessage",
        )
        rows = await self._fetch(query, "read job requests")
        return sorted(map(StoredEvent.from_row, rows), key=lambda event: event.seq)

    async def _positions_by_index(
        self, session_id: str, column: ColumnElement[Any], values: Sequence[str]
    ) -> list[int]:
        """The positions whose ``column`` (job or causation id: partial indexes) is a value.

        Positions only, which the index covers: asked for whole rows, SQLite would walk
        the session's events instead. One value is an equality with ``IS NOT NULL``,
        which lets SQLite see the partial index applies; several are an ``IN`` alone
        (with ``IS NOT NULL`` too, SQLite reads the index as a range).
        """
        if not values:
            return []
        if len(values) == 1:
            conditions = [column.is_not(None), column == values[0]]
        else:
            conditions = [column.in_(list(values))]
        query = select(events.c.seq).where(events.c.session_id == session_id, *conditions)
        found = await self._fetch(query, "search events")
        return sorted(row[0] for row in found)

    # --- deliveries ---------------------------------------------------------------------

    async def deliveries(
        self, session_id: str, message_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Recorded deliveries (failures, or all with ``record_deliveries="all"``)."""
        query = select(deliveries).where(deliveries.c.session_id == session_id)
        if message_id is not None:
            query = query.where(deliveries.c.message_id == message_id)
        async with self._reading("read deliveries") as connection:
            rows = (await connection.execute(query.order_by(deliveries.c.id))).all()
        return [dict(row._mapping) for row in rows]

    async def delivery_timings(self, session_id: str) -> list[Sequence[Any]]:
        """The session's recorded deliveries as rows, in the order they were recorded.

        Each row: ``(end_ns, message_id, subscriber, start_ns, error_type, error)``.
        """
        columns = deliveries.c
        query: Select[Any] = (
            select(
                columns.end_ns,
                columns.message_id,
                columns.subscriber,
                columns.start_ns,
                columns.error_type,
                columns.error,
            )
            .where(columns.session_id == session_id)
            .order_by(columns.id)
        )
        return await self._fetch(query, "read deliveries")

    # --- snapshots ----------------------------------------------------------------------

    async def snapshot_before(
        self, session_id: str, seq: int, *, after: int = -1
    ) -> SessionState | None:
        """The latest snapshot taken at or before ``seq`` (and after ``after``), or None.

        ``after`` spares reading one the caller has: a replay holding the state at
        step 4000 asks only for snapshots taken after it.

        Raises:
            EventLogError: If the log cannot be read.
            DecodeError: If the snapshot is not one this pipebus reads.
        """
        query = (
            select(snapshots.c.state)
            .where(
                snapshots.c.session_id == session_id,
                snapshots.c.seq <= seq,
                snapshots.c.seq > after,
            )
            .order_by(snapshots.c.seq.desc())
            .limit(1)
        )
        rows = await self._fetch(query, "read a snapshot")
        return load(rows[0][0]) if rows else None

    async def save_snapshot(self, session_id: str, state: SessionState) -> None:
        """Store a snapshot of ``state`` (taken after ``state.events`` events).

        Raises:
            EventLogError: If the log cannot be written (or was opened read-only).
        """
        self._refuse_if_read_only("store a snapshot")
        async with self._reading("save a snapshot") as connection:
            exists = await connection.scalar(
                select(snapshots.c.seq).where(
                    snapshots.c.session_id == session_id, snapshots.c.seq == state.events
                )
            )
            if exists is None:
                await connection.execute(
                    insert(snapshots).values(
                        session_id=session_id,
                        seq=state.events,
                        created_ns=time.time_ns(),
                        state=dump(state),
                    )
                )
                await connection.commit()

    async def snapshot_positions(self, session_id: str) -> list[int]:
        """The positions at which the session has snapshots."""
        query = (
            select(snapshots.c.seq)
            .where(snapshots.c.session_id == session_id)
            .order_by(snapshots.c.seq)
        )
        async with self._reading("list snapshots") as connection:
            return [int(seq) for seq in (await connection.execute(query)).scalars()]

    # --- reading ------------------------------------------------------------------------

    def _refuse_if_read_only(self, doing: str) -> None:
        """Refuse a write at once on a read-only log (its database would refuse it too)."""
        if self.read_only:
            raise EventLogError(f"cannot {doing} in {self.url}: the log was opened read-only")

    async def _fetch(self, query: Select[Any], doing: str) -> list[Sequence[Any]]:
        """The rows of a query; on SQLite read by the driver itself, as plain tuples."""
        async with self._reading(doing) as connection:
            if self.dialect == "sqlite":
                return await fetch_tuples(connection, query)
            return list((await connection.execute(query)).all())

    @asynccontextmanager
    async def _reading(self, doing: str) -> AsyncIterator[AsyncConnection]:
        """A pooled connection whose driver errors become ``EventLogError``s."""
        try:
            async with self.engine.connect() as connection:
                yield connection
        except (SQLAlchemyError, sqlite3.Error) as exc:
            why = explain(exc) or reason(exc)
            raise EventLogError(f"cannot {doing} in {self.url}: {why}") from exc


# --- filters as SQL -----------------------------------------------------------------------

_SPECIAL = re.compile(r"[.^$*+?{}\[\]\\|()]")


def _condition(selected: EventFilter, dialect: str) -> ColumnElement[bool]:
    """The SQL condition on the events table of a filter, for ``dialect``."""
    c = events.c
    terms: list[ColumnElement[bool]] = []
    if selected.type_contains:
        lowered = func.lower(c.type)
        terms.append(
            or_(*(lowered.contains(t.lower(), autoescape=True) for t in selected.type_contains))
        )
    if selected.type_sets:
        terms.append(or_(*(_in_type_set(each) for each in selected.type_sets)))
    target = func.coalesce(c.target, "")
    if selected.sources:
        terms.append(c.source.in_(selected.sources))
    if selected.targets:
        terms.append(target.in_(selected.targets))
    if selected.workers:
        terms.append(or_(c.source.in_(selected.workers), target.in_(selected.workers)))
    if selected.job_prefixes:
        job = func.coalesce(c.job_id, "")
        terms.append(or_(*(_job_named(job, j, dialect) for j in selected.job_prefixes)))
    if selected.payload_patterns:
        terms.append(or_(*(_payload_search(p, dialect) for p in selected.payload_patterns)))
    held = and_(true(), *terms)
    return not_(held) if selected.invert else held


_HEX = re.compile(r"[0-9a-f]+")


def _job_named(job: ColumnElement[Any], given: str, dialect: str) -> ColumnElement[bool]:
    """SQL twin of :func:`~pipebus.core.ids.job_id_matches`: a prefix of the id or its tail."""
    wanted = job_id_wanted(given)
    prefix = job.startswith(wanted, autoescape=True)
    if not _HEX.fullmatch(wanted):
        return prefix  # the tail of a generated id is hex: nothing else starts it
    generated = (
        job.regexp_match("^[0-9a-f]{32}$")
        if dialect == "postgresql"
        else job.op("GLOB")("[0-9a-f]" * 32)
    )
    tail = func.substr(job, JOB_ID_TIME_DIGITS + 1, len(wanted)) == wanted
    return or_(prefix, and_(generated, tail))


def _in_type_set(types: TypeSet) -> ColumnElement[bool]:
    names = sorted(types.names)
    return events.c.type.not_in(names) if types.complement else events.c.type.in_(names)


def _payload_search(pattern: str, dialect: str) -> ColumnElement[bool]:
    """A regex search of the payload; a pattern without special characters is a substring.

    The substring test (``instr`` / ``strpos``) runs in the database's own code; a
    regex on SQLite calls Python once per row, so the text every match must hold
    (:func:`~pipebus.eventlog.payload_search.required_literals`) is looked for first.
    """
    find = func.strpos if dialect == "postgresql" else func.instr
    if not _SPECIAL.search(pattern):
        return find(events.c.payload, pattern) > 0
    # The text every match holds rules rows out in the database's own code first.
    needed = [find(events.c.payload, text) > 0 for text in required_literals(pattern)[:3]]
    return and_(*needed, events.c.payload.regexp_match(pattern))
