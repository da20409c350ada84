"""AsyncQueueBus: subscribe, send, routing, lanes and priorities, failures, taps."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from pipebus import (
    AsyncQueueBus,
    BusDataMessage,
    BusError,
    BusHandlerErrorMessage,
    BusJobResponseUrgentMessage,
    BusJobUpdateMessage,
    BusLocalMessage,
    BusMessage,
    BusSubscriber,
    BusSystemMessage,
    DuplicateNameError,
    JobStatus,
)
from pipebus.observability import Envelope
from pipebus.testing import EnvelopeCapture, until


@dataclass
class Data(BusDataMessage):
    n: int = 0


@dataclass
class Urgent(BusSystemMessage):
    n: int = 0


@dataclass
class LocalNote(BusDataMessage, BusLocalMessage):
    text: str = ""


class Sink(BusSubscriber):
    """Records what it receives; optionally blocks data handling until released."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.got: list[BusMessage] = []
        self.gate: asyncio.Event | None = None

    @property
    def name(self) -> str:
        return self._name

    async def on_bus_message(self, message: BusMessage) -> None:
        self.got.append(message)
        if self.gate is not None and isinstance(message, BusDataMessage):
            await self.gate.wait()


class RecordingBus(AsyncQueueBus):
    def __init__(self) -> None:
        super().__init__()
        self.published: list[Envelope] = []

    async def publish_envelope(self, envelope: Envelope) -> None:
        self.published.append(envelope)
        await super().publish_envelope(envelope)


async def test_start_and_stop_are_idempotent() -> None:
    bus = AsyncQueueBus()
    await bus.start()
    await bus.start()
    assert bus.running
    await bus.stop()
    await bus.stop()
    assert not bus.running


async def test_subscribing_the_same_subscriber_twice_is_a_no_op() -> None:
    bus = AsyncQueueBus()
    sink = Sink("a")
    await bus.subscribe(sink)
    await bus.subscribe(sink)
    await bus.start()
    await bus.send(Data(source="x"))
    await bus.drain()
    assert len(sink.got) == 1
    await bus.stop()


async def test_a_different_subscriber_with_a_taken_name_is_refused() -> None:
    bus = AsyncQueueBus()
    await bus.subscribe(Sink("a"))
    with pytest.raises(DuplicateNameError, match="'a'"):
        await bus.subscribe(Sink("a"))


async def test_broadcast_reaches_every_subscriber() -> None:
    bus = AsyncQueueBus()
    sinks = [Sink(f"s{i}") for i in range(3)]
    for sink in sinks:
        await bus.subscribe(sink)
    await bus.start()
    await bus.send(Data(source="x", n=1))
    await bus.drain()
    assert [len(s.got) for s in sinks] == [1, 1, 1]
    await bus.stop()


class TargetedSink(Sink):
    """Declares it wants only broadcasts and its own messages, as workers do."""

    receives_all_messages = False


async def test_a_plain_subscriber_receives_messages_targeted_at_others() -> None:
    bus = AsyncQueueBus()
    watcher, target = Sink("watcher"), Sink("b")
    await bus.subscribe(watcher)
    await bus.subscribe(target)
    await bus.start()
    await bus.send(Data(source="x", target="b", n=1))
    await bus.drain()
    assert [m.n for m in watcher.got] == [1]  # type: ignore[attr-defined]
    assert [m.n for m in target.got] == [1]  # type: ignore[attr-defined]
    await bus.stop()


async def test_targeted_message_is_queued_only_for_its_target_among_declared_subscribers() -> None:
    bus = AsyncQueueBus()
    sinks = {name: TargetedSink(name) for name in ("a", "b", "c")}
    for sink in sinks.values():
        await bus.subscribe(sink)
    await bus.start()
    for i in range(10):
        await bus.send(Data(source="x", target="b", n=i))
    await bus.drain()
    assert [m.n for m in sinks["b"].got] == list(range(10))  # type: ignore[attr-defined]
    # Never queued for the others: not delivered, not filtered.
    for name in ("a", "c"):
        subscription = bus.subscription(name)
        assert subscription is not None
        assert (subscription.delivered, subscription.filtered) == (0, 0)
    await bus.stop()


async def test_message_to_unknown_target_is_counted() -> None:
    bus = AsyncQueueBus()
    await bus.subscribe(Sink("a"))
    await bus.start()
    await bus.send(Data(source="x", target="nobody"))
    assert bus.stats.no_local_target == 1
    await bus.stop()


async def test_messages_sent_before_start_are_delivered_after_it() -> None:
    bus = AsyncQueueBus()
    sink = Sink("a")
    await bus.subscribe(sink)
    for i in range(3):
        await bus.send(Data(source="x", n=i))
    assert sink.got == []
    await bus.start()
    await bus.drain()
    assert [m.n for m in sink.got] == [0, 1, 2]  # type: ignore[attr-defined]
    await bus.stop()


async def test_system_messages_go_ahead_of_queued_data_and_data_stays_fifo() -> None:
    bus = AsyncQueueBus()
    sink = Sink("a")
    await bus.subscribe(sink)
    await bus.send(Data(source="x", n=1))
    await bus.send(Data(source="x", n=2))
    await bus.send(Urgent(source="x", n=3))
    await bus.send(Data(source="x", n=4))
    await bus.send(Urgent(source="x", n=5))
    await bus.start()
    await bus.drain()
    received = [(type(m).__name__, m.n) for m in sink.got]  # type: ignore[attr-defined]
    assert received[:2] == [("Urgent", 3), ("Urgent", 5)]
    assert [n for kind, n in received if kind == "Data"] == [1, 2, 4]
    await bus.stop()


async def test_system_message_is_handled_while_a_long_data_handler_runs() -> None:
    bus = AsyncQueueBus()
    sink = Sink("a")
    sink.gate = asyncio.Event()
    await bus.subscribe(sink)
    await bus.start()
    await bus.send(Data(source="x", n=1))
    await asyncio.sleep(0)  # the data handler starts and blocks on the gate
    await bus.send(Urgent(source="x", n=2))
    await until(lambda: len(sink.got) >= 2)
    assert [type(m).__name__ for m in sink.got] == ["Data", "Urgent"]
    sink.gate.set()
    await bus.drain()
    await bus.stop()


async def test_urgent_job_message_never_overtakes_queued_data_of_the_same_job() -> None:
    bus = AsyncQueueBus()
    sink = Sink("req")
    await bus.subscribe(sink)
    for i in range(3):
        await bus.send(BusJobUpdateMessage(source="w", target="req", job_id="J", update={"i": i}))
    await bus.send(
        BusJobResponseUrgentMessage(
            source="w", target="req", job_id="J", status=JobStatus.COMPLETED
        )
    )
    # An urgent message of another job still goes ahead of J's queued data.
    await bus.send(
        BusJobResponseUrgentMessage(
            source="w", target="req", job_id="K", status=JobStatus.COMPLETED
        )
    )
    await bus.start()
    await bus.drain()
    order = [(type(m).__name__, m.job_id) for m in sink.got]  # type: ignore[attr-defined]
    assert order == [
        ("BusJobResponseUrgentMessage", "K"),
        ("BusJobUpdateMessage", "J"),
        ("BusJobUpdateMessage", "J"),
        ("BusJobUpdateMessage", "J"),
        ("BusJobResponseUrgentMessage", "J"),
    ]
    await bus.stop()


async def test_local_only_messages_are_delivered_but_never_published() -> None:
    bus = RecordingBus()
    sink = Sink("a")
    await bus.subscribe(sink)
    await bus.start()
    await bus.send(LocalNote(source="x", text="hi"))
    await bus.send(Data(source="x"))
    await bus.drain()
    assert [type(m).__name__ for m in sink.got] == ["LocalNote", "Data"]
    assert [e.type_name for e in bus.published] == ["Data"]
    await bus.stop()


async def test_record_only_events_reach_taps_but_no_subscriber() -> None:
    bus = AsyncQueueBus()
    sink = Sink("a")
    await bus.subscribe(sink)
    capture = EnvelopeCapture(bus)
    await bus.start()
    bus.record(
        BusHandlerErrorMessage(
            source="a", message_id=None, handler="h", error_type="E", error="boom"
        )
    )
    await bus.drain()
    assert sink.got == []
    assert capture.type_names() == ["BusHandlerErrorMessage"]
    await bus.stop()


async def test_a_failing_handler_is_recorded_and_dispatch_survives() -> None:
    class Fragile(Sink):
        async def on_bus_message(self, message: BusMessage) -> None:
            await super().on_bus_message(message)
            if getattr(message, "n", 0) == 1:
                raise ValueError("bad message one")

    bus = AsyncQueueBus()
    sink = Fragile("a")
    await bus.subscribe(sink)
    capture = EnvelopeCapture(bus)
    await bus.start()
    for i in range(3):
        await bus.send(Data(source="x", n=i))
    await bus.drain()
    assert [m.n for m in sink.got] == [0, 1, 2]  # type: ignore[attr-defined]
    errors = capture.of_type(BusHandlerErrorMessage)
    assert len(errors) == 1
    failed = errors[0]
    assert (failed.source, failed.error_type, failed.error) == (
        "a",
        "ValueError",
        "bad message one",
    )
    assert "ValueError: bad message one" in failed.traceback
    sent = [e for e in capture.envelopes if e.type_name == "Data"]
    assert failed.message_id == sent[1].message_id
    assert bus.stats.handler_errors == 1
    await bus.stop()


async def test_unsubscribed_subscriber_gets_nothing_more() -> None:
    bus = AsyncQueueBus()
    sink = Sink("a")
    await bus.subscribe(sink)
    await bus.start()
    await bus.send(Data(source="x"))
    await bus.drain()
    await bus.unsubscribe(sink)
    await bus.send(Data(source="x"))
    assert len(sink.got) == 1
    assert bus.stats.delivered == 1
    await bus.stop()


async def test_drain_needs_a_running_bus() -> None:
    with pytest.raises(BusError, match="start"):
        await AsyncQueueBus().drain()


async def test_a_message_sent_by_a_handler_names_its_cause_and_continues_its_trace() -> None:
    bus = AsyncQueueBus()

    class Relay(Sink):
        async def on_bus_message(self, message: BusMessage) -> None:
            await super().on_bus_message(message)
            if isinstance(message, Data) and message.n == 1:
                await bus.send(Data(source=self.name, n=2))

    await bus.subscribe(Relay("relay"))
    capture = EnvelopeCapture(bus)
    await bus.start()
    await bus.send(Data(source="x", n=1))
    await bus.drain()
    first, second = capture.envelopes
    assert first.causation_id is None and first.parent_span_id == 0
    assert second.causation_id == first.message_id
    assert second.trace_id == first.trace_id
    assert second.parent_span_id not in (0, first.span_id)  # the delivery span, a child of the send
    assert [e.seq for e in capture.envelopes] == [1, 2]
    await bus.stop()


async def test_a_failing_tap_does_not_stop_the_message() -> None:
    class BrokenTap:
        def on_envelope(self, envelope: Envelope) -> None:
            raise RuntimeError("tap broke")

    bus = AsyncQueueBus()
    sink = Sink("a")
    await bus.subscribe(sink)
    bus.add_tap(BrokenTap())
    await bus.start()
    await bus.send(Data(source="x"))
    await bus.drain()
    assert len(sink.got) == 1
    assert bus.stats.tap_errors == 1
    await bus.stop()


async def test_stop_keeps_what_is_queued_and_a_restart_delivers_it() -> None:
    bus = AsyncQueueBus()
    sink = Sink("a")
    sink.gate = asyncio.Event()
    await bus.subscribe(sink)
    await bus.start()
    for i in range(3):
        await bus.send(Data(source="x", n=i))
    await asyncio.sleep(0)
    await bus.stop()
    assert bus.stats.undelivered_on_stop == 2
    await bus.send(Data(source="x", n=3))
    sink.gate = None
    await bus.start()
    await bus.drain()
    # The handler that was stopped mid-way (n=0) is not run again; nothing else is lost.
    assert [m.n for m in sink.got] == [0, 1, 2, 3]  # type: ignore[attr-defined]
    await bus.stop()


async def test_a_bus_s_message_ids_are_unique_and_sort_in_send_order() -> None:
    """Across digit counts too (9 -> 10, 99 -> 100): the log's indexes grow at their end."""
    bus = AsyncQueueBus()
    capture = EnvelopeCapture(bus)
    await bus.start()
    for n in range(1, 120):
        await bus.send(Data(source="x", n=n))
    await bus.drain()
    ids = [e.message_id for e in capture.envelopes]
    assert len(set(ids)) == len(ids) == 119
    assert ids == sorted(ids)
    other = AsyncQueueBus()
    other_capture = EnvelopeCapture(other)
    await other.start()
    await other.send(Data(source="x"))
    await other.drain()
    (first_of_other,) = other_capture.envelopes
    assert first_of_other.seq == capture.envelopes[0].seq == 1
    assert first_of_other.message_id != ids[0]  # each bus has a prefix of its own
    await other.stop()
    await bus.stop()


class Stubborn(Sink):
    """A handler that swallows its cancellation once, then waits to be let go."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def on_bus_message(self, message: BusMessage) -> None:
        self.started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await self.release.wait()  # carries on as if nothing happened


async def test_a_stop_never_hangs_on_a_handler_that_swallows_its_cancellation() -> None:
    bus = AsyncQueueBus()
    bus.lane_stop_grace = 0.2
    capture = EnvelopeCapture(bus)
    stubborn = Stubborn("stubborn")
    await bus.subscribe(stubborn)
    await bus.start()
    await bus.send(Data(source="x", target="stubborn"))
    await asyncio.wait_for(stubborn.started.wait(), 5)
    await asyncio.wait_for(bus.stop(), 5)  # returned: the lane was left running, reported
    errors = [e.message for e in capture.envelopes if isinstance(e.message, BusHandlerErrorMessage)]
    assert [(e.source, e.error_type) for e in errors] == [("stubborn", "CancelledError")]
    assert "ignores cancellation" in errors[0].error
    assert bus.stats.handler_errors == 1
    stubborn.release.set()  # let it end, so the test leaves no task behind
    await asyncio.sleep(0)
