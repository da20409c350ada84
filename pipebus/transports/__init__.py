"""Transports between runners in several processes or machines: Redis, and PGMQ queues.

``RedisBus`` (pub/sub, at most once), ``RedisStreamBus`` (a stream: durable and
resumable), ``SerializedRedisBus`` (pub/sub in Pipecat's wire format, what
``RedisBus(serializer=...)`` builds), ``PgmqBus`` (a queue per runner in PostgreSQL, at
least once) and ``SerializedPgmqBus`` load on first use, so ``redis`` is imported only by
programs that use one. ``BusNetwork`` links several buses in one process the same way,
without Redis, to run and test several runners together.

May import: pipebus.tracing, pipebus.eventlog, pipebus.live, pipebus.projections,
pipebus.bus, pipebus.core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipebus.bus.network import BusNetwork, NetworkBus
    from pipebus.transports.pgmq import PgmqBus, SerializedPgmqBus
    from pipebus.transports.pubsub import RedisBus
    from pipebus.transports.serialized import SerializedRedisBus
    from pipebus.transports.stats import TransportStats
    from pipebus.transports.stream import RedisStreamBus

__all__ = [
    "BusNetwork",
    "NetworkBus",
    "PgmqBus",
    "RedisBus",
    "RedisStreamBus",
    "SerializedPgmqBus",
    "SerializedRedisBus",
    "TransportStats",
]

_WHERE = {
    "BusNetwork": "pipebus.bus.network",
    "NetworkBus": "pipebus.bus.network",
    "PgmqBus": "pipebus.transports.pgmq",
    "RedisBus": "pipebus.transports.pubsub",
    "RedisStreamBus": "pipebus.transports.stream",
    "SerializedPgmqBus": "pipebus.transports.pgmq",
    "SerializedRedisBus": "pipebus.transports.serialized",
    "TransportStats": "pipebus.transports.stats",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
