"""RedisBus and RedisStreamBus in one process: delivery, pipelining, routing, liveness."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from pipebus import (
    AsyncQueueBus,
    BaseWorker,
    BusJobRequestMessage,
    BusRunnerHeartbeatMessage,
    BusRunnerLeftMessage,
    RedisBus,
    TransportError,
    WorkerRunner,
)
from pipebus.core.wire import encode_envelope
from pipebus.testing import EnvelopeCapture, running, until
from pipebus.transports import RedisStreamBus, TransportStats
from pipebus.transports.base import RedisTransportBus
from tests.transports.helpers import Note, Sink

MakeBus = Callable[..., RedisTransportBus]


async def test_local_subscribers_get_a_message_before_it_reaches_redis(make_bus: MakeBus) -> None:
    bus = make_bus("a")
    sink = Sink("sink")
    await bus.subscribe(sink)
    await bus.start()
    await bus.send(Note(source="x", n=1))
    # Queued for the local subscriber already, while the write to Redis is still pending.
    assert bus.subscription("sink").queued == 1  # type: ignore[union-attr]
    assert bus.transport_stats.pending == 1 and bus.transport_stats.published == 0
    await bus.drain()
    assert sink.numbers() == [1]
    assert bus.transport_stats.published == 1


async def test_a_turn_of_messages_goes_out_in_one_write_and_arrives_once_in_order(
    make_bus: MakeBus,
) -> None:
    sender, first, second = make_bus("a"), make_bus("b"), make_bus("c")
    sinks = [Sink("sink-b"), Sink("sink-c")]
    await first.subscribe(sinks[0])
    await second.subscribe(sinks[1])
    for bus in (sender, first, second):
        await bus.start()
    for i in range(500):  # one loop turn: send() does not wait for Redis
        await sender.send(Note(source="x", n=i))
    await sender.drain()
    stats = sender.transport_stats
    assert stats.published == 500 and stats.batches == 1
    for sink in sinks:
        await sink.has(500)
        assert sink.numbers() == list(range(500))
    await asyncio.sleep(0.05)  # nothing more arrives: each message came once
    assert [len(s.got) for s in sinks] == [500, 500]
    assert sender.transport_stats.received == 0  # its own messages came back and were skipped
    assert first.transport_stats.received == 500
    assert first.transport_stats.duplicates == 0


async def test_a_message_crossing_redis_starts_no_task_of_its_own(make_bus: MakeBus) -> None:
    # redis-py's send_packed_command runs each write as a task of its own (wait_for,
    # before Python 3.12): two more turns of the event loop per write, and for the
    # stream bus per read too. The writer and the stream reader write directly.
    sender, receiver = make_bus("a"), make_bus("b")
    sink = Sink("sink")
    await receiver.subscribe(sink)
    for bus in (sender, receiver):
        await bus.start()
    await sender.send(Note(source="x", n=0))  # connections made, readers waiting
    await sink.has(1)
    loop = asyncio.get_running_loop()
    started: list[str] = []

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **options: Any) -> asyncio.Task[Any]:
        started.append(getattr(coro, "__qualname__", repr(coro)))
        return asyncio.Task(coro, loop=loop, **options)

    loop.set_task_factory(counting)
    try:
        for i in range(1, 21):  # one at a time: each a write, a read, a delivery
            await sender.send(Note(source="x", n=i))
            await sink.has(i + 1)
    finally:
        loop.set_task_factory(None)
    assert sink.numbers() == list(range(21))
    assert started == []


async def test_a_targeted_message_goes_to_its_targets_runner_only(make_bus: MakeBus) -> None:
    sender, owner, other = make_bus("a"), make_bus("b"), make_bus("c")
    sink, bystander = Sink("w"), Sink("bystander")
    await owner.subscribe(sink)
    await other.subscribe(bystander)
    sender.set_runner_lookup(lambda worker: "b" if worker == "w" else None)
    for bus in (sender, owner, other):
        await bus.start()
    for i in range(10):
        await sender.send(Note(source="x", target="w", n=i))
    await sink.has(10)
    await sender.send(Note(source="x", n=99))  # a broadcast, after them: everyone sees it
    await bystander.has(1)
    await sink.has(11)  # each runner reads on its own: the owner may see it a moment later
    assert sink.numbers() == [*range(10), 99]
    assert bystander.numbers() == [99]
    assert other.transport_stats.received == 1  # the third runner never decoded the others
    if isinstance(other, RedisStreamBus):
        assert other.transport_stats.not_for_us == 10


async def test_a_message_to_a_local_worker_never_leaves_the_runner(make_bus: MakeBus) -> None:
    bus = make_bus("a")
    sink = Sink("w")
    await bus.subscribe(sink)
    await bus.start()
    await bus.send(Note(source="x", target="w", n=1))
    await bus.drain()
    assert sink.numbers() == [1]
    assert bus.transport_stats.published == 0


async def test_runners_share_registries_and_run_jobs_across(
    redis: Redis, channel: str, bus_type: type[RedisTransportBus]
) -> None:
    class Echo(BaseWorker):
        async def on_job_request(self, message):  # type: ignore[no-untyped-def]
            await self.send_job_response(message.job_id, {"echo": message.payload})

    first = WorkerRunner(
        name="first", bus=bus_type(redis=redis, channel=channel), handle_sigint=False
    )
    second = WorkerRunner(
        name="second", bus=bus_type(redis=redis, channel=channel), handle_sigint=False
    )
    asker = BaseWorker("asker")
    await first.add_workers(asker)
    await second.add_workers(Echo("echo"))
    seen = EnvelopeCapture(first.bus)
    async with running(second), running(first):
        await until(lambda: "echo" in first.registry and "asker" in second.registry)
        async with asker.job("echo", payload={"q": 1}, timeout=5) as job:
            pass
        assert job.response == {"echo": {"q": 1}}
        request, answer = [e for e in seen.envelopes if e.job_id == job.job_id][:2]
        assert request.runner == "first" and answer.runner == "second" and answer.remote
        assert answer.trace_id == request.trace_id  # one trace across the two runners
        assert answer.causation_id == request.message_id
        await second.end()
        await until(lambda: "echo" not in first.registry)  # it stopped with its runner
        assert first.registry.state.workers["echo"].status == "ended"


class Echo(BaseWorker):
    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await self.send_job_response(message.job_id, {"echo": message.payload})


async def test_a_payload_naming_the_receiving_runner_still_reaches_it(
    runner_bus: Callable[..., Any],
) -> None:
    # Issue #14, item 4: the own-message check found '"runner":"second"' in the payload.
    first = WorkerRunner(name="first", bus=runner_bus(), handle_sigint=False, event_log=None)
    second = WorkerRunner(name="second", bus=runner_bus(), handle_sigint=False, event_log=None)
    asker = BaseWorker("asker")
    await first.add_workers(asker)
    await second.add_workers(Echo("echo"))
    payload = {"q": 1, "runner": "second", "source": "first", "z": 2}
    async with running(second), running(first):
        await until(lambda: "echo" in first.registry and "asker" in second.registry)
        async with asker.job("echo", payload=payload, timeout=5) as job:
            pass
        assert job.response == {"echo": payload}


async def test_only_the_envelopes_runner_field_marks_a_message_as_this_runners_own(
    make_bus: MakeBus, redis: Redis
) -> None:
    reader = make_bus("reader")
    sink = Sink("w")
    await reader.subscribe(sink)
    await reader.start()
    other = AsyncQueueBus(runner_name="other")
    payload = {"a": 1, "runner": "reader", "b": 2}
    laid_out = encode_envelope(
        other.stamp(BusJobRequestMessage(source="x", target="w", job_id="j1", payload=payload))
    )
    assert b',"runner":"reader",' in laid_out  # what the old check took for its own
    # Another writer may put the fields first: the runner named in them is not the sender.
    document = json.loads(
        encode_envelope(
            other.stamp(BusJobRequestMessage(source="x", target="w", job_id="j2", payload=payload))
        )
    )
    fields_first = json.dumps({"msg": document.pop("msg"), **document}, separators=(",", ":"))
    for raw in (laid_out, fields_first.encode()):
        if isinstance(reader, RedisStreamBus):
            await redis.xadd(reader.channel, {"e": raw})
        else:
            await redis.publish(reader.channel, raw)
    got = await sink.has(2)
    assert [(m.job_id, m.payload) for m in got] == [("j1", payload), ("j2", payload)]  # type: ignore[attr-defined]
    assert reader.transport_stats.own_skipped == 0
    # Its own messages still come back and are skipped.
    await reader.send(Note(source="x", n=1))
    await until(lambda: reader.transport_stats.own_skipped == 1)
    assert reader.transport_stats.received == 2


async def test_a_runner_says_goodbye_and_a_quiet_one_sends_heartbeats(make_bus: MakeBus) -> None:
    watcher = make_bus("watcher", heartbeat_interval=0.05, heartbeat_timeout=0.5)
    quiet = make_bus("quiet", heartbeat_interval=0.05, heartbeat_timeout=0.5)
    seen = EnvelopeCapture(watcher)
    mine = EnvelopeCapture(quiet)
    await watcher.start()
    await quiet.start()
    await until(lambda: len(mine.of_type(BusRunnerHeartbeatMessage)) >= 3, timeout=5)
    assert "quiet" in watcher.peers
    assert not watcher.transport_stats.runners_lost  # heard through its heartbeats
    # Each heartbeat is recorded by its sender only: liveness, not traffic.
    assert {m.runner for m in seen.of_type(BusRunnerHeartbeatMessage)} == {"watcher"}
    await quiet.stop()
    await until(lambda: "quiet" not in watcher.peers, timeout=5)
    left = seen.of_type(BusRunnerLeftMessage)
    assert [(m.runner, m.status) for m in left] == [("quiet", "left")]
    assert not watcher.transport_stats.runners_lost


async def test_an_unreachable_redis_fails_start_with_a_transport_error(
    bus_type: type[RedisTransportBus],
) -> None:
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    client = Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    bus = bus_type(redis=client, channel="nowhere")
    with pytest.raises(TransportError, match=r"127\.0\.0\.1:1|Connect") as raised:
        await bus.start()
    assert raised.value.__cause__ is not None
    assert not bus.running
    await client.aclose()


def test_settings_are_checked(redis: Redis) -> None:
    with pytest.raises(ValueError, match="heartbeat_timeout"):
        RedisBus(redis=redis, channel="c", heartbeat_interval=2, heartbeat_timeout=1)
    with pytest.raises(ValueError, match="start_from"):
        RedisStreamBus(redis=redis, channel="c", start_from="yesterday")
    with pytest.raises(ValueError, match="maxlen"):
        RedisStreamBus(redis=redis, channel="c", maxlen=0)
    assert isinstance(RedisBus(redis=redis, channel="c").transport_stats, TransportStats)
