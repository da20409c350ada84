"""Fixtures for the Redis bus tests: the test Redis, a channel of each test's own, buses."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from pipebus import RedisBus
from pipebus.core.serializers import JSONMessageSerializer
from pipebus.transports import RedisStreamBus
from pipebus.transports.base import RedisTransportBus
from tests.services import need_redis


@pytest.fixture
def redis_url() -> str:
    """The test Redis (the test skips, or fails in CI, without one)."""
    return need_redis()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the test Redis, closed after the test."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def channel(redis: Redis) -> AsyncIterator[str]:
    """A channel name no other test uses; its stream and keys are deleted afterwards."""
    name = f"pipebus-test:{secrets.token_hex(6)}"
    yield name
    keys = [key async for key in redis.scan_iter(match=f"{name}*")]
    if keys:
        await redis.delete(*keys)


BUS_TYPES = {"pubsub": RedisBus, "stream": RedisStreamBus}


@pytest.fixture(params=sorted(BUS_TYPES))
def bus_type(request: pytest.FixtureRequest) -> type[RedisTransportBus]:
    """Each Redis bus in turn: the same test runs on pub/sub and on streams."""
    return BUS_TYPES[request.param]


@pytest.fixture
async def make_bus(
    redis: Redis, channel: str, bus_type: type[RedisTransportBus]
) -> AsyncIterator[Callable[..., RedisTransportBus]]:
    """``make_bus(runner_name, **options)``: a bus of this test's kind on its channel."""
    made: list[RedisTransportBus] = []

    def make(runner_name: str | None = None, **options: Any) -> RedisTransportBus:
        bus = bus_type(redis=redis, channel=channel, runner_name=runner_name, **options)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.stop()


RUNNER_BUS_KINDS = ("pubsub", "serialized", "stream")
"""Every Redis bus a runner can use: RedisBus, RedisBus(serializer=...), RedisStreamBus."""


@pytest.fixture(params=RUNNER_BUS_KINDS)
async def runner_bus(
    redis: Redis, channel: str, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Any]]:
    """``runner_bus(**options)``: a new bus of each Redis kind in turn, on this test's channel.

    Options go to the bus's constructor; the buses are stopped after the test.
    """
    kind: str = request.param
    made: list[Any] = []

    def make(**options: Any) -> Any:
        if kind == "serialized":
            options.setdefault("serializer", JSONMessageSerializer())
            bus = RedisBus(redis=redis, channel=channel, **options)
        else:
            bus = BUS_TYPES[kind](redis=redis, channel=channel, **options)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.stop()
