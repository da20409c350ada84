"""RedisBus with a serializer: Pipecat's wire format on real Redis pub/sub, recorded once."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from pipebus import (
    BaseWorker,
    BusAddWorkerMessage,
    BusDataMessage,
    BusDecodeErrorMessage,
    BusJobRequestMessage,
    BusMessage,
    BusTransportGapMessage,
    RedisBus,
    TaskManager,
    TaskManagerParams,
    WorkerRunner,
)
from pipebus.bus.context import ActiveDelivery
from pipebus.core.serializers import JSONMessageSerializer, MessageSerializer
from pipebus.testing import EnvelopeCapture, running, until
from pipebus.transports.serialized import SerializedRedisBus
from tests.transports.helpers import Note, Sink

MakeBus = Callable[..., SerializedRedisBus]

PIPECAT_DATA_MESSAGE = (
    b'{"__type__":"pipecat.bus.messages.BusDataMessage","__data__":'
    b'{"id":7,"name":"BusDataMessage#7","source":"pipecat-runner","target":"sink"}}'
)
"""A message as Pipecat's JSONMessageSerializer writes it (ids and names included)."""


@pytest.fixture
async def make_bus(redis: Redis, channel: str) -> AsyncIterator[MakeBus]:
    """``make_bus(runner_name, **options)``: a serialized RedisBus on this test's channel."""
    made: list[SerializedRedisBus] = []

    def make(runner_name: str | None = None, **options: Any) -> SerializedRedisBus:
        options.setdefault("redis", redis)
        options.setdefault("serializer", JSONMessageSerializer())
        bus = RedisBus(channel=channel, runner_name=runner_name, **options)
        assert isinstance(bus, SerializedRedisBus)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.stop()


@pytest.fixture
async def listener(redis: Redis, channel: str) -> AsyncIterator[PubSub]:
    """A raw redis-py subscription to the test's channel, confirmed before the test runs."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel)
    async with asyncio.timeout(5):
        while (await pubsub.get_message(timeout=1.0) or {}).get("type") != "subscribe":
            pass
    yield pubsub
    await pubsub.aclose()


async def next_data(pubsub: PubSub, timeout: float = 5.0) -> bytes:
    """The data of the next message on a raw subscription."""
    async with asyncio.timeout(timeout):
        while True:
            item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if item is not None and item["type"] == "message":
                data: bytes = item["data"]
                return data


class DeliveryLog:
    """A delivery tap: the envelope each message was delivered under."""

    def __init__(self) -> None:
        self.message_ids: list[str] = []

    def on_delivery(
        self, delivery: ActiveDelivery, end_ns: int, error: BaseException | None
    ) -> None:
        self.message_ids.append(delivery.envelope.message_id)


# --- construction --------------------------------------------------------------------


def test_a_serializer_makes_redisbus_build_the_serialized_bus(redis: Redis) -> None:
    serializer = JSONMessageSerializer()
    bus = RedisBus(redis=redis, serializer=serializer, runner_name="r", session_id="s")
    assert type(bus) is SerializedRedisBus
    assert bus.channel == "pipecat:bus"  # Pipecat's default, to meet Pipecat runners
    assert (bus.runner_name, bus.session_id) == ("r", "s")
    plain = RedisBus(redis=redis)
    assert type(plain) is RedisBus and plain.channel == "pipebus:bus"
    assert type(RedisBus(redis=redis, serializer=None)) is RedisBus


def test_a_subclass_of_redisbus_refuses_a_serializer(redis: Redis) -> None:
    class Mine(RedisBus):
        pass

    with pytest.raises(TypeError, match="subclass SerializedRedisBus"):
        Mine(redis=redis, serializer=JSONMessageSerializer())


# --- real Redis --------------------------------------------------------------------------


async def test_a_message_goes_through_redis_as_the_serializers_bytes(
    make_bus: MakeBus, listener: PubSub
) -> None:
    bus = make_bus("a")
    sink = Sink("sink")
    await bus.subscribe(sink)
    await bus.start()
    note = Note(source="x", n=1)
    await bus.send(note)
    assert await next_data(listener) == JSONMessageSerializer().serialize(note)
    assert [m.n for m in await sink.has(1)] == [1]  # type: ignore[attr-defined]
    await bus.drain()
    stats = bus.transport_stats
    assert (stats.published, stats.echoes, stats.pending_echoes) == (1, 1, 0)


async def test_own_messages_are_recorded_once_and_delivered_under_their_envelope(
    make_bus: MakeBus,
) -> None:
    bus = make_bus("a")
    capture = EnvelopeCapture(bus)
    deliveries = DeliveryLog()
    bus.add_delivery_tap(deliveries)
    sink = Sink("sink")
    await bus.subscribe(sink)
    await bus.start()
    for _ in range(3):  # identical messages: identical bytes on the wire
        await bus.send(Note(source="x", n=5))
    await bus.send(Note(source="x", n=6))
    await bus.drain()
    assert sink.numbers() == [5, 5, 5, 6]
    assert len(capture.envelopes) == 4  # one per send, none for the echoes
    assert not any(e.remote for e in capture.envelopes)
    assert deliveries.message_ids == [e.message_id for e in capture.envelopes]
    assert bus.stats.received == 0 and bus.transport_stats.echoes == 4


async def test_two_runners_on_one_channel_run_a_job_across(make_bus: MakeBus) -> None:
    class Echo(BaseWorker):
        async def on_job_request(self, message: BusJobRequestMessage) -> None:
            await self.send_job_response(message.job_id, {"from": self.name, **message.payload})

    first = WorkerRunner(name="first", bus=make_bus(), event_log=None, handle_sigint=False)
    second = WorkerRunner(name="second", bus=make_bus(), event_log=None, handle_sigint=False)
    asker = BaseWorker("asker")
    await first.add_workers(asker)
    await second.add_workers(Echo("echo"))
    async with running(second), running(first):
        await until(lambda: "echo" in first.registry and "asker" in second.registry)
        async with asker.job("echo", payload={"q": 1}, timeout=5) as job:
            pass
        assert job.response == {"from": "echo", "q": 1}


async def test_a_message_in_pipecats_json_from_raw_redis_is_delivered(
    make_bus: MakeBus, redis: Redis, channel: str
) -> None:
    bus = make_bus("a")
    capture = EnvelopeCapture(bus)
    sink = Sink("sink")
    await bus.subscribe(sink)
    await bus.start()
    await redis.publish(channel, PIPECAT_DATA_MESSAGE)
    [message] = await sink.has(1)
    assert type(message) is BusDataMessage
    assert (message.source, message.target) == ("pipecat-runner", "sink")
    [envelope] = capture.envelopes
    assert envelope.remote and envelope.message is message
    assert bus.stats.received == 1


async def test_unreadable_input_is_counted_recorded_and_skipped(
    make_bus: MakeBus, redis: Redis, channel: str
) -> None:
    bus = make_bus("a")
    capture = EnvelopeCapture(bus)
    sink = Sink("sink")
    await bus.subscribe(sink)
    await bus.start()
    await redis.publish(channel, b"\xff\x00 not json")
    await redis.publish(channel, b'{"__type__":"nowhere.Unknown","__data__":{}}')
    await redis.publish(channel, PIPECAT_DATA_MESSAGE)
    [message] = await sink.has(1)
    assert message.source == "pipecat-runner"
    assert bus.transport_stats.dropped == 2
    errors = capture.of_type(BusDecodeErrorMessage)
    assert [e.kind for e in errors] == ["not_a_message", "not_a_message"]
    assert errors[0].size == len(b"\xff\x00 not json") and errors[0].channel == channel


class FussySerializer(JSONMessageSerializer):
    """Raises on input starting with ``!``, as a user's serializer might."""

    def deserialize(self, data: bytes) -> BusMessage | None:
        if data.startswith(b"!"):
            raise RuntimeError("cannot read this")
        return super().deserialize(data)


async def test_a_serializer_that_raises_does_not_end_the_reader(
    make_bus: MakeBus, redis: Redis, channel: str
) -> None:
    bus = make_bus("a", serializer=FussySerializer())
    capture = EnvelopeCapture(bus)
    sink = Sink("sink")
    await bus.subscribe(sink)
    await bus.start()
    await redis.publish(channel, b"!boom")
    await redis.publish(channel, PIPECAT_DATA_MESSAGE)
    await sink.has(1)
    [error] = capture.of_type(BusDecodeErrorMessage)
    assert error.kind == "serializer_error" and "RuntimeError: cannot read this" in error.error
    assert bus.transport_stats.dropped == 1


async def test_local_only_messages_never_reach_redis(make_bus: MakeBus, listener: PubSub) -> None:
    bus = make_bus("a")
    sink = Sink("sink")
    await bus.subscribe(sink)
    await bus.start()
    await bus.send(BusAddWorkerMessage(source="x", worker=BaseWorker("w")))
    await bus.send(Note(source="x", n=1))
    # The first thing on the channel is the note: the local message never went out.
    assert await next_data(listener) == JSONMessageSerializer().serialize(Note(source="x", n=1))
    await bus.drain()
    assert [type(m) for m in sink.got] == [BusAddWorkerMessage, Note]
    assert bus.transport_stats.published == 1


async def test_send_before_start_publishes_at_once_and_keeps_nothing(
    make_bus: MakeBus, listener: PubSub
) -> None:
    bus = make_bus("a")
    note = Note(source="x", n=1)
    await bus.send(note)
    assert await next_data(listener) == JSONMessageSerializer().serialize(note)
    assert bus.transport_stats.pending_echoes == 0


async def test_start_and_stop_set_and_clear_the_subscription_and_the_reader(
    make_bus: MakeBus,
) -> None:
    bus = make_bus("a")
    sink = Sink("sink")
    await bus.subscribe(sink)
    assert bus._pubsub is None and bus._reader_task is None
    await bus.start()
    assert bus._pubsub is not None and bus._reader_task is not None
    reader = bus._reader_task
    await bus.stop()
    assert bus._pubsub is None and bus._reader_task is None
    assert reader.done() and not bus.transport_stats.connected
    await bus.start()  # and it starts again
    await bus.send(Note(source="x", n=2))
    assert sink.numbers() == [] and [m.n for m in await sink.has(1)] == [2]  # type: ignore[attr-defined]


async def test_a_lost_subscription_is_taken_up_again(
    redis_url: str, make_bus: MakeBus, redis: Redis
) -> None:
    name = f"pipebus-test-{secrets.token_hex(4)}"
    # No retries inside redis-py: the bus itself notices the cut and subscribes again.
    client = Redis.from_url(redis_url, client_name=name, retry=Retry(NoBackoff(), 0))
    try:
        bus = make_bus("a", redis=client)
        capture = EnvelopeCapture(bus)
        sink = Sink("sink")
        await bus.subscribe(sink)
        await bus.start()
        clients = await redis.client_list()
        [subscriber] = [c for c in clients if c["name"] == name and c["sub"] != "0"]
        await redis.client_kill_filter(_id=subscriber["id"])
        await until(lambda: bus.transport_stats.reconnects == 1, timeout=10)
        await bus.send(Note(source="x", n=3))
        assert [m.n for m in await sink.has(1)] == [3]  # type: ignore[attr-defined]
        [gap] = capture.of_type(BusTransportGapMessage)
        assert not gap.replayed and gap.error
        await bus.stop()
    finally:
        await client.aclose()


# --- a duck-typed client ---------------------------------------------------------------


class FakePubSub:
    """Only what a subscription needs: subscribe, unsubscribe, listen, close."""

    def __init__(self, redis: FakeRedis) -> None:
        self._redis = redis
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.channels: set[str] = set()
        self.closed = False

    async def subscribe(self, *channels: str) -> None:
        self.channels.update(channels)
        self._redis.subscriptions.append(self)

    async def unsubscribe(self, *channels: str) -> None:
        self.channels.difference_update(channels)

    async def listen(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._queue.get()

    async def close(self) -> None:
        self.closed = True

    def put(self, channel: str, data: bytes) -> None:
        if channel in self.channels and not self.closed:
            self._queue.put_nowait({"type": "message", "channel": channel, "data": data})


class FakeRedis:
    """An in-memory client with only ``publish()`` and ``pubsub()``, as Pipecat's tests use."""

    def __init__(self) -> None:
        self._published: list[tuple[str, bytes]] = []
        self.subscriptions: list[FakePubSub] = []

    async def publish(self, channel: str, data: bytes) -> int:
        self._published.append((channel, data))
        for pubsub in self.subscriptions:
            pubsub.put(channel, data)
        return len(self.subscriptions)

    def pubsub(self) -> FakePubSub:
        return FakePubSub(self)


async def set_up(bus: Any) -> None:
    """Pipecat's way to give a bus its task manager (deprecated, still accepted)."""
    tm = TaskManager()
    with pytest.warns(DeprecationWarning):
        tm.setup(TaskManagerParams(loop=asyncio.get_running_loop()))
    setup: Callable[[TaskManager], Awaitable[None]] = bus.setup
    await setup(tm)


async def test_a_duck_typed_client_works_as_in_pipecats_tests() -> None:
    redis = FakeRedis()
    serializer = JSONMessageSerializer()
    bus = RedisBus(redis=redis, serializer=serializer, channel="test:bus")  # type: ignore[arg-type]
    assert isinstance(bus, SerializedRedisBus)
    await set_up(bus)
    capture = EnvelopeCapture(bus)
    note = Note(source="x", n=1)
    await bus.send(note)  # not started: published at once, nothing delivered or kept
    assert redis._published == [("test:bus", serializer.serialize(note))]

    sink = Sink("sink")
    await bus.subscribe(sink)
    await bus.start()
    assert bus._pubsub is not None and bus._reader_task is not None
    await bus.send(Note(source="x", n=2))
    await redis.publish("test:bus", PIPECAT_DATA_MESSAGE)  # another runner's
    await redis.publish("test:bus", b"garbage")
    await bus.drain()
    await sink.has(2)
    assert sink.numbers() == [2] and sink.got[1].source == "pipecat-runner"
    assert [e.remote for e in capture.envelopes if not isinstance(e.message, Note)] == [True, False]
    assert len(capture.of_type(Note)) == 2 and bus.transport_stats.dropped == 1

    pubsub = bus._pubsub
    assert isinstance(pubsub, FakePubSub)
    await bus.stop()
    assert bus._pubsub is None and bus._reader_task is None
    assert pubsub.closed and not pubsub.channels


async def test_any_message_serializer_can_carry_the_messages() -> None:
    class Reversed(MessageSerializer):
        """A serializer of its own: JSON, reversed (nothing of Pipecat's shape is assumed)."""

        inner = JSONMessageSerializer()

        def serialize(self, message: BusMessage) -> bytes:
            return self.inner.serialize(message)[::-1]

        def deserialize(self, data: bytes) -> BusMessage | None:
            return self.inner.deserialize(data[::-1])

    redis = FakeRedis()
    sender = SerializedRedisBus(redis=redis, serializer=Reversed(), channel="c")
    receiver = SerializedRedisBus(redis=redis, serializer=Reversed(), channel="c")
    sink = Sink("sink")
    await receiver.subscribe(sink)
    for bus in (sender, receiver):
        await bus.start()
    await sender.send(Note(source="x", n=9))
    assert [m.n for m in await sink.has(1)] == [9]  # type: ignore[attr-defined]
    assert redis._published[0][1].startswith(b"}}")
    for bus in (sender, receiver):
        await bus.stop()
