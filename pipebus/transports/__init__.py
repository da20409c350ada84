"""Transports between runners in several processes or machines: Redis pub/sub and streams.

``RedisBus`` (pub/sub, at most once), ``RedisStreamBus`` (a stream: durable and
resumable) and ``SerializedRedisBus`` (pub/sub in Pipecat's wire format, what
``RedisBus(serializer=...)`` builds) load on first use, so ``redis`` is imported only by
programs that use one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipebus.transports.pubsub import RedisBus
    from pipebus.transports.serialized import SerializedRedisBus
    from pipebus.transports.stats import TransportStats
    from pipebus.transports.stream import RedisStreamBus

__all__ = ["RedisBus", "RedisStreamBus", "SerializedRedisBus", "TransportStats"]

_WHERE = {
    "RedisBus": "pipebus.transports.pubsub",
    "RedisStreamBus": "pipebus.transports.stream",
    "SerializedRedisBus": "pipebus.transports.serialized",
    "TransportStats": "pipebus.transports.stats",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
