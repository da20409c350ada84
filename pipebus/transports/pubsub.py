"""``RedisBus``: runners in several processes or machines share one bus over Redis pub/sub.

Every runner subscribes to the channel and to a channel of its own,
``"<channel>:runner:<name>"``, where messages targeted at its workers arrive. Pub/sub
delivers each message at most once to the runners subscribed at that moment: what is
published while a runner is cut off from Redis is not replayed to it (the bus logs,
counts and records how long it was cut off). Use :class:`RedisStreamBus` when that
matters.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis.asyncio.client import PubSub

from pipebus.transports.base import RedisTransportBus
from pipebus.transports.connection import Redis, translated
from pipebus.transports.outbox import Entry
from pipebus.transports.writer import BatchScript

if TYPE_CHECKING:
    from pipebus.core.serializers import MessageSerializer

IDLE_READ_S = 1.0
"""How long a read waits for a subscription's confirmation before trying again."""

READ_FOREVER = math.inf
"""A read of messages waits without a timer (redis-py: ``math.inf`` blocks until data)."""

SUBSCRIBE_TIMEOUT_S = 10.0
"""How long a subscription may take to be confirmed."""

PUBLISH_SCRIPT = """
for i = 1, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
"""


def _publish_plainly(
    keys: Sequence[str], fixed: list[Any], chunk: list[Any]
) -> list[tuple[Any, ...]]:
    return [("PUBLISH", chunk[i], chunk[i + 1]) for i in range(0, len(chunk), 2)]


async def _as_is(push: Any) -> Any:
    """RESP3 pushes as they are (redis-py's default handler formats each one for a log)."""
    return push


class RedisBus(RedisTransportBus):
    """A bus over Redis pub/sub (at most once), as in Pipecat: same constructor, same use.

    ::

        from redis.asyncio import Redis
        bus = RedisBus(redis=Redis.from_url("redis://localhost:6379"), channel="my-app")
        runner = WorkerRunner(bus=bus)

    Given a ``serializer`` (Pipecat's ``JSONMessageSerializer``, say), the bus built is
    a :class:`~pipebus.transports.serialized.SerializedRedisBus` instead: Pipecat's
    wire format on plain pub/sub, so the runner can talk to Pipecat runners (its
    channel defaults to Pipecat's ``"pipecat:bus"``)::

        bus = RedisBus(redis=redis, channel="my-app", serializer=JSONMessageSerializer())

    Args:
        redis: A ``redis.asyncio.Redis`` client (the bus never closes it).
        channel: The pub/sub channel every runner of the application shares.
        serializer: None (pipebus's own wire format, with trace context), or a
            ``MessageSerializer`` for Pipecat's.
        **options: ``heartbeat_interval``, ``heartbeat_timeout``, ``max_pending``,
            ``stop_timeout``, ``runner_name``, ``session_id``: see
            :class:`~pipebus.transports.transport.TransportBus`. With a serializer:
            ``max_pending_echoes``, ``max_message_bytes``, ``runner_name``,
            ``session_id``: see :class:`~pipebus.transports.serialized.SerializedRedisBus`.
    """

    gap_note = "pub/sub does not replay what was published meanwhile: it is lost to this runner"

    def __new__(cls, *, serializer: MessageSerializer | None = None, **kwargs: Any) -> Any:
        """This bus, or a ``SerializedRedisBus`` when a serializer is given.

        Raises:
            TypeError: If a subclass is given a serializer (it would not be built).
        """
        if serializer is None:
            return super().__new__(cls)
        if cls is not RedisBus:
            raise TypeError(
                f"{cls.__name__} cannot take a serializer: subclass SerializedRedisBus instead"
            )
        from pipebus.transports.serialized import SerializedRedisBus

        return SerializedRedisBus(serializer=serializer, **kwargs)

    def __init__(
        self,
        *,
        redis: Redis,
        channel: str = "pipebus:bus",
        serializer: MessageSerializer | None = None,
        **options: Any,
    ) -> None:
        super().__init__(redis=redis, channel=channel, **options)
        self._pubsub: PubSub | None = None
        self._channels: dict[str, str] = {}
        self._script = BatchScript(PUBLISH_SCRIPT, fixed=0, step=2, plain=_publish_plainly)

    def runner_channel(self, runner: str | None = None) -> str:
        """The channel where messages for ``runner``'s workers go (default: this runner's)."""
        return f"{self.channel}:runner:{runner or self.runner_name}"

    # --- reading -------------------------------------------------------------------------

    async def _connect(self) -> None:
        await self._subscribe()

    async def _reconnect(self) -> None:
        await self._close_pubsub()
        await self._subscribe()

    async def _stop_reading(self) -> None:
        await self._close_pubsub()

    async def _subscribe(self) -> None:
        channels = (self.channel, self.runner_channel())
        pubsub = self._pubsub = self._redis.pubsub(push_handler_func=_as_is)
        async with translated(f"subscribing to {', '.join(channels)}"):
            await pubsub.subscribe(*channels)
            connection: Any = pubsub.connection
            if connection is None:
                raise ConnectionError("the subscription has no connection")
            confirmed = 0
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                while confirmed < len(channels):
                    reply = await connection.read_response(
                        disable_decoding=True,
                        timeout=IDLE_READ_S,
                        disconnect_on_error=False,
                        push_request=True,
                    )
                    if reply is None:
                        continue
                    if reply[0] == b"subscribe":
                        confirmed += 1
                    elif reply[0] == b"message":
                        self._on_raw(reply[2], reply[1])

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed in redis 8
            except Exception:  # the connection is already broken; nothing to save
                pass

    async def _read(self) -> None:
        pubsub = self._pubsub
        connection: Any = pubsub.connection if pubsub is not None else None
        if connection is None:
            raise ConnectionError("not subscribed")
        read = connection.read_response
        received = self._on_raw
        task = asyncio.current_task()
        while True:
            reply = await read(
                disable_decoding=True,
                timeout=READ_FOREVER,
                disconnect_on_error=False,
                push_request=True,
            )
            if task is not None and task.cancelling():
                raise asyncio.CancelledError  # redis-py may return a reply that raced a cancel
            if reply is not None and reply[0] == b"message":
                received(reply[2], reply[1])

    # --- writing -------------------------------------------------------------------------

    async def _write(self, batch: list[Entry]) -> None:
        args: list[Any] = []
        append = args.append
        channel = self.channel
        channels = self._channels
        for to, data in batch:
            if to:
                target_channel = channels.get(to)
                if target_channel is None:
                    target_channel = channels[to] = self.runner_channel(to)
                append(target_channel)
            else:
                append(channel)
            append(data)
        await self._script.run(self._writer, (), args)
