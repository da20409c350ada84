"""The PostgreSQL event log: its engine (a pool, a schema of its own) and its writer.

A PostgreSQL log is the one several runners share. Each recording runner appends
through a :class:`PostgresWriter`, a connection of its own, in one of two ways:

- **exclusive**: this runner is the session's only writer. The recorder numbers events
  as the bus stamps them, so positions equal the bus's send order; a batch commits in
  one transaction.
- **shared**: several runners record one session. Each batch locks the session row
  (``SELECT ... FOR UPDATE``), drops the messages already recorded by another runner
  (same message id), numbers the rest after the session's last position and commits.
  The lock makes commit order equal position order, so a reader tailing the log by
  position never skips a row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pipebus.core.errors import EventLogError
from pipebus.eventlog.driver_errors import reason
from pipebus.eventlog.rows import ERROR_TYPES
from pipebus.eventlog.schema import EVENT_COLUMNS, deliveries, events, sessions, snapshots
from pipebus.eventlog.urls import describe
from pipebus.eventlog.writer import Batch, DeliveryRecord
from pipebus.projections.snapshot import dump

logger = logging.getLogger("pipebus.eventlog")

_SEQ = EVENT_COLUMNS.index("seq")
_MESSAGE_ID = EVENT_COLUMNS.index("message_id")
_TYPE = EVENT_COLUMNS.index("type")


def create_engine(url: str) -> AsyncEngine:
    """An async engine for a PostgreSQL log's URL (a pool; the log's schema, if it names one).

    Raises:
        EventLogError: If the schema's name is not letters, digits and underscores.
        ModuleNotFoundError: If asyncpg is not installed.
    """
    url, schema = split_schema(url)
    if schema is not None and not schema.replace("_", "").isalnum():
        raise EventLogError(f"schema name {schema!r} must be letters, digits and underscores")
    settings = {"search_path": schema} if schema else {}
    engine = create_async_engine(
        url,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        connect_args={"server_settings": settings} if settings else {},
    )
    if schema:
        event.listen(engine.sync_engine, "connect", _create_schema(schema))
    return engine


def split_schema(url: str) -> tuple[str, str | None]:
    """Take pipebus's ``schema=`` query parameter off a PostgreSQL URL.

    ``postgresql://host/db?schema=logs`` keeps the log's tables in schema ``logs``
    (created if missing), so several logs can share one database.
    """
    if "?" not in url or not url.startswith("postgresql"):
        return url, None
    base, query = url.split("?", 1)
    kept, schema = [], None
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "schema" and value:
            schema = value
        elif part:
            kept.append(part)
    return (f"{base}?{'&'.join(kept)}" if kept else base), schema


def _create_schema(schema: str) -> Any:
    """A connect hook making sure the log's schema exists (before search_path needs it)."""

    def create(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        cursor.close()

    return create


class PostgresWriter:
    """Appends batches of one session to PostgreSQL through an async connection of its own.

    Args:
        engine: The log's engine.
        session_id: The session to append to.
        shared: Append in shared mode (see the module docstring).
        durability: ``"batch"``, ``"full"`` or ``"sync"``; ``"full"`` and ``"sync"``
            make each commit wait for PostgreSQL's WAL flush.
    """

    in_flight = 1  # one connection: a batch waits for the one before it

    def __init__(
        self, engine: AsyncEngine, session_id: str, *, shared: bool, durability: str
    ) -> None:
        self._engine = engine
        self._where = describe(engine.url.render_as_string(hide_password=True))
        self._session_id = session_id
        self._shared = shared
        self._durability = durability
        self._connection: AsyncConnection | None = None

    async def append(self, batch: Batch) -> int:
        """Append a batch in one transaction; returns its last position (-1: no events).

        Raises:
            EventLogError: When the database refuses or is unreachable (the recorder
                counts the batch as lost; the next batch opens a fresh connection).
        """
        try:
            return await self._append(batch)
        except Exception as exc:
            await self._discard_connection()
            raise EventLogError(f"cannot append to {self._where}: {reason(exc)}") from exc

    async def mark_lost(self, lost: int, first_lost_seq: int | None) -> None:
        """Record on the session how many events were lost and where the loss began.

        Raises:
            EventLogError: When the database still refuses or is unreachable.
        """
        try:
            connection = await self._connect()
            async with connection.begin():
                await connection.execute(
                    update(sessions)
                    .where(sessions.c.id == self._session_id)
                    .values(lost_events=lost, first_lost_seq=first_lost_seq)
                )
        except Exception as exc:
            await self._discard_connection()
            raise EventLogError(f"cannot mark a loss in {self._where}: {reason(exc)}") from exc

    async def close(self) -> None:
        """Close the writer's connection."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _connect(self) -> AsyncConnection:
        if self._connection is None or self._connection.closed:
            connection = await self._engine.connect()
            commit = "off" if self._durability == "batch" else "on"
            await connection.exec_driver_sql(f"SET synchronous_commit = {commit}")
            await connection.commit()
            self._connection = connection
        return self._connection

    async def _discard_connection(self) -> None:
        """Drop a connection that failed, so the next batch opens a fresh one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
            except Exception:  # the connection is already broken; nothing to save
                logger.debug("closing a failed writer connection raised", exc_info=True)

    async def _append(self, batch: Batch) -> int:
        connection = await self._connect()
        async with connection.begin():
            last: int | None = None
            if self._shared:
                last = await self._append_shared(connection, batch.rows)
            elif batch.rows:
                await self._insert(connection, batch.rows)
                last = batch.rows[-1][_SEQ]
            errors = sum(1 for row in batch.rows if row[_TYPE] in ERROR_TYPES)
            values: dict[str, Any] = {"heartbeat_ns": time.time_ns()}
            if last is not None:
                values["last_seq"] = last
            if errors:
                values["errors"] = sessions.c.errors + errors
            await connection.execute(
                update(sessions).where(sessions.c.id == self._session_id).values(**values)
            )
            if batch.deliveries:
                await connection.execute(
                    insert(deliveries), [self._delivery(d) for d in batch.deliveries]
                )
            for seq, state in batch.snapshots:
                await connection.execute(
                    insert(snapshots).values(
                        session_id=self._session_id,
                        seq=seq,
                        created_ns=time.time_ns(),
                        state=dump(state),
                    )
                )
        return int(last) if last is not None else -1

    async def _append_shared(
        self, connection: AsyncConnection, batch: Sequence[tuple[Any, ...]]
    ) -> int:
        locked = (
            select(sessions.c.last_seq).where(sessions.c.id == self._session_id).with_for_update()
        )
        last = int(await connection.scalar(locked) or 0)
        ids = [row[_MESSAGE_ID] for row in batch]
        known = set(
            (
                await connection.execute(
                    select(events.c.message_id).where(
                        events.c.session_id == self._session_id, events.c.message_id.in_(ids)
                    )
                )
            ).scalars()
        )
        rows = []
        for row in batch:
            if row[_MESSAGE_ID] in known:
                continue
            known.add(row[_MESSAGE_ID])
            last += 1
            rows.append((row[0], last, *row[2:]))
        await self._insert(connection, rows)
        return last

    async def _insert(self, connection: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        await connection.execute(
            insert(events), [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows]
        )

    def _delivery(self, record: DeliveryRecord) -> dict[str, Any]:
        return {
            "session_id": self._session_id,
            "message_id": record.message_id,
            "subscriber": record.subscriber,
            "span_id": f"{record.span_id:016x}",
            "start_ns": record.start_ns,
            "end_ns": record.end_ns,
            "error_type": record.error_type,
            "error": record.error,
        }
