"""Writing a session's events: the batch, the writer interface, and the PostgreSQL writer.

SQLite logs are written by a process of their own (:mod:`pipebus.eventlog.writer_process`).
Two ways to append:

- **exclusive** (the default, and always on SQLite): this runner is the session's only
  writer. The recorder numbers events as the bus stamps them, so positions equal the
  bus's send order; a batch commits in one transaction.
- **shared** (PostgreSQL): several runners record one session. Each batch locks the
  session row (``SELECT ... FOR UPDATE``), drops the messages already recorded by
  another runner (same message id), numbers the rest after the session's last
  position and commits. The lock makes commit order equal position order, so a reader
  tailing the log by position never skips a row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pipebus.bus.context import ActiveDelivery
from pipebus.eventlog.schema import deliveries, events, sessions, snapshots
from pipebus.eventlog.writer_child import ERROR_TYPES, EVENT_COLUMNS
from pipebus.projections import SessionState
from pipebus.projections.snapshot import dump

logger = logging.getLogger("pipebus.eventlog")

_SEQ = EVENT_COLUMNS.index("seq")
_MESSAGE_ID = EVENT_COLUMNS.index("message_id")
_TYPE = EVENT_COLUMNS.index("type")


@dataclass(slots=True)
class DeliveryRecord:
    """A finished delivery the recorder keeps (a failure, or any, if asked to keep all)."""

    message_id: str
    subscriber: str
    span_id: int
    start_ns: int
    end_ns: int
    error_type: str | None
    error: str | None

    @classmethod
    def of(
        cls, delivery: ActiveDelivery, end_ns: int, error: BaseException | None
    ) -> DeliveryRecord:
        """The record of one delivery."""
        return cls(
            delivery.envelope.message_id,
            delivery.subscriber,
            delivery.span_id,
            delivery.start_ns,
            end_ns,
            type(error).__name__ if error is not None else None,
            str(error) if error is not None else None,
        )


@dataclass(slots=True)
class Batch:
    """What one transaction appends.

    Attributes:
        rows: Event rows (see :data:`~pipebus.eventlog.rows.EVENT_COLUMNS`); in shared
            mode their positions are assigned here, under the session's lock.
        deliveries: Delivery records.
        snapshots: States to store, with the position each was taken after.
    """

    rows: list[tuple[Any, ...]]
    deliveries: list[DeliveryRecord]
    snapshots: list[tuple[int, SessionState]]


class LogWriter(Protocol):
    """Appends one session's batches: exclusive (SQLite, or PostgreSQL) or shared.

    Guarantee: a batch is one transaction; it is committed whole or raises (the
    recorder then counts it as lost). Batches handed over while others are still
    being committed (up to ``in_flight`` of them) are committed in the order given.
    """

    in_flight: int
    """How many batches the recorder may hand over before the first is committed."""

    async def append(self, batch: Batch) -> int:
        """Append a batch; returns its last position (-1: no events)."""

    async def mark_lost(self, lost: int, first_lost_seq: int | None) -> None:
        """Record the loss on the session."""

    async def discard_connection(self) -> None:
        """Drop a connection that failed."""

    async def close(self) -> None:
        """Release the connection."""


class SessionWriter:
    """Appends batches of one session to PostgreSQL through an async connection of its own.

    Args:
        engine: The log's engine.
        session_id: The session to append to.
        shared: Append in shared mode (see the module docstring).
        durability: ``"batch"``, ``"full"`` or ``"sync"``; ``"full"`` makes SQLite sync
            to disk at every commit and PostgreSQL wait for its WAL flush.
    """

    in_flight = 1  # one connection: a batch waits for the one before it

    def __init__(
        self, engine: AsyncEngine, session_id: str, *, shared: bool, durability: str
    ) -> None:
        self._engine = engine
        self._session_id = session_id
        self._shared = shared
        self._durability = durability
        self._connection: AsyncConnection | None = None
        self._sqlite = engine.dialect.name == "sqlite"

    async def _connect(self) -> AsyncConnection:
        if self._connection is None or self._connection.closed:
            connection = await self._engine.connect()
            if self._sqlite:
                sync = "FULL" if self._durability == "full" else "NORMAL"
                await connection.exec_driver_sql(f"PRAGMA synchronous={sync}")
            else:
                commit = "off" if self._durability == "batch" else "on"
                await connection.exec_driver_sql(f"SET synchronous_commit = {commit}")
            await connection.commit()
            self._connection = connection
        return self._connection

    async def close(self) -> None:
        """Close the writer's connection."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def discard_connection(self) -> None:
        """Drop a connection that failed, so the next batch opens a fresh one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
            except Exception:  # the connection is already broken; nothing to save
                logger.debug("closing a failed writer connection raised", exc_info=True)

    async def append(self, batch: Batch) -> int:
        """Append a batch in one transaction; returns its last position (-1: no events).

        Raises:
            SQLAlchemyError: When the database refuses or is unreachable (the caller
                counts the batch as lost).
        """
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

    async def mark_lost(self, lost: int, first_lost_seq: int | None) -> None:
        """Record on the session how many events were lost and where the loss began."""
        connection = await self._connect()
        async with connection.begin():
            await connection.execute(
                update(sessions)
                .where(sessions.c.id == self._session_id)
                .values(lost_events=lost, first_lost_seq=first_lost_seq)
            )

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
