"""Garbage on the channel: skipped, counted, logged once per kind, recorded; the bus goes on."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from pipebus import BusDecodeErrorMessage
from pipebus.core.wire import MAX_ENVELOPE_BYTES
from pipebus.testing import EnvelopeCapture, until
from pipebus.transports import RedisStreamBus
from pipebus.transports.base import RedisTransportBus
from tests.transports.helpers import Sink


def envelope(**changes: object) -> bytes:
    document: dict[str, object] = {
        "v": 1, "type": "ttest.Note", "id": "other-1", "session": "s", "seq": 1,
        "time": 1, "runner": "other", "trace": "ab", "span": "cd", "parent": None,
        "cause": None, "msg": {"source": "x", "target": None, "n": 7},
    }  # fmt: skip
    document.update(changes)
    return json.dumps(document).encode()


GARBAGE = {
    "not_json": b"\x00\xffthis is not json",
    "not_an_envelope": b'{"hello": "world"}',
    "newer_version": envelope(v=99, id="other-2"),
    "unknown_type": envelope(type="antigravity", id="other-3"),
    "bad_fields": envelope(msg={"source": "x", "n": "seven", "surprise": 1}, id="other-4"),
    "oversized": b'{"v": 1, "pad": "' + b"x" * MAX_ENVELOPE_BYTES + b'"}',
}


async def put(redis: Redis, bus: RedisTransportBus, raw: bytes) -> None:
    if isinstance(bus, RedisStreamBus):
        await redis.xadd(bus.channel, {"e": raw})
    else:
        await redis.publish(bus.channel, raw)


async def test_garbage_is_skipped_counted_logged_once_and_recorded(
    make_bus: Callable[..., RedisTransportBus],
    redis: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = make_bus("reader")
    sink = Sink("sink")
    await bus.subscribe(sink)
    capture = EnvelopeCapture(bus)
    await bus.start()
    caplog.set_level(logging.WARNING, logger="pipebus.transports")
    for _ in range(2):
        for raw in GARBAGE.values():
            await put(redis, bus, raw)
    if isinstance(bus, RedisStreamBus):
        await redis.xadd(bus.channel, {"something": "else"})  # an entry without an envelope
    await put(redis, bus, envelope(id="other-9"))  # and then a good one
    await sink.has(1)
    assert sink.numbers() == [7]
    errors = bus.transport_stats.decode_errors
    expected = {kind: 2 for kind in GARBAGE}
    if isinstance(bus, RedisStreamBus):
        expected["not_an_envelope"] += 1
    assert errors == expected
    recorded = capture.of_type(BusDecodeErrorMessage)
    assert sorted(m.kind for m in recorded) == sorted(
        k for k, n in expected.items() for _ in range(n)
    )
    oversized = next(m for m in recorded if m.kind == "oversized")
    assert oversized.size > MAX_ENVELOPE_BYTES and len(oversized.raw_excerpt) <= 200
    assert all(m.source == "reader" and m.channel == bus.channel for m in recorded)
    logged = [r.getMessage() for r in caplog.records if "not an envelope" in r.getMessage()]
    assert len(logged) == len(expected)  # once per kind
    assert "antigravity" not in sys.modules  # nothing is imported because data named it
    assert bus.running and bus.transport_stats.connected


async def test_a_duplicate_envelope_is_delivered_once(
    make_bus: Callable[..., RedisTransportBus], redis: Redis
) -> None:
    bus = make_bus("reader")
    sink = Sink("sink")
    await bus.subscribe(sink)
    await bus.start()
    for _ in range(3):  # a write retried after its answer was lost arrives again
        await put(redis, bus, envelope(id="other-1"))
    await put(redis, bus, envelope(id="other-2", msg={"source": "x", "target": None, "n": 8}))
    await sink.has(2)
    await until(lambda: bus.transport_stats.duplicates == 2)
    assert sink.numbers() == [7, 8]
