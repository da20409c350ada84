"""What both Redis buses share: a Redis client, the pipelined writer, Redis's errors.

Everything else (local delivery first, the outbox, decoding, liveness, gaps) is the
:class:`~pipebus.transports.transport.TransportBus`'s; :class:`RedisBus` and
:class:`RedisStreamBus` implement reading and writing.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from pipebus.transports.connection import CONNECTION_ERRORS, Redis
from pipebus.transports.transport import TransportBus
from pipebus.transports.writer import Writer


class RedisTransportBus(TransportBus):
    """Base of :class:`RedisBus` and :class:`RedisStreamBus`.

    Args:
        redis: A ``redis.asyncio.Redis`` client. The bus writes through it and reads on
            a connection of its pool; the client stays yours to close.
        channel: The name every runner of one application shares.
        **options: ``heartbeat_interval``, ``heartbeat_timeout``, ``max_pending``,
            ``stop_timeout``, ``runner_name``, ``session_id``: see
            :class:`~pipebus.transports.transport.TransportBus`.

    Raises:
        ValueError: If the heartbeat timeout is not longer than the interval.
    """

    transport_name: ClassVar[str] = "Redis"
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = CONNECTION_ERRORS

    def __init__(self, *, redis: Redis, channel: str, **options: Any) -> None:
        super().__init__(channel=channel, **options)
        self._redis = redis
        self._writer = Writer(redis)

    @abstractmethod
    async def _stop_reading(self) -> None:
        """Stop reading and release the reader's connection."""

    async def _disconnect(self) -> None:
        await self._writer.close()
        await self._stop_reading()
