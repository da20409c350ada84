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

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from pipebus.bus.base import WorkerBus
from pipebus.core.codec import encode_message
from pipebus.core.envelope import Envelope
from pipebus.core.errors import TransportError
from pipebus.core.messages import (
    BusDecodeErrorMessage,
    BusMessage,
    BusRunnerHeartbeatMessage,
    BusRunnerLeftMessage,
    BusTransportGapMessage,
)
from pipebus.core.routing import Delivery, delivery_of
from pipebus.core.wire import encode_envelope
from pipebus.transports.base import HEADER_TO_RUNNER, OWN_MARKER_WINDOW, RUNNER_KEY
from pipebus.transports.connection import Backoff
from pipebus.transports.echoes import PendingEchoes
from pipebus.transports.inbound import EXCERPT_BYTES, Inbound
from pipebus.transports.limits import ROOMY_CHARS, check_envelope_size
from pipebus.transports.outbox import Entry, Outbox
from pipebus.transports.peers import PeerWatch
from pipebus.transports.pgmq_backends import (
    BatchingBackend,
    DirectPgmqBackend,
    PgmqBackend,
    QueueReader,
)
from pipebus.transports.stats import Counters, TransportStats

if TYPE_CHECKING:
    from pipebus.core.serializers import MessageSerializer

logger = logging.getLogger("pipebus.transports")

DEFAULT_CHANNEL = "pipebus_bus"
PIPECAT_CHANNEL = "pipecat_bus"
"""Pipecat's default channel, the default with a serializer (to meet Pipecat runners)."""

MAX_PENDING_ECHOES = 10_000
ECHO_WAIT_S = 5.0
STOP_TASK_TIMEOUT_S = 1.0


def _canonical(value: Any) -> bytes:
    """One text for equal JSON values, whatever order PostgreSQL's jsonb gave the keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class PgmqBus(WorkerBus):
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
        heartbeat_interval: Seconds of quiet after which this runner sends a heartbeat.
        heartbeat_timeout: Seconds of silence after which another runner is lost.
        max_pending: Messages waiting to be written before senders wait.
        stop_timeout: Seconds ``stop()`` spends writing what is still queued.
        runner_name: The runner; a ``WorkerRunner`` sets it.
        session_id: The recording session; a ``WorkerRunner`` sets it.

    Raises:
        ValueError: Without ``pgmq`` or ``backend``, or with both, or with a heartbeat
            timeout not longer than the interval.
    """

    carries_fields_text: ClassVar[bool] = True
    replays_gaps: ClassVar[bool] = True

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
        heartbeat_interval: float = 2.0,
        heartbeat_timeout: float = 10.0,
        max_pending: int = 10_000,
        stop_timeout: float = 5.0,
        runner_name: str | None = None,
        session_id: str | None = None,
    ) -> None:
        super().__init__(runner_name=runner_name, session_id=session_id)
        if pgmq is not None and backend is not None:
            raise ValueError("PgmqBus takes pgmq= or backend=, not both")
        if backend is None:
            if pgmq is None:
                raise ValueError("PgmqBus needs pgmq= (a PGMQueue) or backend= (a PgmqBackend)")
            backend = DirectPgmqBackend(pgmq)
        if heartbeat_interval <= 0 or heartbeat_timeout <= heartbeat_interval:
            raise ValueError(
                f"heartbeat_timeout ({heartbeat_timeout}) must be longer than "
                f"heartbeat_interval ({heartbeat_interval}), which must be positive"
            )
        self._backend: PgmqBackend = backend
        self._serializer = serializer
        if channel is None:
            channel = DEFAULT_CHANNEL if serializer is None else PIPECAT_CHANNEL
        self.channel = channel
        self._channel = channel
        self._visibility_timeout = visibility_timeout
        self._batch_size = batch_size
        self._poll_interval_ms = poll_interval_ms
        self._max_poll_seconds = max_poll_seconds
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self._stop_timeout = stop_timeout
        self._counters = Counters()
        self._outbox = Outbox(self._write, self._counters, limit=max_pending, label=str(self))
        self._inbound = Inbound(self, self._counters)
        self._peers = PeerWatch(heartbeat_timeout)
        self._echoes = PendingEchoes(MAX_PENDING_ECHOES, self)
        self._runner_of: Callable[[str], str | None] | None = None
        self._queue_name: str | None = None
        self._reader: QueueReader | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._liveness_task: asyncio.Task[None] | None = None
        self._batching = False
        self._cut_since: float | None = None
        self._cut_error = ""
        self._connected_at = 0.0
        self._broadcasts = 0
        self._own_marker = b""
        self._ack_failures = 0
        self._logged_kinds: set[str] = set()

    # --- public --------------------------------------------------------------------------

    @property
    def queue_name(self) -> str | None:
        """This bus's queue while it runs."""
        return self._queue_name

    @property
    def batches(self) -> bool:
        """Whether writes are batched and the reader is notified (pipebus's backends)."""
        return self._batching

    def set_runner_lookup(self, lookup: Callable[[str], str | None]) -> None:
        """Find a worker's runner with ``lookup`` (a ``WorkerRunner`` installs its registry's).

        With a backend that can name another runner's queue, a message targeted at a
        worker of a known runner then goes to that runner's queue only.
        """
        self._runner_of = lookup

    @property
    def transport_stats(self) -> TransportStats:
        """A snapshot of this bus's transport counters."""
        return self._counters.snapshot(
            pending=self._outbox.pending, connected=self.running and self._cut_since is None
        )

    @property
    def ack_failures(self) -> int:
        """Acknowledgements that failed (the message comes again after its timeout)."""
        return self._ack_failures

    @property
    def peers(self) -> list[str]:
        """The other runners this bus hears from, by name."""
        return self._peers.runners

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the channel (a queue of this bus's own), start reading, then delivering.

        Idempotent.

        Raises:
            TransportError: If PostgreSQL cannot be reached or refuses.
        """
        if self.running:
            return
        self._own_marker = json.dumps(self.runner_name, ensure_ascii=False).encode() + b","
        self._outbox.label = str(self)
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
        self._connected_at = time.monotonic()
        if self._batching:
            self._outbox.start()
        tasks = self.task_manager
        self._reader_task = tasks.create_task(
            self._read_forever(), name=f"pipebus:{self.runner_name}:pgmq-reader"
        )
        if self._serializer is None:
            self._liveness_task = tasks.create_task(
                self._keep_alive(), name=f"pipebus:{self.runner_name}:liveness"
            )
        await super().start()

    async def stop(self) -> None:
        """Say goodbye, write what is queued, stop reading, leave (drop the queue), stop.

        Idempotent. A failure to leave is logged: the queue stays in PostgreSQL.
        """
        if not self.running:
            return
        if self._serializer is None and self._queue_name is not None:
            goodbye = BusRunnerLeftMessage(
                source=self.runner_name, runner=self.runner_name, status="left"
            )
            try:
                await self._put_direct(goodbye)
            except Exception as exc:
                logger.warning("%s could not say goodbye: %s", self, exc)
        if self._batching:
            await self._outbox.close(self._stop_timeout)
        for task in (self._reader_task, self._liveness_task):
            if task is not None:
                await self.task_manager.cancel_task(task, timeout=STOP_TASK_TIMEOUT_S)
        self._reader_task = self._liveness_task = None
        await self._close_reader()
        queue, self._queue_name = self._queue_name, None
        if queue is not None:
            try:
                await self._backend.leave(queue, channel=self.channel)
            except Exception:
                logger.exception("%s: leaving (dropping the queue %r) failed", self, queue)
        self._echoes.give_up("the bus stopped", level=logging.INFO)
        await super().stop()

    async def drain(self) -> None:
        """Wait until what is queued is written, own echoes are back, deliveries are done."""
        await self._outbox.flushed()
        if self._serializer is not None and self.running:
            await self._echoes.wait(ECHO_WAIT_S)
        await super().drain()

    # --- sending ---------------------------------------------------------------------------

    def stamp(
        self, message: BusMessage, *, remote: bool = False, fields_json: str | None = None
    ) -> Envelope:
        """Stamp ``message``, unless its envelope is too large to publish.

        Raises:
            MessageTooLargeError: If a published message's envelope could be over 4 MiB.
        """
        if (
            fields_json is not None
            and len(fields_json) > ROOMY_CHARS
            and delivery_of(type(message)) is Delivery.PUBLISH
        ):
            check_envelope_size(message, fields_json, self.session_id, self.runner_name)
        return super().stamp(message, remote=remote, fields_json=fields_json)

    async def publish(self, message: BusMessage) -> None:
        """Stamp ``message`` and publish it (Pipecat's signature).

        Raises:
            EncodeError: If the message cannot be encoded.
            TransportError: If a backend without batches fails to send it.
        """
        fields_json = encode_message(message) if self._serializer is None else None
        await self.publish_envelope(self.stamp(message, fields_json=fields_json))

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Deliver here first, then send to the other runners' queues.

        With a serializer, the message reaches this runner's subscribers through its own
        queue, as in Pipecat.

        Raises:
            EncodeError: If the message cannot be encoded (it is then not delivered).
            TransportError: If a backend without batches fails to send it.
        """
        if self._serializer is not None:
            await self._publish_serialized(envelope)
            return
        target = envelope.message.target
        to = ""
        if target is not None:
            if self.subscription(target) is not None:
                self.route(envelope)
                return
            lookup = self._runner_of
            runner = lookup(target) if lookup is not None else None
            if runner == self.runner_name:
                self.route(envelope)
                return
            if runner is not None and isinstance(self._backend, BatchingBackend):
                to = self._backend.queue_of(self.channel, runner) or ""
        data = encode_envelope(envelope)
        self.route(envelope)
        await self._send_out(to, data, envelope.message)

    async def _send_out(self, to: str, data: bytes, message: BusMessage) -> None:
        if not to:
            self._broadcasts += 1
        if self._batching:
            outbox = self._outbox
            outbox.put(to, data)
            if outbox.full:
                await outbox.room()
            return
        await self._publish_one(json.loads(data), message)

    async def _publish_one(self, payload: dict[str, Any], message: BusMessage) -> None:
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

    async def _put_direct(self, message: BusMessage) -> None:
        """Stamp and send a liveness message to the other runners (not delivered here)."""
        envelope = self.stamp(message)
        await self._send_out("", encode_envelope(envelope), message)

    async def _publish_serialized(self, envelope: Envelope) -> None:
        message = envelope.message
        assert self._serializer is not None
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
        expecting = self.running and self._queue_name is not None
        if expecting:
            self._echoes.expect(key, envelope)
        try:
            if self._batching:
                self._outbox.put("", text.encode())
                if self._outbox.full:
                    await self._outbox.room()
            else:
                await self._publish_one(payload, message)
        except BaseException:
            if expecting:
                self._echoes.forget(key, envelope)
            raise

    async def _write(self, batch: list[Entry]) -> None:
        backend = self._backend
        queue = self._queue_name
        if queue is None or not isinstance(backend, BatchingBackend):
            raise TransportError(f"{self} has no queue to publish from")
        serialized = self._serializer is not None
        await backend.publish_texts(
            self.channel,
            queue,
            [(to, data.decode()) for to, data in batch],
            as_strings=not serialized,
            include_self=serialized,
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
        if self._serializer is not None:
            self._arrived_serialized(raw)
        else:
            self._on_raw(raw)

    def _on_raw(self, raw: bytes) -> None:
        at = raw.find(RUNNER_KEY, 0, OWN_MARKER_WINDOW)
        if at != -1 and raw.startswith(self._own_marker, at + len(RUNNER_KEY)):
            header = HEADER_TO_RUNNER.match(raw)
            if header is not None and header.end() == at + len(RUNNER_KEY):
                self._counters.own_skipped += 1
                return
        envelope = self._inbound.decode(raw, self.channel)
        if envelope is None:
            return
        runner = envelope.runner
        if runner == self.runner_name:
            self._counters.own_skipped += 1
            return
        self._peers.heard(runner, time.monotonic())
        message = envelope.message
        if type(message) is BusRunnerHeartbeatMessage:
            return  # liveness only: recorded by its sender, delivered to nobody
        if type(message) is BusRunnerLeftMessage and message.runner == runner:
            self._peers.left(runner)
        self._counters.received += 1
        self.receive_envelope(envelope)

    def _arrived_serialized(self, raw: bytes) -> None:
        assert self._serializer is not None
        try:
            key = _canonical(json.loads(raw))
        except ValueError as exc:
            self._drop(raw, "not_json", str(exc))
            return
        envelope = self._echoes.take(key)
        if envelope is not None:
            self._counters.own_skipped += 1
            self.route(envelope)
            return
        try:
            message = self._serializer.deserialize(raw)
        except Exception as exc:  # a serializer is user code: its failure must not end reading
            self._drop(raw, "serializer_error", f"{type(exc).__name__}: {exc}", exc)
            return
        if message is None:
            self._drop(raw, "not_a_message", "the serializer read no message from it")
            return
        self._counters.received += 1
        self.on_message_received(message)

    def _drop(self, raw: bytes, kind: str, reason: str, error: BaseException | None = None) -> None:
        """Count, log (once per kind) and record input the serializer could not read."""
        errors = self._counters.decode_errors
        errors[kind] = errors.get(kind, 0) + 1
        first = kind not in self._logged_kinds
        self._logged_kinds.add(kind)
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "%s skipped %d bytes on %r: %s%s",
            self,
            len(raw),
            self.channel,
            reason,
            "; further inputs like it are logged at DEBUG" if first else "",
            exc_info=error if first else None,
        )
        self.record(
            BusDecodeErrorMessage(
                source=self.runner_name,
                kind=kind,
                error=reason[:500],
                raw_excerpt=raw[:EXCERPT_BYTES].decode("utf-8", "replace"),
                size=len(raw),
                channel=self.channel,
            )
        )

    async def _read_forever(self) -> None:
        backoff = Backoff()
        while True:
            try:
                if self._batching:
                    await self._read_notified()
                else:
                    await self._read_polling()
            except Exception as exc:
                self._cut_off(exc)
            while True:
                await asyncio.sleep(backoff.next())
                try:
                    await self._rejoin()
                    break
                except Exception as exc:
                    logger.debug("%s: reconnecting to PostgreSQL failed: %s", self, exc)
            backoff.reset()
            self._back_on()

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

    async def _rejoin(self) -> None:
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

    def _cut_off(self, error: BaseException) -> None:
        if self._cut_since is None:
            self._cut_since = time.monotonic()
            self._cut_error = f"{type(error).__name__}: {error}"
            logger.warning("%s lost PostgreSQL (%s); reconnecting", self, self._cut_error)

    def _back_on(self) -> None:
        now = time.monotonic()
        seconds = now - (self._cut_since if self._cut_since is not None else now)
        self._cut_since = None
        self._counters.reconnects += 1
        self._counters.seconds_cut_off += seconds
        self._connected_at = now
        self._peers.grace(now)
        logger.warning(
            "%s reads again after %.2fs; what was sent to its queue meanwhile is read now",
            self,
            seconds,
        )
        self.record(
            BusTransportGapMessage(
                source=self.runner_name,
                channel=self.channel,
                seconds=round(seconds, 3),
                error=self._cut_error,
                replayed=self._batching,
            )
        )

    # --- liveness ------------------------------------------------------------------------------

    async def _keep_alive(self) -> None:
        interval = self.heartbeat_interval
        tick = min(interval, self.heartbeat_timeout / 4)
        last_beat = time.monotonic()
        broadcasts = self._broadcasts
        due = last_beat + tick
        while True:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            now = time.monotonic()
            late = now - due
            due = now + tick
            if now - last_beat >= interval:
                if self._broadcasts == broadcasts and not self._outbox.pending:
                    beat = BusRunnerHeartbeatMessage(
                        source=self.runner_name, runner=self.runner_name, interval=interval
                    )
                    try:
                        await self._put_direct(beat)
                    except TransportError as exc:
                        logger.debug("%s: a heartbeat was not sent: %s", self, exc)
                broadcasts = self._broadcasts
                last_beat = now
            if late > tick:  # this loop was blocked: nobody could be heard meanwhile
                self._peers.grace(now)
            elif self._cut_since is None and now - self._connected_at >= self.heartbeat_timeout:
                for runner, silence in self._peers.silent(now):
                    self._runner_lost(runner, silence)

    def _runner_lost(self, runner: str, silence: float) -> None:
        self._counters.runners_lost += 1
        reason = f"silent for {silence:.1f}s (heartbeat timeout {self.heartbeat_timeout:g}s)"
        logger.warning("%s: runner %r is lost: %s", self, runner, reason)
        lost = BusRunnerLeftMessage(
            source=self.runner_name,
            target=self.runner_name,
            runner=runner,
            status="lost",
            reason=reason,
        )
        self.route(self.stamp(lost))

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.runner_name} on {self.channel!r})"


class SerializedPgmqBus(PgmqBus):
    """A :class:`PgmqBus` in Pipecat's wire format: what ``PgmqBus(serializer=...)`` builds."""

    carries_fields_text = False
