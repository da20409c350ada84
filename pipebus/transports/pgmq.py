"""``PgmqBus``: runners in several processes share one bus through PGMQ queues in PostgreSQL.

Each bus has a queue of its own on the channel; publishing puts the message in the
queues of the channel's other buses, and each bus reads its queue. As in the Redis
buses, a published message is delivered to this runner's subscribers at once (no round
trip), a message targeted at a worker of a known runner goes to that runner's queue only
(direct backend), and what is read is either another runner's envelope, decoded once
and delivered, or input that is not one: skipped, counted, logged and recorded.

Delivery: at least once, from the queue to the runner. A message stays in its queue
until the reading bus has handed it to its subscribers' lanes, then it is deleted
(Pipecat's ``archive``). What a runner had not read, or had read without acknowledging,
when it died is in its queue: a runner restarted under the same name (direct backend)
reads it then; messages it had read are visible again at once. What was already in a
subscriber's lane when the process died is lost with it. Redelivered messages that the
same process saw before are dropped by message id.

The reader does not poll: it waits on the notification PGMQ sends when a message is
committed to its queue (``pgmq.enable_notify_insert``), then reads. A backend written
to Pipecat's protocol only (or a client without an asyncpg pool) is long-polled, and
publishes one message at a time, as Pipecat does.

Given a ``serializer`` (Pipecat's ``JSONMessageSerializer``), the bus carries Pipecat's
wire format instead, so pipebus and Pipecat runners can share a channel; as in Pipecat,
its own messages then reach its subscribers through its queue (recorded once: the echo
is delivered under the envelope stamped on send).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from pipebus.core.envelope import Envelope
from pipebus.core.errors import TransportError
from pipebus.core.messages import BusMessage
from pipebus.transports.echoes import PendingEchoes
from pipebus.transports.outbox import Entry
from pipebus.transports.pgmq_backends import (
    BatchingBackend,
    DirectPgmqBackend,
    PgmqBackend,
    QueueReader,
)
from pipebus.transports.serialized_input import Arrival, SerializedInput
from pipebus.transports.transport import TransportBus

if TYPE_CHECKING:
    from pipebus.core.serializers import MessageSerializer

logger = logging.getLogger("pipebus.transports")

DEFAULT_CHANNEL = "pipebus_bus"
PIPECAT_CHANNEL = "pipecat_bus"
"""Pipecat's default channel, the default with a serializer (to meet Pipecat runners)."""

MAX_PENDING_ECHOES = 10_000
ECHO_WAIT_S = 5.0


def _canonical(value: Any) -> bytes:
    """One text for equal JSON values, whatever order PostgreSQL's jsonb gave the keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class PgmqBus(TransportBus):
    """A bus over PGMQ, as in Pipecat: same constructor, same use; see the module docstring.

    ::

        from pgmq.async_queue import PGMQueue
        pgmq = PGMQueue(host="localhost", port="5432", database="postgres",
                        username="postgres", password="...", pool_size=4)
        await pgmq.init()
        bus = PgmqBus(pgmq=pgmq, channel="pipecat:my-app")
        runner = WorkerRunner(bus=bus)

    Args:
        pgmq: An initialised ``PGMQueue`` client (a :class:`DirectPgmqBackend` is made
            for it); it stays yours to close. Its pool needs two connections for the bus
            (the reader holds one).
        backend: Any :class:`PgmqBackend`, such as an :class:`IsolatedPgmqBackend`.
            Give ``pgmq`` or ``backend``, not both.
        serializer: None (pipebus's envelopes, with trace context), or a
            ``MessageSerializer`` for Pipecat's wire format.
        channel: The name every runner of the application shares.
        visibility_timeout: Seconds a message read but not acknowledged stays hidden.
        batch_size: Messages read at most per round trip.
        poll_interval_ms: How often a long-polling backend looks (Pipecat's backends).
        max_poll_seconds: How long one read waits before it reads again.
        **options: ``heartbeat_interval``, ``heartbeat_timeout``, ``max_pending``,
            ``stop_timeout``, ``runner_name``, ``session_id``: see
            :class:`~pipebus.transports.transport.TransportBus`.

    Raises:
        ValueError: Without ``pgmq`` or ``backend``, or with both, or with a heartbeat
            timeout not longer than the interval.
    """

    transport_name: ClassVar[str] = "PostgreSQL"
    replays_gaps: ClassVar[bool] = True
    gap_note: ClassVar[str] = "what was sent to its queue meanwhile is read now"

    as_strings: ClassVar[bool] = True
    """Whether written texts are stored as JSON strings (envelopes, byte for byte)."""

    hears_itself: ClassVar[bool] = False
    """Whether broadcasts reach this bus's own queue too (Pipecat's echo)."""

    def __new__(cls, *, serializer: MessageSerializer | None = None, **kwargs: Any) -> Any:
        """This bus, or a :class:`SerializedPgmqBus` when a serializer is given."""
        if serializer is not None and cls is PgmqBus:
            return super().__new__(SerializedPgmqBus)
        return super().__new__(cls)

    def __init__(
        self,
        *,
        pgmq: Any = None,
        backend: PgmqBackend | None = None,
        serializer: MessageSerializer | None = None,
        channel: str | None = None,
        visibility_timeout: int = 30,
        batch_size: int = 100,
        poll_interval_ms: int = 100,
        max_poll_seconds: int = 5,
        **options: Any,
    ) -> None:
        if pgmq is not None and backend is not None:
            raise ValueError("PgmqBus takes pgmq= or backend=, not both")
        if backend is None:
            if pgmq is None:
                raise ValueError("PgmqBus needs pgmq= (a PGMQueue) or backend= (a PgmqBackend)")
            backend = DirectPgmqBackend(pgmq)
        if channel is None:
            channel = DEFAULT_CHANNEL if serializer is None else PIPECAT_CHANNEL
        super().__init__(channel=channel, **options)
        self._backend: PgmqBackend = backend
        self._visibility_timeout = visibility_timeout
        self._batch_size = batch_size
        self._poll_interval_ms = poll_interval_ms
        self._max_poll_seconds = max_poll_seconds
        self._queue_name: str | None = None
        self._reader: QueueReader | None = None
        self._batching = False  # known once joined: until then a message is sent alone
        self._ack_failures = 0

    # --- public --------------------------------------------------------------------------

    @property
    def queue_name(self) -> str | None:
        """This bus's queue while it runs."""
        return self._queue_name

    @property
    def batches(self) -> bool:
        """Whether writes are batched and the reader is notified (pipebus's backends)."""
        return self._batching

    @property
    def ack_failures(self) -> int:
        """Acknowledgements that failed (the message comes again after its timeout)."""
        return self._ack_failures

    # --- joining and leaving ---------------------------------------------------------------

    async def _connect(self) -> None:
        """Join the channel: a queue of this bus's own (and a notified reader, batching)."""
        backend = self._backend
        self._batching = isinstance(backend, BatchingBackend) and backend.batches
        try:
            if isinstance(backend, BatchingBackend) and self._batching:
                queue = await backend.join_runner(self.channel, self.runner_name)
                self._queue_name = queue
                self._reader = await backend.open_reader(queue, self.channel)
            else:
                self._queue_name = await backend.join(self.channel)
        except TransportError:
            raise
        except Exception as exc:
            raise TransportError(
                f"{self}: joining the channel failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _disconnect(self) -> None:
        """Stop reading, then leave (drop the queue); a failure to leave is logged."""
        await self._close_reader()
        queue, self._queue_name = self._queue_name, None
        if queue is not None:
            try:
                await self._backend.leave(queue, channel=self.channel)
            except Exception:
                logger.exception("%s: leaving (dropping the queue %r) failed", self, queue)

    async def _reconnect(self) -> None:
        """Get ready to read again: the same queue (made again if it was dropped)."""
        backend = self._backend
        if not (self._batching and isinstance(backend, BatchingBackend)):
            return
        await self._close_reader()
        queue = self._queue_name
        if isinstance(backend, DirectPgmqBackend) or queue is None:
            queue = await backend.join_runner(self.channel, self.runner_name)
        self._reader = await backend.open_reader(queue, self.channel)
        try:
            await self._reader.read(self._visibility_timeout, 0, 0.0)  # is the queue still ours?
        except Exception:
            await self._close_reader()
            queue = await backend.join_runner(self.channel, self.runner_name)
            self._reader = await backend.open_reader(queue, self.channel)
        self._queue_name = queue

    async def _close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                await reader.close()
            except Exception as exc:  # the connection is broken already
                logger.debug("%s: closing its reader failed: %s", self, exc)

    @property
    def _gap_replayed(self) -> bool:
        return self._batching

    # --- sending ---------------------------------------------------------------------------

    def _address(self, runner: str) -> str:
        backend = self._backend
        if isinstance(backend, BatchingBackend):
            return backend.queue_of(self.channel, runner) or ""
        return ""

    async def _publish_one(self, data: bytes, message: BusMessage) -> None:
        await self._publish_payload(json.loads(data), message)

    async def _publish_payload(self, payload: Any, message: BusMessage) -> None:
        """One message through Pipecat's ``publish`` (a backend without batches)."""
        queue = self._queue_name
        if queue is None:
            self._counters.unpublished += 1
            logger.warning(
                "%s: %s from %r was not sent to other runners: the bus has not joined its "
                "channel yet (start() it first)",
                self,
                type(message).__name__,
                message.source,
            )
            return
        try:
            await self._backend.publish(self.channel, queue, payload)
        except Exception as exc:
            self._counters.publish_retries += 1
            raise TransportError(
                f"{self}: publishing {type(message).__name__} failed: {type(exc).__name__}: {exc}"
            ) from exc
        self._counters.published += 1
        self._counters.batches += 1

    async def _write(self, batch: list[Entry]) -> None:
        backend = self._backend
        queue = self._queue_name
        if queue is None or not isinstance(backend, BatchingBackend):
            raise TransportError(f"{self} has no queue to publish from")
        await backend.publish_texts(
            self.channel,
            queue,
            [(to, data.decode()) for to, data in batch],
            as_strings=self.as_strings,
            include_self=self.hears_itself,
        )

    # --- receiving ---------------------------------------------------------------------------

    def _arrived(self, value: Any) -> None:
        """One message read from the queue: an envelope's text, or a JSON value."""
        if isinstance(value, str):
            raw = value.encode("utf-8", "surrogatepass")
        else:
            try:
                raw = json.dumps(value).encode()
            except (TypeError, ValueError) as exc:
                self._inbound.reject(repr(value).encode(), self.channel, "not_json", str(exc))
                return
        self._take(raw)

    def _take(self, raw: bytes) -> None:
        self._on_raw(raw, self.channel)

    async def _read(self) -> None:
        if self._batching:
            await self._read_notified()
        else:
            await self._read_polling()

    async def _read_notified(self) -> None:
        reader = self._reader
        if reader is None:
            raise TransportError("no reader")
        vt, qty, wait = self._visibility_timeout, self._batch_size, float(self._max_poll_seconds)
        arrived = self._arrived
        while True:
            rows = await reader.read(vt, qty, wait)
            if not rows:
                continue
            for _, text in rows:
                arrived(text)
            await reader.ack([msg_id for msg_id, _ in rows])

    async def _read_polling(self) -> None:
        backend = self._backend
        while True:
            queue = self._queue_name
            if queue is None:
                return
            messages = await backend.read(
                queue,
                channel=self.channel,
                vt=self._visibility_timeout,
                qty=self._batch_size,
                max_poll_seconds=self._max_poll_seconds,
                poll_interval_ms=self._poll_interval_ms,
            )
            for message in messages or []:
                try:
                    self._arrived(message.message)
                finally:
                    try:
                        await backend.archive(queue, channel=self.channel, msg_id=message.msg_id)
                    except Exception as exc:
                        self._ack_failures += 1
                        logger.warning(
                            "%s: acknowledging message %s failed (%s); it comes again after "
                            "%ss, and is then dropped as a duplicate",
                            self,
                            message.msg_id,
                            exc,
                            self._visibility_timeout,
                        )


class SerializedPgmqBus(PgmqBus):
    """A :class:`PgmqBus` in Pipecat's wire format: what ``PgmqBus(serializer=...)`` builds.

    As in Pipecat, its own messages reach its subscribers through its queue (delivered
    under the envelope stamped on send, so recorded once), and it sends no heartbeats
    and no goodbye (Pipecat runners would not read them).

    Raises:
        ValueError: Without a ``serializer`` (and as :class:`PgmqBus` does).
    """

    carries_fields_text = False
    keeps_liveness = False
    as_strings = False
    hears_itself = True

    def __init__(self, *, serializer: MessageSerializer | None = None, **options: Any) -> None:
        if serializer is None:
            raise ValueError("SerializedPgmqBus needs serializer= (a MessageSerializer)")
        super().__init__(serializer=serializer, **options)
        self._serializer = serializer
        self._echoes = PendingEchoes(MAX_PENDING_ECHOES, self)
        self._input = SerializedInput(self, self.channel, serializer, self._echoes, self._count)

    async def stop(self) -> None:
        """Stop as a :class:`PgmqBus` does; sends whose echo has not come are given up."""
        await super().stop()
        self._echoes.give_up("the bus stopped", level=logging.INFO)

    async def drain(self) -> None:
        """Wait until what is queued is written, own echoes are back, deliveries are done."""
        await self._outbox.flushed()
        if self.running:
            await self._echoes.wait(ECHO_WAIT_S)
        await super().drain()

    async def publish(self, message: BusMessage) -> None:
        """Stamp ``message`` and publish it (Pipecat's signature).

        Raises:
            TransportError: If a backend without batches fails to send it.
        """
        await self.publish_envelope(self.stamp(message))

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Send the serialized message to every queue, this runner's own included.

        It reaches this runner's subscribers through its own queue, as in Pipecat.

        Raises:
            TransportError: If a backend without batches fails to send it.
        """
        message = envelope.message
        data = self._serializer.serialize(message)
        try:
            text = data.decode() if isinstance(data, bytes) else str(data)
            payload = json.loads(text)
        except ValueError as exc:
            # Pipecat's bus drops it too (PGMQ carries JSON): said loudly, and counted.
            self._counters.unpublished += 1
            logger.error(
                "%s: %s from %r was not sent: %s wrote something that is not JSON (%s)",
                self,
                type(message).__name__,
                message.source,
                type(self._serializer).__name__,
                exc,
            )
            return
        key = _canonical(payload)
        with self._echoes.expected(
            key, envelope, when=self.running and self._queue_name is not None
        ):
            if self._batching:
                self._outbox.put("", text.encode())
                if self._outbox.full:
                    await self._outbox.room()
            else:
                await self._publish_payload(payload, message)

    def _take(self, raw: bytes) -> None:
        try:
            key = _canonical(json.loads(raw))
        except ValueError as exc:
            self._input.drop(raw, "not_json", str(exc))
            return
        arrival = self._input.arrived(raw, key)
        if arrival is Arrival.ECHO:
            self._counters.own_skipped += 1
        elif arrival is Arrival.MESSAGE:
            self._counters.received += 1

    def _count(self, kind: str) -> None:
        errors = self._counters.decode_errors
        errors[kind] = errors.get(kind, 0) + 1
