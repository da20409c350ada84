"""The event log's connections, and its reads of deliveries and snapshots.

:class:`LogQueries` is the base of :class:`~pipebus.eventlog.store.EventLog`: the
engine, the helpers that turn driver errors into ``EventLogError``, the fast SQLite
read path, and the queries of the ``deliveries`` and ``snapshots`` tables.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pipebus.core.errors import EventLogError
from pipebus.eventlog.engine import reason
from pipebus.eventlog.schema import deliveries, snapshots
from pipebus.eventlog.urls import describe
from pipebus.projections import SessionState
from pipebus.projections.snapshot import dump, load


class LogQueries:
    """An event log's engine and the queries that are not about sessions and events.

    Args:
        engine: The database engine (see :func:`pipebus.eventlog.engine.create_engine`).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @property
    def url(self) -> str:
        """The log's URL, password hidden."""
        return describe(self.engine.url.render_as_string(hide_password=True))

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

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

    # --- snapshots ------------------------------------------------------------------------

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
        """Store a snapshot of ``state`` (taken after ``state.events`` events)."""
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

    # --- helpers ----------------------------------------------------------------------------

    async def _fetch(self, query: Select[Any], doing: str) -> list[Sequence[Any]]:
        """The rows of a query; on SQLite read by the driver itself, as plain tuples.

        SQLAlchemy's rows and thread hops cost more than SQLite's reading (0.8 us a
        row, 0.5 ms a query), and a replay reads many rows, and often.
        """
        async with self._reading(doing) as connection:
            if self.dialect != "sqlite":
                return list((await connection.execute(query)).all())
            compiled = query.compile(
                dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True}
            )
            parameters = [compiled.params[name] for name in compiled.positiontup or ()]
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            try:
                return list(await driver.execute_fetchall(str(compiled), parameters))
            except sqlite3.Error as exc:
                raise EventLogError(f"cannot {doing} in {self.url}: {exc}") from exc

    @asynccontextmanager
    async def _reading(self, doing: str) -> AsyncIterator[AsyncConnection]:
        """A pooled connection whose driver errors become ``EventLogError``s."""
        try:
            async with self.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise EventLogError(f"cannot {doing} in {self.url}: {reason(exc)}") from exc
