"""The bus contract, run against every bus: AsyncQueueBus, RedisBus and RedisStreamBus."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from pipebus import (
    AsyncQueueBus,
    BusDataMessage,
    BusError,
    BusHandlerErrorMessage,
    BusLocalMessage,
    RedisBus,
    WorkerBus,
)
from pipebus.testing import EnvelopeCapture
from pipebus.transports import RedisStreamBus
from tests.services import need_redis
from tests.transports.helpers import Alarm, Note, Sink


@dataclass
class LocalNote(BusDataMessage, BusLocalMessage, wire_name="ttest.LocalNote"):
    n: int = 0


@pytest.fixture(params=["async_queue", "redis", "redis_stream"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[WorkerBus]:
    """One bus of each kind (the Redis ones on a channel of their own)."""
    if request.param == "async_queue":
        made: WorkerBus = AsyncQueueBus()
        yield made
        await made.stop()
        return
    client = Redis.from_url(need_redis())
    channel = f"pipebus-test:{secrets.token_hex(6)}"
    made = (RedisBus if request.param == "redis" else RedisStreamBus)(redis=client, channel=channel)
    yield made
    await made.stop()
    await client.delete(channel, f"{channel}:positions")
    await client.aclose()


class WorkerLikeSink(Sink):
    """Wants broadcasts and its own targeted messages only, as workers do."""

    receives_all_messages = False


async def test_a_broadcast_reaches_every_subscriber_and_a_targeted_one_its_target(
    bus: WorkerBus,
) -> None:
    first, second = WorkerLikeSink("first"), WorkerLikeSink("second")
    await bus.subscribe(first)
    await bus.subscribe(second)
    await bus.start()
    await bus.send(Note(source="x", n=1))
    await bus.send(Note(source="x", target="second", n=2))
    await bus.drain()
    assert first.numbers() == [1]
    assert second.numbers() == [1, 2]


async def test_system_messages_go_ahead_of_queued_data(bus: WorkerBus) -> None:
    sink = Sink("sink")
    await bus.subscribe(sink)
    for i in range(3):  # sent before start: queued
        await bus.send(Note(source="x", n=i))
    await bus.send(Alarm(source="x", n=99))
    await bus.start()
    await bus.drain()
    assert sink.numbers()[0] == 99 and sorted(sink.numbers()[1:]) == [0, 1, 2]


async def test_local_and_record_only_messages_stay_on_the_bus(bus: WorkerBus) -> None:
    sink = Sink("sink")
    capture = EnvelopeCapture(bus)
    await bus.subscribe(sink)
    await bus.start()
    await bus.send(LocalNote(source="x", n=5))
    bus.record(
        BusHandlerErrorMessage(
            source="x", message_id=None, handler="h", error_type="E", error="boom"
        )
    )
    await bus.drain()
    assert [type(m) for m in sink.got] == [LocalNote]
    assert capture.type_names() == ["LocalNote", "BusHandlerErrorMessage"]
    stats = getattr(bus, "transport_stats", None)
    assert stats is None or stats.published == 0


async def test_start_and_stop_are_idempotent_and_drain_needs_a_running_bus(bus: WorkerBus) -> None:
    with pytest.raises(BusError):
        await bus.drain()
    await bus.start()
    await bus.start()
    assert bus.running
    await bus.stop()
    await bus.stop()
    assert not bus.running
    await asyncio.sleep(0)
