"""``SerializedRedisBus``: Pipecat's Redis pub/sub bus, carrying a ``MessageSerializer``'s bytes.

This is what ``RedisBus(redis=..., channel=..., serializer=...)`` builds. It speaks
Pipecat's wire format on plain pub/sub, so pipebus runners and Pipecat runners can
share a channel. As in Pipecat, :meth:`~pipebus.bus.base.WorkerBus.send` publishes at
once (even before :meth:`SerializedRedisBus.start`), and every message, this bus's own
included, reaches local subscribers through the round trip to Redis.

What differs from Pipecat: a message sent here is recorded once. It is stamped on
send; its echo (the very bytes published) is delivered under that envelope instead
of being stamped again. A message whose bytes are over ``max_message_bytes`` (4 MiB
unless told) is refused by ``send()`` before it is stamped: Redis drops every
subscriber whose buffer a message overflows. Input the serializer cannot read is
counted, logged and recorded, never fatal; a lost subscription is taken up again with
backoff.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio.client import PubSub

from pipebus.bus.base import WorkerBus
from pipebus.core.envelope import Envelope
from pipebus.core.errors import BusError
from pipebus.core.messages import BusMessage, BusTransportGapMessage
from pipebus.core.routing import Delivery, delivery_of
from pipebus.transports.backoff import Backoff
from pipebus.transports.connection import CONNECTION_ERRORS, translated
from pipebus.transports.echoes import PendingEchoes
from pipebus.transports.limits import MAX_MESSAGE_BYTES, too_large
from pipebus.transports.serialized_input import Arrival, SerializedInput

if TYPE_CHECKING:
    from pipebus.core.serializers import MessageSerializer

logger = logging.getLogger("pipebus.transports")

DEFAULT_CHANNEL = "pipecat:bus"
"""Pipecat's default channel: a ported runner meets Pipecat runners without naming one."""

MAX_PENDING_ECHOES = 10_000
"""Sent messages whose echo this bus waits for, at most (the oldest is given up first)."""

SUBSCRIBE_TIMEOUT_S = 10.0
"""How long Redis may take to confirm a subscription."""

IDLE_READ_S = 1.0
"""How long one wait for the confirmation lasts before waiting again."""

ECHO_WAIT_S = 5.0
"""How long :meth:`SerializedRedisBus.drain` waits for sent messages to come back."""

RELEASE_TIMEOUT_S = 1.0
"""How long unsubscribing may take on stop (Redis may be gone)."""


class PubSubLike(Protocol):
    """What the bus uses of a subscription: redis-py's ``PubSub``, or a test double.

    ``listen()`` yields redis-py's dicts; the bus reads those with ``"type": "message"``
    and their ``"data"``. A ``close()`` or ``aclose()`` method, if present, is called
    on stop.
    """

    def subscribe(self, *channels: str) -> Any:
        """Subscribe to ``channels`` (awaited)."""

    def unsubscribe(self, *channels: str) -> Any:
        """Unsubscribe from ``channels`` (awaited)."""

    def listen(self) -> AsyncIterator[Mapping[str, Any]]:
        """What arrives on the subscribed channels, in order."""


class RedisLike(Protocol):
    """What the bus uses of a client: redis-py's ``redis.asyncio.Redis``, or a test double."""

    def publish(self, channel: str, message: bytes) -> Any:
        """Publish ``message`` on ``channel`` (awaited)."""

    def pubsub(self) -> PubSubLike:
        """A new subscription object."""


@dataclass(frozen=True, slots=True)
class SerializedBusStats:
    """A snapshot of a :class:`SerializedRedisBus`'s counters (``bus.transport_stats``).

    Attributes:
        published: Messages written to Redis.
        echoes: Own messages that came back and were delivered under their envelope.
        pending_echoes: Own messages published while running whose echo has not come yet.
        unechoed: Own messages whose echo was given up on (waited for too long, too
            many waiting, or the subscription was lost): never delivered here.
        dropped: Inputs the serializer could not read (it returned None or raised).
        reconnects: Times the subscription was taken up again after being lost.
        connected: Whether the bus is subscribed now.
    """

    published: int
    echoes: int
    pending_echoes: int
    unechoed: int
    dropped: int
    reconnects: int
    connected: bool


class SerializedRedisBus(WorkerBus):
    """A bus over Redis pub/sub in Pipecat's wire format; see the module docstring.

    ::

        from redis.asyncio import Redis
        from pipebus import JSONMessageSerializer, RedisBus
        bus = RedisBus(redis=Redis(), channel="my-app", serializer=JSONMessageSerializer())

    Args:
        redis: A ``redis.asyncio.Redis`` client, or any object with ``publish()`` and
            ``pubsub()`` alike (the bus never closes it).
        serializer: Turns messages into the bytes on the channel, and back.
        channel: The pub/sub channel every runner shares (Pipecat's default).
        max_pending_echoes: How many sent messages may wait for their echo at once.
        max_message_bytes: The most bytes one message may take; ``send()`` refuses a
            larger one. Raise it (on the senders) only within what Redis lets every
            subscriber buffer: ``client-output-buffer-limit pubsub``, whose hard limit
            (32 MiB by default) drops the subscriber, messages queued for it included.
        runner_name: The runner; a ``WorkerRunner`` sets it.
        session_id: The recording session; a ``WorkerRunner`` sets it.

    Raises:
        ValueError: If ``max_pending_echoes`` or ``max_message_bytes`` is not positive.
    """

    def __init__(
        self,
        *,
        redis: RedisLike,
        serializer: MessageSerializer,
        channel: str = DEFAULT_CHANNEL,
        max_pending_echoes: int = MAX_PENDING_ECHOES,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        runner_name: str | None = None,
        session_id: str | None = None,
    ) -> None:
        super().__init__(runner_name=runner_name, session_id=session_id)
        if max_message_bytes < 1:
            raise ValueError(f"max_message_bytes must be positive, not {max_message_bytes}")
        self.max_message_bytes = max_message_bytes
        self._serialized: dict[int, bytes] = {}
        self._redis = redis
        self._serializer = serializer
        self.channel = channel
        self._pubsub: PubSubLike | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._echoes = PendingEchoes(max_pending_echoes, self)
        self._input = SerializedInput(self, channel, serializer, self._echoes, self._count_drop)
        self._published = 0
        self._echoed = 0
        self._dropped = 0
        self._reconnects = 0

    @property
    def transport_stats(self) -> SerializedBusStats:
        """A snapshot of this bus's transport counters."""
        return SerializedBusStats(
            published=self._published,
            echoes=self._echoed,
            pending_echoes=self._echoes.pending,
            unechoed=self._echoes.given_up,
            dropped=self._dropped,
            reconnects=self._reconnects,
            connected=self.running and self._pubsub is not None,
        )

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe, start the reader, then start delivering. Idempotent.

        Raises:
            TransportError: If Redis cannot be reached.
        """
        if self.running:
            return
        self._pubsub = await self._subscribe()
        self._reader_task = self.task_manager.create_task(
            self._read_forever(), name=f"pipebus:{self.runner_name}:serialized-reader"
        )
        await super().start()

    async def stop(self) -> None:
        """Stop reading, unsubscribe, then stop delivering. Idempotent.

        Sent messages whose echo has not come back are given up: they are never
        delivered here.
        """
        if not self.running:
            return
        task, self._reader_task = self._reader_task, None
        if task is not None:
            await self.task_manager.cancel_task(task, timeout=RELEASE_TIMEOUT_S)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await _release(pubsub, self.channel, unsubscribe=True)
        if task is not None and not task.done():
            await asyncio.wait({task})  # closing the subscription ended a read that hung
        self._echoes.give_up("the bus stopped", level=logging.INFO)
        await super().stop()

    async def drain(self) -> None:
        """Wait until sent messages have come back and every delivery is done.

        A message that does not come back within a few seconds (lost by pub/sub) is
        given up, with a warning, so this always returns.

        Raises:
            BusError: If the bus is not running.
        """
        if not self.running:
            raise BusError("drain() needs a running bus: call start() first")
        while True:
            await self._echoes.wait(ECHO_WAIT_S)
            await super().drain()
            if not self._echoes.pending:  # handlers may have sent more meanwhile
                return

    # --- sending -------------------------------------------------------------------------

    async def send(self, message: BusMessage) -> None:
        """Send ``message`` (see :meth:`WorkerBus.send`), serialized before it is stamped.

        Raises:
            EncodeError: If the serializer cannot write the message.
            MessageTooLargeError: If its bytes are over ``max_message_bytes``.
            TransportError: If Redis refuses or cannot be reached.
        """
        if delivery_of(type(message)) is not Delivery.PUBLISH:
            await super().send(message)
            return
        # Serialized first, so that a message this bus refuses is never stamped and
        # recorded; publish_envelope() takes these bytes (stamping does not await).
        key = id(message)
        self._serialized[key] = self._serialize(message)
        try:
            await super().send(message)
        finally:
            self._serialized.pop(key, None)

    async def publish(self, message: BusMessage) -> None:
        """Stamp ``message`` and publish it (Pipecat's signature).

        Raises:
            EncodeError: If the serializer cannot write the message.
            MessageTooLargeError: If its bytes are over ``max_message_bytes``.
            TransportError: If Redis refuses or cannot be reached.
        """
        data = self._serialize(message)
        await self._publish(self.stamp(message), data)

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Publish the serialized message now; it is delivered here when it comes back.

        Raises:
            EncodeError: If the serializer cannot write the message.
            MessageTooLargeError: If its bytes are over ``max_message_bytes``.
            TransportError: If Redis refuses or cannot be reached.
        """
        message = envelope.message
        data = self._serialized.pop(id(message), None)
        await self._publish(envelope, self._serialize(message) if data is None else data)

    def _serialize(self, message: BusMessage) -> bytes:
        data = self._serializer.serialize(message)
        if len(data) > self.max_message_bytes:
            raise too_large(
                message,
                len(data),
                self.max_message_bytes,
                f"as {type(self._serializer).__name__} writes it",
                "raise the limit with RedisBus(..., serializer=..., max_message_bytes=N) on "
                "the senders, within what Redis lets a subscriber buffer "
                "(client-output-buffer-limit pubsub, 32 MiB by default), or send large "
                "data by reference",
                "Redis",
            )
        return data

    async def _publish(self, envelope: Envelope, data: bytes) -> None:
        with self._echoes.expected(data, envelope, when=self.running and self._pubsub is not None):
            async with translated(f"publishing to {self.channel!r}"):
                await self._redis.publish(self.channel, data)
        self._published += 1

    # --- receiving -----------------------------------------------------------------------

    def _arrived(self, data: object) -> None:
        """One item from the channel: this bus's own echo, or another runner's message."""
        if isinstance(data, str):  # a client made with decode_responses=True
            data = data.encode()
        if not isinstance(data, bytes):
            self._input.drop(b"", "not_bytes", f"the data is {type(data).__name__}, not bytes")
            return
        if self._input.arrived(data, data) is Arrival.ECHO:
            self._echoed += 1

    def _count_drop(self, kind: str) -> None:
        self._dropped += 1

    async def _read_forever(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._read()
                error: BaseException = ConnectionError("the subscription ended")
            except CONNECTION_ERRORS as exc:
                error = exc
            except Exception as exc:
                logger.exception("%s: reading from Redis failed", self)
                error = exc
            cut_at = time.monotonic()
            reason = f"{type(error).__name__}: {error}"
            logger.warning("%s lost its subscription (%s); subscribing again", self, reason)
            pubsub, self._pubsub = self._pubsub, None
            self._echoes.give_up("the subscription was lost")
            if pubsub is not None:
                await _release(pubsub, self.channel, unsubscribe=False)
            while True:
                await asyncio.sleep(backoff.next())
                try:
                    self._pubsub = await self._subscribe()
                    break
                except Exception as exc:
                    logger.debug("%s: subscribing again failed: %s", self, exc)
            backoff.reset()
            self._back_on(time.monotonic() - cut_at, reason)

    async def _read(self) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            raise ConnectionError("not subscribed")
        async for item in pubsub.listen():
            if item.get("type") == "message":
                self._arrived(item.get("data"))

    async def _subscribe(self) -> PubSubLike:
        pubsub = self._redis.pubsub()
        try:
            async with translated(f"subscribing to {self.channel!r}"):
                await pubsub.subscribe(self.channel)
                if isinstance(pubsub, PubSub):
                    await _confirmed(pubsub)
        except BaseException:
            await _release(pubsub, self.channel, unsubscribe=False)
            raise
        return pubsub

    def _back_on(self, seconds: float, reason: str) -> None:
        self._reconnects += 1
        logger.warning(
            "%s subscribed again after %.2fs; pub/sub does not replay what was published "
            "meanwhile: it is lost to this runner",
            self,
            seconds,
        )
        self.record(
            BusTransportGapMessage(
                source=self.runner_name,
                channel=self.channel,
                seconds=round(seconds, 3),
                error=reason,
                replayed=False,
            )
        )

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.runner_name} on {self.channel!r})"


async def _confirmed(pubsub: PubSub) -> None:
    """Wait for Redis to confirm the subscription, so a publish right after start is heard.

    redis-py's ``subscribe`` only sends the command; a message another connection
    publishes before Redis has read it would be missed.
    """
    async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
        while True:
            item = await pubsub.get_message(timeout=IDLE_READ_S)
            if item is not None and item.get("type") == "subscribe":
                return


async def _release(pubsub: PubSubLike, channel: str, *, unsubscribe: bool) -> None:
    """Unsubscribe (if asked, briefly: Redis may be gone) and close; failures are logged."""
    if unsubscribe:
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT_S):
                await pubsub.unsubscribe(channel)
        except Exception as exc:
            logger.debug("unsubscribing from %r failed: %s", channel, exc)
    close = getattr(pubsub, "aclose", None) or getattr(pubsub, "close", None)
    if close is None:
        return
    try:
        closing = close()
        if inspect.isawaitable(closing):
            await closing
    except Exception as exc:  # the connection may be broken already; nothing to save
        logger.debug("closing the subscription to %r failed: %s", channel, exc)
