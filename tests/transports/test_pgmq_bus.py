"""PgmqBus on real PGMQ (its SQL-only install, in a database of this module's own)."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from pipebus import (
    BaseWorker,
    BusDataMessage,
    BusDecodeErrorMessage,
    BusEndMessage,
    BusJobRequestMessage,
    BusMessage,
    BusSubscriber,
    JSONMessageSerializer,
    PgmqBus,
    WorkerRunner,
)
from pipebus.core.errors import MessageTooLargeError
from pipebus.core.wire import MAX_ENVELOPE_BYTES
from pipebus.testing import EnvelopeCapture, running, until
from pipebus.transports.pgmq_backends import BackendMessage, DirectPgmqBackend, runner_queue
from tests.transports.helpers import Blob
from tests.transports.pgmq_database import close_client, pgmq_client, pgmq_database

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with pgmq_database() as url:
        yield url


@pytest.fixture
async def client(database: str) -> AsyncIterator[Any]:
    made = await pgmq_client(database, pool_size=8)
    yield made
    await close_client(made)


@pytest.fixture
def channel() -> str:
    return f"test:{secrets.token_hex(4)}"


@pytest.fixture
async def make_bus(client: Any, channel: str) -> AsyncIterator[Callable[..., PgmqBus]]:
    made: list[PgmqBus] = []

    def make(runner_name: str | None = None, **options: Any) -> PgmqBus:
        options.setdefault("pgmq", client)
        bus = PgmqBus(channel=channel, runner_name=runner_name, **options)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.stop()


class Inbox(BusSubscriber):
    def __init__(self, name: str) -> None:
        self._name = name
        self.messages: list[BusMessage] = []
        self.arrived = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name

    async def on_bus_message(self, message: BusMessage) -> None:
        self.messages.append(message)
        self.arrived.set()


@dataclass
class Probe(BusDataMessage, wire_name="test.pgmq.Probe"):
    n: int = 0


async def sent_to(database: str, queue: str) -> int:
    """How many messages were ever sent to ``queue`` (PGMQ's total_messages)."""
    connection = await asyncpg.connect(database)
    try:
        return int(await connection.fetchval("SELECT total_messages FROM pgmq.metrics($1)", queue))
    finally:
        await connection.close()


async def test_a_broadcast_is_delivered_here_at_once_and_reaches_the_other_runner(
    make_bus: Callable[..., PgmqBus], database: str
) -> None:
    first, second = make_bus("first"), make_bus("second")
    here, there = Inbox("here"), Inbox("there")
    await first.subscribe(here)
    await second.subscribe(there)
    await first.start()
    await second.start()
    assert first.batches and second.batches
    await first.send(Probe(source="a", n=1))
    await first.drain()
    await asyncio.wait_for(there.arrived.wait(), 5)
    assert [m.n for m in there.messages if isinstance(m, Probe)] == [1]
    assert [m.n for m in here.messages if isinstance(m, Probe)] == [1]
    assert first.queue_name is not None
    assert await sent_to(database, first.queue_name) == 0  # its own copy is never written


async def test_a_message_too_large_is_refused_naming_postgresql_and_nothing_is_sent(
    make_bus: Callable[..., PgmqBus], database: str
) -> None:
    sender = make_bus("sender")
    recorded = EnvelopeCapture(sender)
    await sender.start()
    with pytest.raises(MessageTooLargeError) as refused:
        await sender.send(Blob(source="x", data="x" * MAX_ENVELOPE_BYTES))
    text = str(refused.value)
    assert "too large to send over PostgreSQL:" in text and "Redis" not in text.split(";")[0]
    await sender.drain()
    assert not recorded.of_type(Blob)
    assert sender.transport_stats.published == 0


async def test_the_reader_is_woken_by_pgmqs_notification_not_by_polling(
    make_bus: Callable[..., PgmqBus],
) -> None:
    # A read waits 60 s for a notification before reading again: only the notification
    # on commit can bring each message within the test's timeout.
    first = make_bus("first", max_poll_seconds=60)
    second = make_bus("second", max_poll_seconds=60)
    there = Inbox("there")
    await second.subscribe(there)
    await first.start()
    await second.start()
    latencies = []
    for n in range(20):
        there.arrived.clear()
        began = time.perf_counter()
        await first.send(Probe(source="a", n=n))
        await asyncio.wait_for(there.arrived.wait(), 5)
        latencies.append(time.perf_counter() - began)
    assert [m.n for m in there.messages if isinstance(m, Probe)] == list(range(20))
    assert statistics.median(latencies) < 0.05, latencies


async def test_a_targeted_message_goes_to_its_targets_runner_queue_only(
    make_bus: Callable[..., PgmqBus], database: str, channel: str
) -> None:
    first, second, third = make_bus("first"), make_bus("second"), make_bus("third")
    worker = Inbox("worker")
    await second.subscribe(worker)
    first.set_runner_lookup(lambda name: "second" if name == "worker" else None)
    for bus in (first, second, third):
        await bus.start()
    await first.send(Probe(source="a", target="worker", n=7))
    await asyncio.wait_for(worker.arrived.wait(), 5)
    assert [m.n for m in worker.messages if isinstance(m, Probe)] == [7]
    assert third.queue_name == runner_queue(channel, "third")
    assert await sent_to(database, third.queue_name) == 0


async def test_bad_input_on_the_queue_is_skipped_counted_recorded_and_imports_nothing(
    make_bus: Callable[..., PgmqBus], database: str
) -> None:
    sender, bus = make_bus("sender"), make_bus("reader")
    inbox = Inbox("inbox")
    await bus.subscribe(inbox)
    seen = EnvelopeCapture(bus)
    await sender.start()
    await bus.start()
    assert "antigravity" not in sys.modules
    queue = bus.queue_name
    connection = await asyncpg.connect(database)
    try:
        for value in (
            '"not json {"',
            '{"not": "an envelope"}',
            '{"v": 1, "type": "antigravity.Fly", "id": "x", "session": "s", "seq": 1, '
            '"time": 1, "runner": "evil", "trace": "1", "span": "1", "msg": {}}',
            "[1, 2, 3]",
        ):
            await connection.execute("SELECT pgmq.send($1, $2::jsonb)", queue, value)
    finally:
        await connection.close()
    await sender.send(BusEndMessage(source="sender", reason="still reading"))
    await until(lambda: any(isinstance(m, BusEndMessage) for m in inbox.messages))
    errors = bus.transport_stats.decode_errors
    assert errors == {"not_json": 1, "not_an_envelope": 2, "unknown_type": 1}
    recorded = seen.of_type(BusDecodeErrorMessage)
    assert sorted(e.kind for e in recorded) == ["not_an_envelope", "not_an_envelope",
                                                "not_json", "unknown_type"]  # fmt: skip
    assert all(e.channel == bus.channel for e in recorded)
    assert "antigravity" not in sys.modules


async def test_recording_and_trace_context_cross_the_queue(
    make_bus: Callable[..., PgmqBus],
) -> None:
    first, second = make_bus("first"), make_bus("second")
    there = Inbox("there")
    await second.subscribe(there)
    sent, received = EnvelopeCapture(first), EnvelopeCapture(second)
    await first.start()
    await second.start()
    await first.send(Probe(source="a", n=3))
    await asyncio.wait_for(there.arrived.wait(), 5)
    out = next(e for e in sent.envelopes if isinstance(e.message, Probe))
    came = next(e for e in received.envelopes if isinstance(e.message, Probe))
    assert came.remote and came.runner == "first"
    assert (came.message_id, came.trace_id, came.span_id) == (
        out.message_id,
        out.trace_id,
        out.span_id,
    )
    assert came.fields_json == out.fields_json  # the envelope crossed byte for byte


async def test_stop_says_goodbye_and_drops_the_queue(
    make_bus: Callable[..., PgmqBus], database: str
) -> None:
    leaving, staying = make_bus("leaving"), make_bus("staying")
    await leaving.start()
    await staying.start()
    queue = leaving.queue_name
    await leaving.send(Probe(source="a"))
    await until(lambda: "leaving" in staying.peers)
    await leaving.stop()
    await until(lambda: "leaving" not in staying.peers)
    connection = await asyncpg.connect(database)
    try:
        names = [row[0] for row in await connection.fetch("SELECT queue_name FROM pgmq.meta")]
    finally:
        await connection.close()
    assert queue not in names and leaving.queue_name is None


async def test_runners_share_registries_run_jobs_and_see_each_other_leave(
    client: Any, channel: str
) -> None:
    class Echo(BaseWorker):
        async def on_job_request(self, message: BusJobRequestMessage) -> None:
            await self.send_job_response(message.job_id, {"echo": message.payload})

    first = WorkerRunner(
        name="first", bus=PgmqBus(pgmq=client, channel=channel), handle_sigint=False
    )
    second = WorkerRunner(
        name="second", bus=PgmqBus(pgmq=client, channel=channel), handle_sigint=False
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
        assert answer.remote and answer.trace_id == request.trace_id
        await second.end()
        await until(lambda: "echo" not in first.registry)
        assert first.registry.state.workers["echo"].status == "ended"


async def test_pipecats_wire_format_round_trips_and_is_recorded_once(
    make_bus: Callable[..., PgmqBus],
) -> None:
    serializer = JSONMessageSerializer()
    first = make_bus("first", serializer=serializer)
    second = make_bus("second", serializer=serializer)
    here, there = Inbox("here"), Inbox("there")
    await first.subscribe(here)
    await second.subscribe(there)
    seen = EnvelopeCapture(first)
    await first.start()
    await second.start()
    await first.send(BusEndMessage(source="a", reason="pipecat"))
    await first.drain()
    await until(lambda: there.messages and here.messages)
    assert [m.reason for m in here.messages] == ["pipecat"]  # via its own queue, once
    assert [m.reason for m in there.messages] == ["pipecat"]
    assert len(seen.of_type(BusEndMessage)) == 1


class PipecatShapedBackend:
    """A backend with Pipecat's five calls only, over a real PGMQ client."""

    def __init__(self, client: Any) -> None:
        self._direct = DirectPgmqBackend(client)

    async def join(self, channel: str) -> str:
        return await self._direct.join(channel)

    async def publish(self, channel: str, my_queue: str, payload: dict[str, Any]) -> None:
        await self._direct.publish(channel, my_queue, payload)

    async def read(self, queue: str, **options: Any) -> list[BackendMessage]:
        return await self._direct.read(queue, **options)

    async def archive(self, queue: str, *, channel: str, msg_id: int) -> bool:
        return await self._direct.archive(queue, channel=channel, msg_id=msg_id)

    async def leave(self, queue: str, *, channel: str) -> None:
        await self._direct.leave(queue, channel=channel)


async def test_a_backend_with_only_pipecats_five_calls_works_on_real_pgmq(
    make_bus: Callable[..., PgmqBus], client: Any, database: str
) -> None:
    fast = make_bus("fast")
    plain = make_bus("plain", pgmq=None, backend=PipecatShapedBackend(client), max_poll_seconds=1)
    at_fast, at_plain = Inbox("at_fast"), Inbox("at_plain")
    await fast.subscribe(at_fast)
    await plain.subscribe(at_plain)
    await fast.start()
    await plain.start()
    assert fast.batches and not plain.batches
    await plain.send(Probe(source="p", n=1))
    await fast.send(Probe(source="f", n=2))
    await until(lambda: len(at_fast.messages) == 2 and len(at_plain.messages) == 2)
    assert sorted(m.n for m in at_fast.messages if isinstance(m, Probe)) == [1, 2]
    assert sorted(m.n for m in at_plain.messages if isinstance(m, Probe)) == [1, 2]
    assert plain.queue_name is not None
    await until(lambda: plain.transport_stats.own_skipped == 1)  # its echo, skipped
