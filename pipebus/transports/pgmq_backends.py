"""Where :class:`~pipebus.transports.pgmq.PgmqBus` keeps its queues: PGMQ, direct or isolated.

A backend gives each bus a queue on a channel (``join``), fans a message out to the
channel's queues (``publish``), reads its bus's queue (``read``), acknowledges what was
read (``archive``) and drops the queue (``leave``): Pipecat's five calls, the
:class:`PgmqBackend` protocol, which any backend of a user's may implement.

The two backends shipped here also offer pipebus's faster surface
(:class:`BatchingBackend`): a whole outbox batch goes to every queue in one statement,
and the reader waits on a PostgreSQL notification (PGMQ's ``enable_notify_insert``)
instead of polling, so a message is read as soon as it is committed.

- :class:`DirectPgmqBackend` calls ``pgmq.*`` through a ``PGMQueue`` client. Queues are
  named ``<sanitised channel>_<12 hex digits>`` and found by that pattern: peers must
  trust each other. The 12 digits come from the runner's name, so a runner that restarts
  under its name finds its queue, and what it had not acknowledged, again.
- :class:`IsolatedPgmqBackend` calls only the SECURITY DEFINER wrappers of
  :mod:`~pipebus.transports.pgmq_sql` (``public.bus_join``, ``bus_publish``,
  ``bus_subscribe``, ``bus_archive``, ``bus_leave``) over an ``asyncpg`` pool: the
  database role needs no right on PGMQ itself, and may touch only the queues it joined.

Acknowledging deletes the message (Pipecat's ``archive`` calls ``pgmq.delete`` too): a
bus's archive table would only grow, and pipebus's event log is the record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pipebus.core.errors import TransportError

logger = logging.getLogger("pipebus.transports")

_INVALID_CHANNEL_CHARS = re.compile(r"[^A-Za-z0-9_]")
MAX_PREFIX_CHARS = 30
"""How much of the sanitised channel a direct queue name keeps (PGMQ allows 47 in all)."""

PEER_LIST_TTL_S = 1.0
"""How long a direct backend without a pool trusts its list of a channel's queues."""

DEFAULT_PREFIX = "pipecat_bus"


class QueueJoinError(TransportError, RuntimeError):
    """A backend could not give the bus a queue (a ``RuntimeError`` too, as in Pipecat)."""


def sanitize_channel(channel: str) -> str:
    """The queue-name prefix of ``channel``: letters, digits and ``_``, never a leading digit.

    Pipecat's rule, so pipebus and Pipecat buses on one channel find each other's queues.
    """
    safe = _INVALID_CHANNEL_CHARS.sub("_", channel)
    if safe and safe[0].isdigit():
        safe = f"q_{safe}"
    return safe[:MAX_PREFIX_CHARS] or DEFAULT_PREFIX


def peer_pattern(channel: str) -> str:
    """A regular expression matching exactly the direct queues of ``channel``.

    Anchored, so channel ``a`` does not take the queues of channel ``a_b`` for its own.
    """
    return f"^{sanitize_channel(channel)}_[0-9a-f]{{12}}$"


def runner_queue(channel: str, runner: str) -> str:
    """The direct queue of ``runner`` on ``channel`` (the same after a restart)."""
    digest = hashlib.sha256(f"{channel}\n{runner}".encode()).hexdigest()
    return f"{sanitize_channel(channel)}_{digest[:12]}"


def notify_channel(queue: str) -> str:
    """The channel PGMQ's insert trigger notifies for ``queue`` (its table's name)."""
    return f"pgmq.q_{queue.lower()}.INSERT"


@dataclass
class BackendMessage:
    """One message read from a queue: its id and its JSON value (Pipecat's shape).

    Attributes:
        msg_id: The id to acknowledge it by.
        message: The decoded JSON: an object (a dict) for Pipecat's wire format, or the
            text of a pipebus envelope (a str).
    """

    msg_id: int
    message: Any


@runtime_checkable
class PgmqBackend(Protocol):
    """What :class:`~pipebus.transports.pgmq.PgmqBus` asks of a backend (Pipecat's protocol).

    Guarantee asked of implementors: ``publish`` reaches every queue joined on the
    channel at that moment, ``read`` returns each message again after ``vt`` seconds
    until it is archived (at least once), and a failure raises.
    """

    async def join(self, channel: str) -> str:
        """Make a queue for a bus on ``channel``; return its name."""
        ...

    async def publish(self, channel: str, my_queue: str, payload: dict[str, Any]) -> None:
        """Send ``payload`` to the queues of ``channel``."""
        ...

    async def read(
        self,
        queue: str,
        *,
        channel: str,
        vt: int,
        qty: int,
        max_poll_seconds: int,
        poll_interval_ms: int,
    ) -> list[BackendMessage]:
        """Wait up to ``max_poll_seconds`` for messages on ``queue``; [] if none came."""
        ...

    async def archive(self, queue: str, *, channel: str, msg_id: int) -> bool:
        """Acknowledge one message read from ``queue``."""
        ...

    async def leave(self, queue: str, *, channel: str) -> None:
        """Drop ``queue`` and leave ``channel``."""
        ...


Outgoing = tuple[str, str]
"""One message to publish: the queue it is for (``""``: every queue but the sender's)
and its JSON text."""


class QueueReader(Protocol):
    """A connection of a bus's own that reads its queue and wakes on each insert."""

    async def read(self, vt: int, qty: int, wait: float) -> list[tuple[int, str]]:
        """Messages now, else the first that arrive within ``wait`` seconds, else [].

        Each is ``(msg_id, text)``: an envelope's text, or an object's JSON text.
        """
        ...

    async def ack(self, msg_ids: list[int]) -> None:
        """Acknowledge (delete) what was read."""
        ...

    async def close(self) -> None:
        """Give the connection back."""
        ...


@runtime_checkable
class BatchingBackend(PgmqBackend, Protocol):
    """pipebus's faster surface over Pipecat's: batches, and a reader that is notified."""

    @property
    def batches(self) -> bool:
        """Whether the surface below can be used (a backend may lack the pool for it)."""
        ...

    async def join_runner(self, channel: str, runner: str) -> str:
        """Join ``channel`` for ``runner``; return its queue."""
        ...

    def queue_of(self, channel: str, runner: str) -> str | None:
        """The queue of another runner, when this backend can name it."""
        ...

    async def publish_texts(
        self,
        channel: str,
        my_queue: str,
        batch: Sequence[Outgoing],
        *,
        as_strings: bool,
        include_self: bool,
    ) -> None:
        """Send a batch in one round trip, in order per queue.

        ``as_strings``: store each text as a JSON string (a pipebus envelope, byte for
        byte), else parse it as the JSON value it is (Pipecat's wire format).
        ``include_self``: broadcasts reach ``my_queue`` too (Pipecat's echo).
        """
        ...

    async def open_reader(self, queue: str, channel: str) -> QueueReader:
        """A reader of ``queue`` on a connection of its own."""
        ...


# --- the reader both batching backends use ------------------------------------------------


class _NotifiedReader:
    """Reads one queue on a pooled asyncpg connection that LISTENs for its inserts.

    A read that finds nothing waits for the notification PGMQ's trigger sends on
    commit; the notification that races an empty read is not missed, because the
    listener is registered before the first read and the wake-up is cleared before each.
    """

    def __init__(
        self,
        pool: Any,
        queue: str,
        read: Callable[[Any, int, int], Any],
        ack: Callable[[Any, list[int]], Any],
    ) -> None:
        self._pool = pool
        self._queue = queue
        self._read = read
        self._ack = ack
        self._connection: Any = None
        self._wake = asyncio.Event()
        self._lost: str | None = None

    async def open(self) -> None:
        self._connection = await self._pool.acquire()
        self._connection.add_termination_listener(self._terminated)
        await self._connection.add_listener(notify_channel(self._queue), self._notified)

    def _notified(self, *_: object) -> None:
        self._wake.set()

    def _terminated(self, *_: object) -> None:
        self._lost = "the connection was closed"
        self._wake.set()

    async def read(self, vt: int, qty: int, wait: float) -> list[tuple[int, str]]:
        connection = self._connection
        if connection is None:
            raise TransportError("the reader is closed")
        self._wake.clear()
        rows = await self._read(connection, vt, qty)
        if not rows:
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                return []
            if self._lost is not None:
                raise TransportError(f"reading {self._queue!r}: {self._lost}")
            self._wake.clear()
            rows = await self._read(connection, vt, qty)
        return [(row[0], row[1]) for row in rows]

    async def ack(self, msg_ids: list[int]) -> None:
        if self._connection is None:
            raise TransportError("the reader is closed")
        await self._ack(self._connection, msg_ids)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if self._lost is None:
                await connection.remove_listener(notify_channel(self._queue), self._notified)
        except Exception as exc:  # a broken connection: the pool replaces it
            logger.debug("unlistening on %r failed: %s", self._queue, exc)
        finally:
            try:
                await self._pool.release(connection)
            except Exception as exc:
                logger.debug("releasing the reader of %r failed: %s", self._queue, exc)
                connection.terminate()


def _asyncpg_pool(client: Any) -> Any:
    """``client.pool`` when it is an asyncpg pool (a ``PGMQueue`` after ``init()``), else None."""
    pool = getattr(client, "pool", None)
    if pool is None:
        return None
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ModuleNotFoundError:
        return None
    return pool if isinstance(pool, asyncpg.Pool) else None


# --- direct -----------------------------------------------------------------------------

_DIRECT_JOIN = "SELECT pgmq.create($1)"
_DIRECT_HAS_NOTIFY = "SELECT to_regprocedure('pgmq.enable_notify_insert(text,integer)') IS NOT NULL"
_DIRECT_NOTIFY = "SELECT pgmq.enable_notify_insert($1, 0)"
_DIRECT_READ = "SELECT msg_id, message #>> '{}' FROM pgmq.read($1, $2, $3)"
_DIRECT_ACK = "SELECT count(*) FROM pgmq.delete($1, $2::bigint[])"
_DIRECT_PUBLISH = """
SELECT count(*) FROM (
    SELECT q.queue_name,
           array_agg(CASE WHEN $5 THEN to_jsonb(m.body) ELSE m.body::jsonb END
                     ORDER BY m.ord) AS bodies
    FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS m(to_queue, body, ord)
    JOIN pgmq.list_queues() q
      ON (m.to_queue = '' AND q.queue_name ~ $1 AND q.queue_name <> $4)
         OR q.queue_name = m.to_queue
    GROUP BY q.queue_name
) g, LATERAL pgmq.send_batch(g.queue_name, g.bodies)
"""
"""A batch to every queue of the channel but the sender's (or to one queue each), in one
statement: the queues are found as it runs, so one that left meanwhile is skipped."""


def _rewind_sql(queue: str) -> str:
    # The name was made here (letters, digits, _), and PGMQ's table is its lower case.
    return (
        f'UPDATE pgmq."q_{queue.lower()}" SET vt = clock_timestamp() WHERE vt > clock_timestamp()'
    )


class DirectPgmqBackend:
    """A backend that calls PGMQ directly through a ``PGMQueue`` client (trusted peers).

    Given an initialised ``pgmq.async_queue.PGMQueue`` (its ``pool`` is asyncpg's), the
    backend batches and listens (:class:`BatchingBackend`). Given any other client with
    Pipecat's methods (``create_queue``, ``send``, ``read_with_poll``, ``delete``,
    ``drop_queue``, ``list_queues``), it uses those, one message and one queue at a time.

    Args:
        pgmq: The client; it stays yours to close.
    """

    def __init__(self, pgmq: Any) -> None:
        self._pgmq = pgmq
        self._peer_cache: dict[str, tuple[float, list[str]]] = {}
        self._notify: bool | None = None

    @property
    def batches(self) -> bool:
        """Whether the client has an asyncpg pool to batch and listen on."""
        return _asyncpg_pool(self._pgmq) is not None

    def queue_of(self, channel: str, runner: str) -> str | None:
        """The queue of ``runner`` on ``channel``."""
        return runner_queue(channel, runner)

    # --- Pipecat's protocol ----------------------------------------------------------------

    async def join(self, channel: str) -> str:
        """Create a queue ``<channel>_<12 random hex digits>``."""
        queue = f"{sanitize_channel(channel)}_{uuid.uuid4().hex[:12]}"
        await self._pgmq.create_queue(queue)
        return queue

    async def publish(self, channel: str, my_queue: str, payload: dict[str, Any]) -> None:
        """Send ``payload`` to every queue of ``channel``, this bus's own included.

        A queue that fails (dropped by a peer that left) is skipped and the list of
        queues is read again next time; the others still get the message.
        """
        for queue in await self._peers(channel):
            try:
                await self._pgmq.send(queue, payload)
            except Exception as exc:
                logger.warning("sending to the queue %r failed (%s); skipped", queue, exc)
                self._peer_cache.pop(channel, None)

    async def read(
        self,
        queue: str,
        *,
        channel: str,
        vt: int,
        qty: int,
        max_poll_seconds: int,
        poll_interval_ms: int,
    ) -> list[BackendMessage]:
        """Long-poll ``queue`` with ``pgmq.read_with_poll``."""
        messages = await self._pgmq.read_with_poll(
            queue=queue,
            vt=vt,
            qty=qty,
            max_poll_seconds=max_poll_seconds,
            poll_interval_ms=poll_interval_ms,
        )
        return [BackendMessage(m.msg_id, m.message) for m in messages or []]

    async def archive(self, queue: str, *, channel: str, msg_id: int) -> bool:
        """Acknowledge a message (``pgmq.delete``)."""
        return bool(await self._pgmq.delete(queue, msg_id))

    async def leave(self, queue: str, *, channel: str) -> None:
        """Drop ``queue``."""
        await self._pgmq.drop_queue(queue)
        self._peer_cache.pop(channel, None)

    async def _peers(self, channel: str) -> list[str]:
        now = time.monotonic()
        cached = self._peer_cache.get(channel)
        if cached is not None and now - cached[0] < PEER_LIST_TTL_S:
            return cached[1]
        pattern = re.compile(peer_pattern(channel))
        peers = []
        with warnings.catch_warnings():
            # pgmq 1.1 warns that it lists records, not names: both are read below
            warnings.filterwarnings("ignore", "list_queues", UserWarning)
            records = await self._pgmq.list_queues()
        for record in records:
            # pgmq 1.0 lists names, 1.1 lists records with a queue_name
            name = record if isinstance(record, str) else getattr(record, "queue_name", "")
            if pattern.match(name):
                peers.append(name)
        self._peer_cache[channel] = (now, peers)
        return peers

    # --- pipebus's batching surface --------------------------------------------------------

    async def join_runner(self, channel: str, runner: str) -> str:
        """Create (or find again) the queue of ``runner``; make what it held visible now.

        Messages a previous process of this runner had read without acknowledging
        would stay hidden until their visibility timeout: they are redelivered at once.
        """
        queue = runner_queue(channel, runner)
        async with self._pool().acquire() as connection, connection.transaction():
            await connection.execute(_DIRECT_JOIN, queue)
            if self._notify is None:
                self._notify = bool(await connection.fetchval(_DIRECT_HAS_NOTIFY))
                if not self._notify:
                    logger.warning(
                        "this PGMQ has no pgmq.enable_notify_insert (PGMQ 1.7 or later): "
                        "PgmqBus readers poll instead of waiting on notifications"
                    )
            if self._notify:
                await connection.execute(_DIRECT_NOTIFY, queue)
            rewound = await connection.execute(_rewind_sql(queue))
        if rewound != "UPDATE 0":
            logger.warning("queue %r: %s message(s) read before were made visible again",
                           queue, rewound.split()[-1])  # fmt: skip
        return queue

    async def publish_texts(
        self,
        channel: str,
        my_queue: str,
        batch: Sequence[Outgoing],
        *,
        as_strings: bool,
        include_self: bool,
    ) -> None:
        """Send a batch to the channel's queues (or each to its one queue) in one statement."""
        targets = [to for to, _ in batch]
        bodies = [body for _, body in batch]
        skip = "" if include_self else my_queue
        async with self._pool().acquire() as connection:
            await connection.fetchval(
                _DIRECT_PUBLISH, peer_pattern(channel), targets, bodies, skip, as_strings
            )

    async def open_reader(self, queue: str, channel: str) -> QueueReader:
        """A reader of ``queue`` on a connection of the client's pool, held until closed."""

        async def read(connection: Any, vt: int, qty: int) -> Any:
            return await connection.fetch(_DIRECT_READ, queue, vt, qty)

        async def ack(connection: Any, msg_ids: list[int]) -> None:
            await connection.fetchval(_DIRECT_ACK, queue, msg_ids)

        reader = _NotifiedReader(self._pool(), queue, read, ack)
        await reader.open()
        return reader

    def _pool(self) -> Any:
        pool = _asyncpg_pool(self._pgmq)
        if pool is None:
            raise TransportError("the PGMQueue has no connection pool: await pgmq.init() first")
        return pool


# --- isolated ---------------------------------------------------------------------------


class IsolatedPgmqBackend:
    """A backend that only calls pipebus's SECURITY DEFINER wrappers over an asyncpg pool.

    The role the pool logs in as needs ``EXECUTE`` on the wrappers (``pipebus pgmq
    grant ROLE``) and nothing on PGMQ: it reads and writes only the queues it joined
    (the wrappers check), on channels whose names it knows (a channel's name is the
    capability to join it). Queue names are made by the server.

    Args:
        pool: An ``asyncpg`` pool of at least two connections (the reader holds one).
            It stays yours to close.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @property
    def pool(self) -> Any:
        """The pool the wrappers are called over."""
        return self._pool

    @property
    def batches(self) -> bool:
        """Whether the pool is asyncpg's (needed to batch and to listen)."""
        return _asyncpg_pool(self) is not None

    def queue_of(self, channel: str, runner: str) -> str | None:
        """None: another runner's queue is the server's secret."""
        return None

    async def join(self, channel: str) -> str:
        """``public.bus_join(channel)``: a new queue on ``channel``.

        Raises:
            QueueJoinError: If the wrapper returned no queue name.
        """
        async with self._pool.acquire() as connection:
            queue = await connection.fetchval("SELECT public.bus_join($1)", channel)
        if not queue:
            raise QueueJoinError(f"public.bus_join({channel!r}) returned no queue name")
        return str(queue)

    async def publish(self, channel: str, my_queue: str, payload: dict[str, Any]) -> None:
        """``public.bus_publish``: ``payload`` to every queue of ``channel``, the sender's too."""
        async with self._pool.acquire() as connection:
            await connection.execute(
                "SELECT public.bus_publish($1, $2, $3::jsonb)",
                channel,
                my_queue,
                json.dumps(payload),
            )

    async def read(
        self,
        queue: str,
        *,
        channel: str,
        vt: int,
        qty: int,
        max_poll_seconds: int,
        poll_interval_ms: int,
    ) -> list[BackendMessage]:
        """``public.bus_subscribe``: wait up to ``max_poll_seconds`` for messages on ``queue``."""
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(
                "SELECT msg_id, message FROM public.bus_subscribe($1, $2, $3, $4, $5)",
                queue,
                channel,
                vt,
                qty,
                max_poll_seconds,
            )
        messages = []
        for row in rows:
            raw = row["message"]
            value = json.loads(raw) if isinstance(raw, str | bytes) else raw
            messages.append(BackendMessage(int(row["msg_id"]), value))
        return messages

    async def archive(self, queue: str, *, channel: str, msg_id: int) -> bool:
        """``public.bus_archive``: acknowledge one message."""
        async with self._pool.acquire() as connection:
            done = await connection.fetchval(
                "SELECT public.bus_archive($1, $2, $3)", queue, channel, msg_id
            )
        return bool(done)

    async def leave(self, queue: str, *, channel: str) -> None:
        """``public.bus_leave``: drop the queue and leave the channel."""
        async with self._pool.acquire() as connection:
            await connection.execute("SELECT public.bus_leave($1, $2)", queue, channel)

    # --- pipebus's batching surface --------------------------------------------------------

    async def join_runner(self, channel: str, runner: str) -> str:
        """A new queue on ``channel`` (the wrappers name queues; ``runner`` is not used)."""
        return await self.join(channel)

    async def publish_texts(
        self,
        channel: str,
        my_queue: str,
        batch: Sequence[Outgoing],
        *,
        as_strings: bool,
        include_self: bool,
    ) -> None:
        """``public.bus_publish`` of the whole batch to the channel's queues.

        Every message goes to every queue: the wrappers do not say which runner a
        queue is, so a targeted message is skipped by the runners it is not for.
        """
        bodies = [body for _, body in batch]
        async with self._pool.acquire() as connection:
            await connection.execute(
                "SELECT public.bus_publish($1, $2, $3::text[], $4, $5)",
                channel,
                my_queue,
                bodies,
                as_strings,
                include_self,
            )

    async def open_reader(self, queue: str, channel: str) -> QueueReader:
        """A reader of ``queue`` on a connection of the pool, held until closed."""

        async def read(connection: Any, vt: int, qty: int) -> Any:
            return await connection.fetch(
                "SELECT msg_id, message #>> '{}' FROM public.bus_subscribe($1, $2, $3, $4, 0)",
                queue,
                channel,
                vt,
                qty,
            )

        async def ack(connection: Any, msg_ids: list[int]) -> None:
            await connection.fetchval(
                "SELECT public.bus_archive($1, $2, $3::bigint[])", queue, channel, msg_ids
            )

        reader = _NotifiedReader(self._pool, queue, read, ack)
        await reader.open()
        return reader


__all__ = [
    "BackendMessage",
    "BatchingBackend",
    "DirectPgmqBackend",
    "IsolatedPgmqBackend",
    "PgmqBackend",
    "QueueJoinError",
    "QueueReader",
]
