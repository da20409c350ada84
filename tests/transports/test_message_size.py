"""A message too large for Redis: refused by send() on every Redis bus, never lost on the way.

Every pipebus receiver refuses an envelope over 4 MiB (``MAX_ENVELOPE_BYTES``), so a
sender that let one go would lose it in silence and leave its requester to time out
(issue #14, item 5). What a peer that does not check sends anyway is skipped, counted
and recorded by the receiver.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from pipebus import (
    AsyncQueueBus,
    BaseWorker,
    BusDecodeErrorMessage,
    BusJobRequestMessage,
    BusTransportGapMessage,
    RedisBus,
    TransportError,
    WorkerRunner,
)
from pipebus.core.errors import MessageTooLargeError
from pipebus.core.serializers import JSONMessageSerializer
from pipebus.core.wire import MAX_ENVELOPE_BYTES, encode_envelope
from pipebus.testing import EnvelopeCapture, running, until
from pipebus.transports import RedisStreamBus
from pipebus.transports.base import RedisTransportBus
from pipebus.transports.serialized import SerializedRedisBus
from tests.transports.helpers import Blob, Note, Sink

MakeBus = Callable[..., Any]


class Echo(BaseWorker):
    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await self.send_job_response(message.job_id, {"size": len((message.payload or {})["blob"])})


async def test_send_refuses_a_message_over_the_limit_before_recording_or_delivering_it(
    runner_bus: MakeBus,
) -> None:
    sender, receiver = runner_bus(runner_name="a"), runner_bus(runner_name="b")
    mine, theirs = Sink("mine"), Sink("theirs")
    await sender.subscribe(mine)
    await receiver.subscribe(theirs)
    recorded = EnvelopeCapture(sender)
    await receiver.start()
    await sender.start()
    with pytest.raises(MessageTooLargeError) as refused:
        await sender.send(Blob(source="x", data="x" * MAX_ENVELOPE_BYTES))
    error = refused.value
    assert isinstance(error, TransportError) and isinstance(error, ValueError)
    assert error.limit == MAX_ENVELOPE_BYTES and error.size > MAX_ENVELOPE_BYTES
    text = str(error)
    assert text.startswith("Blob from 'x'") and f"{error.size:,} bytes" in text
    assert "4,194,304-byte limit" in text
    if isinstance(sender, SerializedRedisBus):
        assert "max_message_bytes=" in text  # this bus's own limit, and how to raise it
    else:
        assert "every pipebus receiver refuses" in text and "by reference" in text
    assert recorded.envelopes == [] and sender.stats.stamped == 0  # nothing stamped
    # What fits goes through, and is all that anyone, here or there, gets.
    fits = "y" * (MAX_ENVELOPE_BYTES - 8192)
    await sender.send(Blob(source="x", data=fits))
    for sink in (mine, theirs):
        await sink.has(1, timeout=20)
        assert [len(m.data) for m in sink.got] == [len(fits)]  # type: ignore[attr-defined]
    await sender.drain()
    assert sender.transport_stats.published == 1
    assert [type(e.message) for e in recorded.envelopes] == [Blob]


async def test_a_job_too_large_for_redis_fails_at_once_instead_of_timing_out(
    runner_bus: MakeBus,
) -> None:
    first = WorkerRunner(name="first", bus=runner_bus(), handle_sigint=False, event_log=None)
    second = WorkerRunner(name="second", bus=runner_bus(), handle_sigint=False, event_log=None)
    asker = BaseWorker("asker")
    await first.add_workers(asker)
    await second.add_workers(Echo("echo"), Echo("echo2"))
    too_large = {"blob": "x" * MAX_ENVELOPE_BYTES}
    async with running(second), running(first):
        await until(lambda: "echo" in first.registry and "echo2" in first.registry, timeout=10)
        started = time.monotonic()
        with pytest.raises(MessageTooLargeError, match="BusJobRequestMessage from 'asker'"):
            async with asker.job("echo", payload=too_large, timeout=10):
                pass
        with pytest.raises(MessageTooLargeError, match="BusJobRequestMessage from 'asker'"):
            async with asker.job_group("echo", "echo2", payload=too_large, timeout=10):
                pass
        assert time.monotonic() - started < 5  # not the 10 s timeout
        assert asker.job_groups == {}  # no group left waiting for an answer
        async with asker.job("echo", payload={"blob": "fits"}, timeout=10) as job:
            pass
        assert job.response == {"size": 4}


async def test_an_oversized_envelope_from_a_sender_that_does_not_check_is_counted_and_recorded(
    make_bus: Callable[..., RedisTransportBus],
    redis: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = make_bus("reader")
    sink = Sink("w")
    await reader.subscribe(sink)
    recorded = EnvelopeCapture(reader)
    await reader.start()
    caplog.set_level(logging.WARNING, logger="pipebus.transports")
    older = AsyncQueueBus(runner_name="older")  # writes envelopes as an older pipebus did
    request = BusJobRequestMessage(
        source="x", target="w", job_id="j", payload={"blob": "x" * MAX_ENVELOPE_BYTES}
    )
    raw = encode_envelope(older.stamp(request))
    small = encode_envelope(older.stamp(Note(source="x", target="w", n=1)))
    for data in (raw, small):  # addressed to the reader's runner, as a known target's are
        if isinstance(reader, RedisStreamBus):
            await redis.xadd(reader.channel, {"e": data, "from": "older", "to": "reader"})
        else:
            await redis.publish(reader.runner_channel(), data)  # type: ignore[attr-defined]
    await sink.has(1)
    assert sink.numbers() == [1]  # the bus went on to the next message
    assert reader.transport_stats.decode_errors == {"oversized": 1}
    (event,) = recorded.of_type(BusDecodeErrorMessage)
    assert event.kind == "oversized" and event.size == len(raw) > MAX_ENVELOPE_BYTES
    assert f"envelope of {len(raw)} bytes is over the {MAX_ENVELOPE_BYTES}-byte limit" in (
        event.error
    )
    assert event.raw_excerpt.startswith('{"v":')
    assert any("(oversized)" in r.getMessage() for r in caplog.records)


async def test_a_serialized_bus_refuses_above_the_limit_it_is_given(
    redis: Redis, channel: str
) -> None:
    def serialized(name: str, **options: Any) -> SerializedRedisBus:
        bus: Any = RedisBus(
            redis=redis,
            channel=channel,
            serializer=JSONMessageSerializer(),
            runner_name=name,
            **options,
        )
        assert isinstance(bus, SerializedRedisBus)
        return bus

    strict = serialized("strict", max_message_bytes=1024)
    roomy = serialized("roomy", max_message_bytes=8 * 1024 * 1024)
    receiver = serialized("receiver")  # the default limit is the sender's only
    sink = Sink("sink")
    await receiver.subscribe(sink)
    for bus in (receiver, strict, roomy):
        await bus.start()
    try:
        with pytest.raises(MessageTooLargeError, match=r"over the 1,024-byte limit") as refused:
            await strict.send(Blob(source="x", data="x" * 1024))
        assert refused.value.limit == 1024
        large = "z" * (5 * 1024 * 1024)  # over 4 MiB, as Pipecat's RedisBus also carries it
        await roomy.send(Blob(source="x", data=large))
        await sink.has(1, timeout=20)
        assert [len(m.data) for m in sink.got] == [len(large)]  # type: ignore[attr-defined]
        with pytest.raises(ValueError, match="max_message_bytes must be positive"):
            serialized("nothing", max_message_bytes=0)
    finally:
        for bus in (strict, roomy, receiver):
            await bus.stop()


@pytest.mark.parametrize(
    "serializer", [None, JSONMessageSerializer()], ids=["pubsub", "serialized"]
)
async def test_a_frame_redis_will_not_buffer_for_a_subscriber_is_a_recorded_gap(
    redis: Redis, channel: str, serializer: JSONMessageSerializer | None
) -> None:
    # A peer that does not check (an older sender, Pipecat's RedisBus) may publish more
    # than Redis lets a subscriber buffer: Redis then drops the subscriber. The bus says
    # so, in its log and its event log, and subscribes again.
    setting = await redis.config_get("client-output-buffer-limit")
    limits = str(setting["client-output-buffer-limit"]).split()
    hard = int(limits[limits.index("pubsub") + 1])
    if hard == 0:
        pytest.skip("this Redis buffers any pub/sub message (client-output-buffer-limit 0)")
    bus: Any = RedisBus(redis=redis, channel=channel, serializer=serializer)
    sink = Sink("sink")
    await bus.subscribe(sink)
    recorded = EnvelopeCapture(bus)
    await bus.start()
    try:
        await redis.publish(channel, b"x" * (hard + 1))
        await until(lambda: recorded.of_type(BusTransportGapMessage), timeout=10)
        (gap,) = recorded.of_type(BusTransportGapMessage)
        assert gap.channel == channel and not gap.replayed and gap.error
        assert bus.transport_stats.reconnects == 1
        older = AsyncQueueBus(runner_name="older")
        note = Note(source="x", n=2)
        data = (
            encode_envelope(older.stamp(note)) if serializer is None else serializer.serialize(note)
        )
        await redis.publish(channel, data)
        await sink.has(1)
        assert sink.numbers() == [2]
    finally:
        await bus.stop()
