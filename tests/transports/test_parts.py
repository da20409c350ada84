"""The parts of the Redis buses that need no Redis: decode-error kinds, liveness, outbox."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import subprocess
import sys

import pytest

from pipebus import AsyncQueueBus, BusJobRequestMessage
from pipebus.bus.context import ActiveDelivery, current_delivery
from pipebus.core.envelope import ENVELOPE_VERSION
from pipebus.core.errors import DecodeError, TransportError
from pipebus.core.wire import MAX_ENVELOPE_BYTES, encode_envelope, envelope_fields_json
from pipebus.testing import until
from pipebus.transports.backoff import Backoff
from pipebus.transports.inbound import classify
from pipebus.transports.limits import envelope_header_bound
from pipebus.transports.outbox import Entry, Outbox
from pipebus.transports.peers import PeerWatch
from pipebus.transports.stats import Counters
from pipebus.transports.transport import HEADER_TO_RUNNER
from pipebus.transports.writer import pack

ERROR = DecodeError("bad")


def envelope_like(**changes: object) -> bytes:
    document: dict[str, object] = {
        "v": 1, "type": "BusEndMessage", "id": "x-1", "session": "s", "seq": 1, "time": 1,
        "runner": "r", "trace": "1", "span": "1", "msg": {"source": "a"},
    }  # fmt: skip
    document.update(changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"\xff\xfe not json", "not_json"),
        (b"{truncated", "not_json"),
        (b"[1, 2, 3]", "not_an_envelope"),
        (b'{"hello": "world"}', "not_an_envelope"),
        (envelope_like(v=ENVELOPE_VERSION + 1), "newer_version"),
        (envelope_like(type="os.system"), "unknown_type"),
        (envelope_like(type="Frame"), "unknown_type"),  # registered, but not a message
        (envelope_like(msg={"source": 3, "nonsense": True}), "bad_fields"),
        (b" " * (MAX_ENVELOPE_BYTES + 1), "oversized"),
    ],
)
def test_a_decode_error_is_classified_by_kind(raw: bytes, kind: str) -> None:
    assert classify(raw, ERROR) == kind


ODD_NAMES = ["plain", 'with "quotes", commas', "back\\slash\\", "ünïcødé 名前", 'x,"runner":"y",']


@pytest.mark.parametrize("name", ODD_NAMES)
def test_the_header_pattern_ends_exactly_at_the_envelopes_runner_field(name: str) -> None:
    bus = AsyncQueueBus(runner_name=name, session_id=f"session {name}")
    payload = {"a": 1, "runner": name, "b": {"runner": name}}
    envelope = bus.stamp(BusJobRequestMessage(source=name, job_id=name, payload=payload))
    raw = encode_envelope(envelope)
    header = HEADER_TO_RUNNER.match(raw)
    assert header is not None
    value = json.dumps(name, ensure_ascii=False).encode()
    assert raw.startswith(value + b',"trace":', header.end())
    assert header.end() < raw.index(b'"msg":')  # in the header, not in the fields


def test_the_header_bound_covers_a_header_with_a_cause_and_the_longest_tracestate() -> None:
    bus = AsyncQueueBus(runner_name='ünïcødé "runner"', session_id="s\\" * 20)
    cause = dataclasses.replace(
        bus.stamp(BusJobRequestMessage(source="a", job_id="j")),
        message_id="remote-" + '"' * 100,
        trace_state="k=" + '"' * 510,  # receivers accept up to 512 characters
    )
    message = BusJobRequestMessage(source="a", job_id="j", payload={"x": 1})
    token = current_delivery.set(ActiveDelivery(cause, "handler", 0))
    try:
        bound = envelope_header_bound(message, bus.session_id, bus.runner_name)
        envelope = bus.stamp(message)
    finally:
        current_delivery.reset(token)
    assert envelope.causation_id == cause.message_id and envelope.trace_state
    header = len(encode_envelope(envelope)) - len(envelope_fields_json(envelope).encode())
    assert header <= bound < header + 2048  # the bound is close, and never short


def test_a_runner_is_lost_after_a_silence_past_the_timeout() -> None:
    peers = PeerWatch(timeout=2.0)
    peers.heard("a", 0.0)
    peers.heard("b", 0.0)
    peers.heard("a", 1.5)
    assert peers.silent(2.5) == [("b", 2.5)]
    assert peers.runners == ["a"]
    assert peers.silent(3.0) == []  # b is reported once
    peers.grace(10.0)  # this bus could not read until 10.0: nobody is blamed for it
    assert peers.silent(11.0) == []
    peers.left("a")
    assert peers.runners == []


def test_commands_are_packed_in_the_redis_protocol() -> None:
    assert pack([("PUBLISH", "ch", b"x\r\n"), ("PING",)]) == (
        b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$3\r\nx\r\n\r\n*1\r\n$4\r\nPING\r\n"
    )
    assert (
        pack([("XADD", "k", 5, "é")])
        == b"*4\r\n$4\r\nXADD\r\n$1\r\nk\r\n$1\r\n5\r\n$2\r\n\xc3\xa9\r\n"
    )


def test_backoff_doubles_up_to_its_cap_and_starts_again_after_a_success() -> None:
    backoff = Backoff(first=0.1, cap=0.4)
    delays = [backoff.next() for _ in range(4)]
    assert all(0.08 <= d <= 0.48 for d in delays) and delays[3] >= 0.32
    backoff.reset()
    assert backoff.next() <= 0.12


async def test_messages_of_one_loop_turn_are_written_in_one_batch_in_order() -> None:
    batches: list[list[Entry]] = []

    async def write(batch: list[Entry]) -> None:
        batches.append(batch)

    counters = Counters()
    outbox = Outbox(write, counters, limit=1000, label="test", transport="Redis")
    outbox.start()
    for i in range(100):
        outbox.put("", b"%d" % i)
    await outbox.flushed()
    outbox.put("b", b"late")
    await outbox.flushed()
    assert [len(b) for b in batches] == [100, 1]
    assert [data for _, data in batches[0]] == [b"%d" % i for i in range(100)]
    assert batches[1] == [("b", b"late")]
    assert (counters.published, counters.batches) == (101, 2)
    assert await outbox.close(1.0) == 0


async def test_a_failed_write_is_tried_again_and_senders_wait_when_the_outbox_is_full() -> None:
    attempts: list[int] = []
    healthy = asyncio.Event()

    async def write(batch: list[Entry]) -> None:
        attempts.append(len(batch))
        if not healthy.is_set():
            raise TransportError("Redis is away")

    counters = Counters()
    outbox = Outbox(write, counters, limit=3, label="test", transport="Redis")
    outbox.start()
    outbox.put("", b"1")
    await asyncio.sleep(0.01)  # the writer takes the first message and fails
    for data in (b"2", b"3", b"4"):
        outbox.put("", data)
    assert outbox.full and outbox.pending == 4
    waiting = asyncio.ensure_future(outbox.room())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # back-pressure while the first write is retried
    healthy.set()
    await asyncio.wait_for(waiting, 5)
    await asyncio.wait_for(outbox.flushed(), 5)
    assert counters.publish_retries >= 1 and counters.published == 4
    assert attempts[-1] == 3 and set(attempts[:-1]) == {1}
    assert await outbox.close(1.0) == 0


async def test_what_cannot_be_written_before_stop_is_counted_as_unpublished() -> None:
    async def write(batch: list[Entry]) -> None:
        raise TransportError("Redis is away")

    counters = Counters()
    outbox = Outbox(write, counters, limit=100, label="test", transport="Redis")
    outbox.start()
    outbox.put("", b"1")
    outbox.put("", b"2")
    assert await outbox.close(0.2) == 2
    assert counters.unpublished == 2


async def test_a_failed_write_is_logged_naming_the_transport_written_to(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def write(batch: list[Entry]) -> None:
        raise TransportError("the database is away")

    caplog.set_level(logging.WARNING, logger="pipebus.transports")
    outbox = Outbox(write, Counters(), limit=100, label="test", transport="PostgreSQL")
    outbox.start()
    outbox.put("", b"1")
    await until(lambda: any("failed" in r.getMessage() for r in caplog.records))
    await outbox.close(0.05)
    logged = [r.getMessage() for r in caplog.records]
    assert any("writing 1 message(s) to PostgreSQL failed" in line for line in logged)
    assert any("not written to PostgreSQL" in line for line in logged)
    assert not any("Redis" in line for line in logged)


def test_the_pgmq_bus_does_not_import_redis() -> None:
    code = "import sys, pipebus.transports.pgmq; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_transports_package_alone_does_not_import_redis() -> None:
    code = "import sys, pipebus.transports; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
