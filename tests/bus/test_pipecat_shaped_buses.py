"""A bus, a subscriber or a send wrapper written to Pipecat's API works on pipebus unchanged."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from pipebus import (
    AsyncQueueBus,
    BaseWorker,
    BusDataMessage,
    BusEndMessage,
    BusMessage,
    BusSubscriber,
    TaskManager,
    WorkerBus,
    WorkerRunner,
)
from pipebus.bus.context import shutdown_sends
from pipebus.observability import Envelope
from pipebus.testing import EnvelopeCapture


@dataclass
class Note(BusDataMessage, wire_name="pipecat_shaped.Note"):
    n: int = 0


class PipecatStyleBus(WorkerBus):
    """Implements only ``publish(message)`` and calls ``on_message_received``, as in Pipecat."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[BusMessage] = []

    async def publish(self, message: BusMessage) -> None:
        self.published.append(message)
        self.on_message_received(message)


class Collector(BusSubscriber):
    def __init__(self, name: str) -> None:
        self._name = name
        self.got: list[BusMessage] = []

    @property
    def name(self) -> str:
        return self._name

    async def on_bus_message(self, message: BusMessage) -> None:
        self.got.append(message)


async def test_a_bus_implementing_only_publish_delivers_under_one_envelope() -> None:
    bus = PipecatStyleBus()
    capture = EnvelopeCapture(bus)
    sink = Collector("sink")
    await bus.subscribe(sink)
    await bus.start()
    note = Note(source="x", n=1)
    await bus.send(note)
    await bus.drain()
    assert bus.published == [note]
    assert sink.got == [note]
    # Stamped once on send: the message coming back is not recorded a second time.
    assert [e.message for e in capture.envelopes] == [note]
    assert not capture.envelopes[0].remote
    await bus.stop()


async def test_a_message_arriving_without_an_envelope_is_stamped_as_remote() -> None:
    bus = PipecatStyleBus()
    capture = EnvelopeCapture(bus)
    sink = Collector("sink")
    await bus.subscribe(sink)
    await bus.start()
    arrived = Note(source="elsewhere", n=2)
    bus.on_message_received(arrived)
    await bus.drain()
    assert sink.got == [arrived]
    (envelope,) = capture.envelopes
    assert isinstance(envelope, Envelope)
    assert envelope.remote and bus.stats.received == 1
    await bus.stop()


async def test_a_send_wrapper_with_pipecat_s_signature_sees_every_worker_message() -> None:
    bus = AsyncQueueBus()
    runner = WorkerRunner(bus=bus, handle_sigint=False, event_log=None)
    worker = BaseWorker("w")
    await runner.add_workers(worker)
    sent: list[BusMessage] = []
    original = bus.send

    async def wrapper(message: BusMessage) -> None:
        sent.append(message)
        await original(message)

    bus.send = wrapper  # type: ignore[method-assign]
    await worker.end(reason="bye")
    assert [type(m) for m in sent] == [BusEndMessage]


async def test_shutdown_sends_skip_a_gate_that_would_fail_them() -> None:
    class FailedLog:
        def must_wait(self) -> bool:
            return True

        async def wait(self) -> None:
            raise RuntimeError("the log has failed")

    bus = AsyncQueueBus()
    bus.add_gate(FailedLog())
    with pytest.raises(RuntimeError, match="the log has failed"):
        await bus.send(Note(source="x"))
    with shutdown_sends():
        await bus.send(Note(source="x"))  # goes out


async def test_setup_gives_the_bus_and_workers_their_task_manager() -> None:
    manager = TaskManager()
    bus = AsyncQueueBus()
    await bus.setup(manager)
    assert bus.task_manager is manager
    sink = Collector("sink")
    await bus.subscribe(sink)
    await bus.start()
    names = {t.get_name() for t in manager.current_tasks()}
    assert names == {"pipebus:sink:system", "pipebus:sink:data"}
    worker = BaseWorker("w")
    await worker.setup(manager)
    task = worker.create_task(asyncio.sleep(10), "nap")
    assert task in manager.current_tasks()
    await manager.cancel_task(task)
    assert task.cancelled()
    await bus.stop()
    assert manager.current_tasks() == []
