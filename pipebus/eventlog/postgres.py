"""The PostgreSQL event log: its engine (a pool, a schema of its own) and its writer.

A PostgreSQL log is the one several runners share. Each recording runner appends
through a :class:`PostgresWriter`, a connection of its own. Every batch is one
transaction that first locks the session row (``SELECT ... FOR UPDATE``): positions are
given under that lock, so commit order is position order and a reader tailing the log
by position never skips a row; and every transaction writing events takes the same
lock first, so runners appending at once wait in turn instead of deadlocking. Then:

- **alone**: as long as every event of the session is this runner's (the session's
  last position is the one this writer committed last), the events keep the
  positions the recorder gave them, the bus's send order, and snapshots are stored;
- **shared**: once another runner has appended to the session (or from the start, for
  a runner that joins an existing session), the batch drops the messages already
  recorded (same message id), numbers the rest after the session's last position,
  and stores no snapshot (the recorder takes them at its own positions, not the
  merged session's).

So the runner that creates a session and the runners that join it at the same moment
need no agreement beforehand: the first other runner's commit turns everybody shared.
Either way the batch's events go in by binary ``COPY`` inside its transaction. ``COPY``
skips no conflict, so shared mode drops the known messages before it, under the lock.
A loss is added to the session's count (several runners may each lose events).

Opening a new log from several processes at once is safe too: creating the log's
PostgreSQL schema and running the migrations each happen under an advisory lock.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    String,
    Table,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pipebus.core.errors import EventLogError
from pipebus.eventlog.driver_errors import reason
from pipebus.eventlog.rows import ERROR_TYPES, UNENCODABLE
from pipebus.eventlog.schema import EVENT_COLUMNS, deliveries, events, sessions, snapshots
from pipebus.eventlog.urls import describe
from pipebus.eventlog.writer import Batch, DeliveryRecord
from pipebus.projections.snapshot import dump

logger = logging.getLogger("pipebus.eventlog")

_SEQ = EVENT_COLUMNS.index("seq")
_MESSAGE_ID = EVENT_COLUMNS.index("message_id")
_TYPE = EVENT_COLUMNS.index("type")


def create_engine(url: str, *, read_only: bool = False) -> AsyncEngine:
    """An async engine for a PostgreSQL log's URL (a pool; the log's schema, if it names one).

    With ``read_only`` every transaction is read-only (the server refuses writes) and a
    missing schema is not created.

    Raises:
        EventLogError: If the schema's name is not letters, digits and underscores.
        ModuleNotFoundError: If asyncpg is not installed.
    """
    url, schema = split_schema(url)
    if schema is not None and not schema.replace("_", "").isalnum():
        raise EventLogError(f"schema name {schema!r} must be letters, digits and underscores")
    settings = {"search_path": schema} if schema else {}
    if read_only:
        settings["default_transaction_read_only"] = "on"
    engine = create_async_engine(
        url,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        connect_args={"server_settings": settings} if settings else {},
    )
    if schema and not read_only:
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
    """A connect hook making sure the log's schema exists (before search_path needs it).

    Processes opening a new log at once would race in ``CREATE SCHEMA IF NOT EXISTS``
    (all see it missing; all but one then fail on ``pg_namespace``'s unique index), so
    a missing schema is created under an advisory lock named for it, and committed.
    """
    # The name was checked by create_engine: letters, digits and underscores only.
    exists = f"SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'"
    lock = f"SELECT pg_advisory_xact_lock(hashtextextended('pipebus:schema:{schema}', 0))"

    def create(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(exists)
            if cursor.fetchone() is None:
                cursor.execute(lock)
                cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        finally:
            cursor.close()
        dbapi_connection.commit()  # the schema is there for every connection from now on

    return create


async def lock_migrations(connection: AsyncConnection) -> None:
    """Hold, until ``connection``'s transaction ends, the lock on migrating the log's schema.

    Processes opening a new log at once would each create its tables (and fail, or
    deadlock on the catalog); under this lock the first migrates, the others then
    find the schema current.
    """
    key = "hashtextextended('pipebus:migrations:' || current_schema(), 0)"
    await connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({key})")


class PostgresWriter:
    """Appends batches of one session to PostgreSQL through an async connection of its own.

    A batch is one transaction on that connection. Its events and delivery records go
    in by binary ``COPY`` on the driver's (asyncpg's) connection under it, inside the
    transaction that the session's statements opened; the session row's lock, the
    session's update, the snapshots and, in shared mode, the duplicate check run beside
    them. ``COPY`` names the tables unqualified, as SQLAlchemy does: the connection's
    ``search_path`` is the log's schema.

    Args:
        engine: The log's engine.
        session_id: The session to append to (its row must exist).
        shared: Append in shared mode from the first batch (a runner joining a session
            another created); otherwise the writer appends alone until another
            runner's events show up in the session (see the module docstring).
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
        self._alone = not shared
        self._durability = durability
        self._connection: AsyncConnection | None = None
        self._driver: Any = None  # the asyncpg connection under self._connection
        self._committed_last = 0  # the session's last position after this writer's last commit
        self._seen_last = 0  # the session's last position when this writer last looked
        self._first_lost: int | None = None  # where this writer's first lost batch would be
        self._marked_lost = 0  # of this writer's lost events, those added to the session

    async def append(self, batch: Batch) -> int:
        """Append a batch in one transaction; returns its last position (-1: no events).

        A value PostgreSQL cannot store (a lone surrogate or a NUL in a string, a
        source longer than its column) costs only its own event or delivery record:
        the batch is appended again with each such value written out (an escape, or a
        shortened text), an event's unstorable payload replaced by an ``$unencodable``
        note, and each repaired row named in a warning.

        Raises:
            EventLogError: When the database refuses or is unreachable, or a value of
                the batch cannot be stored even so (the message names it). The recorder
                counts the batch as lost; the next batch opens a fresh connection.
        """
        try:
            return await self._append(batch)
        except Exception as exc:
            await self._discard_connection()
            repaired = _repaired(batch) if _about_a_value(exc) else None
            if repaired is not None:
                try:
                    last = await self._append(repaired)
                except Exception as again:
                    await self._discard_connection()
                    exc = again
                else:
                    return last
            if batch.rows and self._first_lost is None:
                # Alone, the batch's rows had their positions; shared, they would
                # have come after the last position seen under the lock.
                self._first_lost = batch.rows[0][_SEQ] if self._alone else self._seen_last + 1
            problem = self._unstorable(batch) if _about_a_value(exc) else None
            raise EventLogError(
                f"cannot append to {self._where}: {problem or reason(exc)}"
            ) from exc

    async def mark_lost(self, lost: int, first_lost_seq: int | None) -> None:
        """Add this writer's losses since its last mark to the session's count.

        ``lost`` is this writer's total; the session adds what it has not counted yet,
        so the losses of every runner recording the session add up. Its first lost
        position becomes the earliest of all: ``first_lost_seq`` while the writer was
        alone, else the position after the last one it saw (the recorder's positions
        are not the shared session's).

        Raises:
            EventLogError: When the database still refuses or is unreachable.
        """
        first = first_lost_seq if self._first_lost is None else self._first_lost
        added = lost - self._marked_lost
        values: dict[str, Any] = {"lost_events": sessions.c.lost_events + added}
        if first is not None:
            values["first_lost_seq"] = func.least(
                func.coalesce(sessions.c.first_lost_seq, first), first
            )
        try:
            connection = await self._connect()
            async with connection.begin():
                await connection.execute(
                    update(sessions).where(sessions.c.id == self._session_id).values(**values)
                )
        except Exception as exc:
            await self._discard_connection()
            raise EventLogError(f"cannot mark a loss in {self._where}: {reason(exc)}") from exc
        self._marked_lost = lost

    async def close(self) -> None:
        """Close the writer's connection."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = self._driver = None

    async def _connect(self) -> AsyncConnection:
        if self._connection is None or self._connection.closed:
            connection = await self._engine.connect()
            commit = "off" if self._durability == "batch" else "on"
            await connection.exec_driver_sql(f"SET synchronous_commit = {commit}")
            await connection.commit()
            self._driver = (await connection.get_raw_connection()).driver_connection
            self._connection = connection
        return self._connection

    async def _discard_connection(self) -> None:
        """Drop a connection that failed, so the next batch opens a fresh one."""
        connection, self._connection, self._driver = self._connection, None, None
        if connection is not None:
            try:
                await connection.invalidate()
            except Exception:  # the connection is already broken; nothing to save
                logger.debug("closing a failed writer connection raised", exc_info=True)

    async def _append(self, batch: Batch) -> int:
        connection = await self._connect()
        async with connection.begin():
            # SQLAlchemy's driver adapter issues BEGIN with its first statement, the
            # session's lock, before any COPY, which runs on the driver's connection.
            locked = (
                select(sessions.c.last_seq)
                .where(sessions.c.id == self._session_id)
                .with_for_update()
            )
            stored = await connection.scalar(locked)
            if stored is None:
                raise EventLogError(f"session {self._session_id} is not in the log")
            self._seen_last = stored = int(stored)
            if self._alone and stored != self._committed_last:
                self._alone = False  # another runner has appended: shared from now on
            last: int | None = None
            rows = batch.rows
            states = batch.snapshots
            if not self._alone:
                last, rows = await self._number_shared(stored, rows)
                states = []  # taken at the recorder's positions, not the session's
            elif rows:
                last = rows[-1][_SEQ]
            errors = sum(1 for row in rows if row[_TYPE] in ERROR_TYPES)
            values: dict[str, Any] = {"heartbeat_ns": time.time_ns()}
            if last is not None:
                values["last_seq"] = last
            if errors:
                values["errors"] = sessions.c.errors + errors
            await connection.execute(
                update(sessions).where(sessions.c.id == self._session_id).values(**values)
            )
            if rows:
                await self._copy("events", EVENT_COLUMNS, rows)
            if batch.deliveries:
                records = [self._delivery(d) for d in batch.deliveries]
                await self._copy("deliveries", DELIVERY_COLUMNS, records)
            for seq, state in states:
                await connection.execute(
                    insert(snapshots).values(
                        session_id=self._session_id,
                        seq=seq,
                        created_ns=time.time_ns(),
                        state=dump(state),
                    )
                )
        if last is not None:
            self._committed_last = self._seen_last = int(last)
        return int(last) if last is not None else -1

    async def _number_shared(
        self, last: int, batch: Sequence[tuple[Any, ...]]
    ) -> tuple[int, list[tuple[Any, ...]]]:
        """The batch's new rows, numbered after ``last`` (the session is locked)."""
        # The duplicate check is planned for each batch's ids: the generic plan that a
        # prepared statement gets after a few runs tests every row of the session
        # against the whole array, so each batch would be slower than the one before.
        driver = self._in_transaction()
        await driver.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        ids = [row[_MESSAGE_ID] for row in batch]
        known = {record[0] for record in await driver.fetch(_KNOWN_IDS, self._session_id, ids)}
        rows = []
        for row in batch:
            if row[_MESSAGE_ID] in known:
                continue
            known.add(row[_MESSAGE_ID])
            last += 1
            rows.append((row[0], last, *row[2:]))
        return last, rows

    async def _copy(
        self, table: str, columns: Sequence[str], records: Sequence[Sequence[Any]]
    ) -> None:
        """Binary ``COPY`` of ``records`` into ``table``, inside the batch's transaction."""
        await self._in_transaction().copy_records_to_table(table, records=records, columns=columns)

    def _in_transaction(self) -> Any:
        """The driver's connection, once the batch's transaction is open on it."""
        driver = self._driver
        if driver is None or not driver.is_in_transaction():
            # A COPY outside it would commit on its own: never let that happen.
            raise RuntimeError("the batch's transaction is not open on the driver connection")
        return driver

    def _unstorable(self, batch: Batch) -> str | None:
        """What in ``batch`` PostgreSQL cannot store, in words (None: no value is to blame).

        Looked for only after a batch failed, so appends pay nothing for it.
        """
        found = _first_problem(events, EVENT_COLUMNS, batch.rows)
        if found is not None:
            index, column, problem = found
            row = batch.rows[index]
            return (
                f"event {row[_MESSAGE_ID]!r} ({row[_TYPE]}), column {column}: {problem}; "
                "nothing of the batch was stored"
            )
        records = [self._delivery(record) for record in batch.deliveries]
        found = _first_problem(deliveries, DELIVERY_COLUMNS, records)
        if found is not None:
            index, column, problem = found
            record = batch.deliveries[index]
            return (
                f"the delivery of {record.message_id!r} to {record.subscriber!r}, column "
                f"{column}: {problem}; nothing of the batch was stored"
            )
        return None

    def _delivery(self, record: DeliveryRecord) -> tuple[Any, ...]:
        return (
            self._session_id,
            record.message_id,
            record.subscriber,
            f"{record.span_id:016x}",
            record.start_ns,
            record.end_ns,
            record.error_type,
            record.error,
        )


_KNOWN_IDS = (
    "SELECT message_id FROM events WHERE session_id = $1 AND message_id = ANY($2::varchar[])"
)
"""The batch's messages that the session holds already (another runner recorded them)."""

DELIVERY_COLUMNS: tuple[str, ...] = tuple(c for c in deliveries.columns.keys() if c != "id")
"""The deliveries table's columns a writer fills (``id`` is the database's), in order."""


# --- a value PostgreSQL cannot store, in words ------------------------------------------

_NOT_NULL_VIOLATION = "23502"


def _about_a_value(error: BaseException) -> bool:
    """Whether an error may come from one value: asyncpg's encoding, a data exception, a NULL.

    ``COPY`` encodes values in the client without saying which row or column failed
    (``INSERT`` names the parameter), and the server's data errors name only a line.
    """
    original = getattr(error, "orig", None) or error
    if isinstance(original, ValueError | TypeError | OverflowError):
        return True
    state = str(getattr(original, "sqlstate", "") or "")
    return state.startswith("22") or state == _NOT_NULL_VIOLATION


def _value_problem(column: Column[Any], value: Any) -> str | None:
    """Why PostgreSQL cannot store ``value`` in ``column`` (None: it can, as far as known)."""
    if value is None:
        return None if column.nullable else "missing (NULL in a NOT NULL column)"
    kind = column.type
    if isinstance(kind, String):  # Text too
        if not isinstance(value, str):
            return f"not text but {type(value).__name__}"
        if "\x00" in value:
            return "text with a NUL character, which PostgreSQL text cannot hold"
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            return (
                f"text with a lone surrogate ({value[exc.start]!r} at index {exc.start}), "
                "which is not valid Unicode and cannot be encoded as UTF-8"
            )
        if kind.length is not None and len(value) > kind.length:
            return f"{len(value):,} characters, more than the column's {kind.length}"
    elif isinstance(kind, Boolean):
        if not isinstance(value, bool):
            return f"not a boolean but {type(value).__name__}"
    elif isinstance(kind, Integer):  # BigInteger too
        bits = 63 if isinstance(kind, BigInteger) else 31
        if not isinstance(value, int):
            return f"not an integer but {type(value).__name__}"
        if not -(2**bits) <= value < 2**bits:
            return f"{value} is out of the column's range ({bits + 1}-bit integers)"
    return None


def _repaired(batch: Batch) -> Batch | None:
    """``batch`` with every string PostgreSQL cannot store written out (None: none found).

    A string is written out (a lone surrogate or a NUL as a backslash escape, a
    text longer than its column shortened, ending in ``…``); an event's payload that
    cannot be stored is replaced by an ``$unencodable`` note with its source and target,
    so a replay decodes the event with what was kept. Each repaired row is named in a
    warning. Only strings are repaired: another problem leaves the batch as it was.
    """
    rows = [_repaired_row(row) for row in batch.rows]
    records = [_repaired_delivery(record) for record in batch.deliveries]
    if all(new is old for new, old in zip(rows, batch.rows, strict=True)) and all(
        new is old for new, old in zip(records, batch.deliveries, strict=True)
    ):
        return None
    return Batch(rows, records, batch.snapshots)


_PAYLOAD = EVENT_COLUMNS.index("payload")
_SOURCE = EVENT_COLUMNS.index("source")
_TARGET = EVENT_COLUMNS.index("target")


def _repaired_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``row`` itself if it can be stored, else a copy with its strings written out."""
    problems = {
        index: problem
        for index, (name, value) in enumerate(zip(EVENT_COLUMNS, row, strict=True))
        if isinstance(value, str) and (problem := _value_problem(events.c[name], value))
    }
    if not problems:
        return row
    fixed = list(row)
    for index in problems:
        fixed[index] = _written_out(fixed[index], events.c[EVENT_COLUMNS[index]])
    why = "; ".join(f"column {EVENT_COLUMNS[i]}: {problem}" for i, problem in problems.items())
    if _PAYLOAD in problems:
        note = {UNENCODABLE: why, "source": fixed[_SOURCE], "target": fixed[_TARGET]}
        fixed[_PAYLOAD] = json.dumps(note)
    logger.warning(
        "event %s (%s, message %s) was stored with values written out: %s%s",
        row[_SEQ],
        row[_TYPE],
        row[_MESSAGE_ID],
        why,
        "; its fields are replaced by that note" if _PAYLOAD in problems else "",
    )
    return tuple(fixed)


def _repaired_delivery(record: DeliveryRecord) -> DeliveryRecord:
    """``record`` itself if it can be stored, else a copy with its strings written out."""
    changes: dict[str, Any] = {}
    for name in ("message_id", "subscriber", "error_type", "error"):
        value = getattr(record, name)
        if isinstance(value, str) and _value_problem(deliveries.c[name], value) is not None:
            changes[name] = _written_out(value, deliveries.c[name])
    if not changes:
        return record
    logger.warning(
        "the delivery of message %s to %r was stored with %s written out",
        record.message_id,
        record.subscriber,
        ", ".join(changes),
    )
    return dataclasses.replace(record, **changes)


def _written_out(value: str, column: Column[Any]) -> str:
    """``value`` as text PostgreSQL stores: escapes for what it cannot hold, cut to fit."""
    text = value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    length = getattr(column.type, "length", None)
    if length is not None and len(text) > length:
        text = text[: length - 1] + "…"
    return text


def _first_problem(
    table: Table, columns: Sequence[str], records: Sequence[Sequence[Any]]
) -> tuple[int, str, str] | None:
    """The first (record index, column, problem) of ``records`` that cannot be stored."""
    checked = [table.c[name] for name in columns]
    for index, record in enumerate(records):
        for column, value in zip(checked, record, strict=True):
            problem = _value_problem(column, value)
            if problem is not None:
                return index, column.name, problem
    return None
