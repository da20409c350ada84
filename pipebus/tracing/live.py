"""Live tracing: a bus tap that turns what the bus stamps and delivers into spans.

Nothing is built on the send path: the tap decides whether each envelope's trace is
sampled (:mod:`pipebus.tracing.sampling`), keeps each sampled envelope and each of its
finished deliveries in a buffer, and a task of its own builds the spans in batches
(with the same :class:`~pipebus.tracing.spans.SpanBuilder` that exports recorded
sessions) and gives them to the tracer provider's processors.

No span is dropped while the exporter works: the task hands spans over only while the
batch processors have room, and waits otherwise; meanwhile the buffer fills, and a
full buffer makes senders wait, as the event log's does. While the exporter fails (its
collector down), nobody waits for it: what the processors drop or fail to export is
counted in :attr:`LiveTracer.stats`, logged, and recorded in the session as
``BusSpansLostMessage`` events naming the lost spans' ids, so that ``pipebus export
--only-lost`` can rebuild and send exactly those spans later. The runner stops its
tracer before its recorder, so spans lost at the final flush are recorded too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipebus.bus.context import ActiveDelivery, current_delivery
from pipebus.core.envelope import Envelope
from pipebus.core.messages import BusSpansLostMessage, BusTracingStartedMessage
from pipebus.core.routing import Delivery, delivery_of
from pipebus.tracing import semconv as sc
from pipebus.tracing.bridge import OpenTelemetryBridge
from pipebus.tracing.events import event_of_envelope
from pipebus.tracing.otel import SpanSink
from pipebus.tracing.records import SpanRecord
from pipebus.tracing.sampling import TraceSampling
from pipebus.tracing.spans import SpanBuilder

if TYPE_CHECKING:
    from pipebus.bus.base import WorkerBus

logger = logging.getLogger("pipebus.tracing")

_Delivery = tuple[str, str, int, int, str | None, str | None]
EXPORT_WAIT_S = 0.005
"""How often the tracer, waiting for room in the export queue, looks again."""
BUILD_CHUNK = 2000
"""Items built per step before the builder lets the bus run again."""
LOST_IDS_PER_EVENT = 4096
"""Span ids a recorded ``BusSpansLostMessage`` holds at most (one export batch's)."""
RAISED = "a span processor raised"
"""Why spans were lost when handing them to the processors raised."""


@dataclass(frozen=True, slots=True)
class TracingStats:
    """Counters of one live tracer, read with :attr:`LiveTracer.stats`.

    Attributes:
        built: Envelopes and deliveries built into spans.
        exported: Spans handed to the tracer provider's processors.
        sampled_out: Envelopes whose trace the sampler did not keep (no spans built).
        waits: Times the tracer waited for room in the export queue (back-pressure).
        dropped: This session's spans the processors dropped (their exporter failing
            and their queue full).
        failed: This session's spans in exports that failed.
        lost: Spans a span processor refused by raising.
    """

    built: int
    exported: int
    sampled_out: int
    waits: int
    dropped: int
    failed: int
    lost: int


def _plain(value: Any) -> Any:
    """A resource attribute value as the codec writes it (a sequence as a list)."""
    return list(value) if isinstance(value, (list, tuple)) else value


class LiveTracer:
    """Traces one bus while it runs.

    Args:
        sink: Where finished spans go (the tracer provider's processors).
        links: Make deliveries roots linked to their sends instead of children.
        capacity: Buffered items (envelopes and deliveries) before senders wait.
        linger: Seconds a small batch may wait to grow before it is built.

    Attributes:
        built: Envelopes and deliveries built into spans so far.
        lost: Spans a span processor refused by raising (logged with the error).
        lost_spans: ``(trace_id, span_id)`` of this session's spans that the batch
            processors dropped or failed to export, or that a processor refused by
            raising, in the order they were lost (each also recorded in the session).
    """

    def __init__(
        self,
        sink: SpanSink,
        *,
        links: bool = False,
        capacity: int = 50_000,
        linger: float = 0.05,
    ) -> None:
        self.sink = sink
        self._links = links
        self._capacity = capacity
        self._linger = linger
        self._builder: SpanBuilder | None = None
        self._pending: list[Envelope | _Delivery] = []
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._bus: WorkerBus | None = None
        self._stopping = False
        self._sampling = TraceSampling(sink.sampler)
        self._bridge = OpenTelemetryBridge(links=links)
        self._session: str | None = None
        self._lost_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._recording_to: WorkerBus | None = None
        self._unrecorded: list[tuple[str, list[int]]] = []
        self.built = 0
        self.lost = 0
        self.sampled_out = 0
        self.waits = 0
        self.dropped = 0
        self.failed = 0
        self.lost_spans: list[tuple[int, int]] = []

    @property
    def stats(self) -> TracingStats:
        """A snapshot of this tracer's counters."""
        return TracingStats(
            self.built,
            self.sink.exported,
            self.sampled_out,
            self.waits,
            self.dropped,
            self.failed,
            self.lost,
        )

    async def start(self, bus: WorkerBus) -> None:
        """Trace ``bus`` from now on: its taps, its delivery tap, its trace bridge."""
        self._builder = SpanBuilder(deliveries_timed=True, links=self._links)
        # Recorded (before this tap sees anything): an export of the session gives the
        # spans this runner reports the resource they had live.
        resource = {key: _plain(value) for key, value in self.sink.resource.attributes.items()}
        bus.record(BusTracingStartedMessage(source=bus.runner_name, resource=resource))
        self._bus = self._recording_to = bus
        self._loop = asyncio.get_running_loop()
        self._session = bus.session_id
        self._stopping = False
        bus.trace_bridge = self._bridge
        for processor in self.sink.bulk:
            processor.lost.append(self._on_lost)
        bus.add_tap(self)
        bus.add_delivery_tap(self)
        bus.add_gate(self)
        self._task = asyncio.create_task(self._build_loop(), name="pipebus:tracer")

    async def stop(self) -> None:
        """Build what is buffered, close open spans, flush the processors, record losses.

        Spans lost up to the end of the flush (a collector down) are recorded in the
        session before this returns: stop the tracer before the recorder.
        """
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.remove_tap(self)
            bus.remove_delivery_tap(self)
            bus.remove_gate(self)
            bus.trace_bridge = None
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            await asyncio.wait([task])
        builder = self._builder
        if builder is not None:
            await self._hand_over(self._build(self._take()))
            await self._hand_over(builder.finish())
            self._builder = None
        flushed = await asyncio.to_thread(self.sink.flush)
        for processor in self.sink.bulk:
            if self._on_lost in processor.lost:
                processor.lost.remove(self._on_lost)
        self._record_lost()
        self._recording_to = None
        if not flushed:
            logger.warning("tracing: the span processors did not flush in time")

    # --- taps and gate ----------------------------------------------------------------------

    def on_envelope(self, envelope: Envelope) -> None:
        """Decide whether the envelope's trace is sampled; keep it to build from (never waits).

        An envelope not sampled is kept only if it is record-only (a handler's error
        or a job's verdict may concern a sampled trace's spans).
        """
        sampled = envelope.sampled = self._sampled(envelope)
        if not sampled and delivery_of(type(envelope.message)) is not Delivery.RECORD:
            self.sampled_out += 1
            return
        self._pending.append(envelope)
        if len(self._pending) == 1:
            self._wake.set()

    def _sampled(self, envelope: Envelope) -> bool:
        """The sampling decision for an envelope, from the parent it was sent under."""
        sampling = self._sampling
        if sampling.keeps_everything:
            return True
        name = type(envelope.message).__name__
        trace_id, parent = envelope.trace_id, envelope.parent_span_id
        if envelope.sampled is not None:  # off the wire: the sender's decision
            return sampling.decide(trace_id, name, parent, envelope.sampled, True)
        if not parent:
            return sampling.decide(trace_id, name)
        delivery = current_delivery.get()
        if delivery is not None and parent == delivery.span_id:
            return sampling.decide(trace_id, name, parent, delivery.envelope.sampled)
        outer = self._bridge.outer
        if outer is not None and outer[0] == trace_id and outer[1] == parent:
            return sampling.decide(trace_id, name, parent, outer[2], outer[3])
        return sampling.decide(trace_id, name)  # a parent nobody here knows the flag of

    def on_delivery(
        self, delivery: ActiveDelivery, end_ns: int, error: BaseException | None
    ) -> None:
        """Keep a finished delivery's timing (of a sampled message)."""
        if delivery.envelope.sampled is False:
            return
        self._pending.append(
            (
                delivery.envelope.message_id,
                delivery.subscriber,
                delivery.start_ns,
                end_ns,
                type(error).__name__ if error is not None else None,
                str(error) if error is not None else None,
            )
        )

    def must_wait(self) -> bool:
        """Whether senders must wait for the tracer to catch up (its buffer is full).

        The buffer fills while the tracer waits for room in the export queue, so a
        slow exporter holds senders back through it.
        """
        return len(self._pending) >= self._capacity

    async def wait(self) -> None:
        """Wait until the buffer has room."""
        self._wake.set()
        while len(self._pending) >= self._capacity and self._task is not None:
            self._room.clear()
            await self._room.wait()

    async def drain(self) -> None:
        """Wait until everything the bus handed over so far is built into spans.

        The spans are then with the tracer provider's processors (a batch processor
        exports them on its own schedule).
        """
        if self._task is None:
            return
        if self._pending:
            self._idle.clear()
            self._wake.set()
        await self._idle.wait()

    # --- the builder ----------------------------------------------------------------------

    def _take(self) -> list[Envelope | _Delivery]:
        pending, self._pending = self._pending, []
        self._room.set()
        return pending

    async def _build_loop(self) -> None:
        while not self._stopping:
            if not self._pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                self._idle.clear()
                continue
            if self._linger > 0 and len(self._pending) < self._capacity // 4:
                await asyncio.sleep(self._linger)
            items = self._take()
            for start in range(0, len(items), BUILD_CHUNK):
                if start:
                    await asyncio.sleep(0)
                await self._hand_over(self._build(items[start : start + BUILD_CHUNK]))

    def _build(self, items: list[Envelope | _Delivery]) -> list[SpanRecord]:
        builder = self._builder
        if builder is None or not items:
            return []
        add_event, add_delivery = builder.add_event, builder.add_delivery
        for item in items:
            if isinstance(item, Envelope):
                add_event(event_of_envelope(item))
            else:
                add_delivery(*item)
        self.built += len(items)
        return builder.take()

    async def _hand_over(self, spans: list[SpanRecord]) -> None:
        """Give spans to the processors as they have room for them, waiting meanwhile."""
        sink = self.sink
        while spans:
            room = sink.room()
            if room <= 0:
                self.waits += 1
                # The export thread empties the queue; it sets no asyncio event to wait on.
                while sink.room() <= 0:  # noqa: ASYNC110
                    await asyncio.sleep(EXPORT_WAIT_S)
                continue
            if room >= len(spans):
                part, spans = spans, []
            else:
                part, spans = spans[:room], spans[room:]
            self._emit(part)

    def _emit(self, spans: list[SpanRecord]) -> None:
        try:
            self.sink.emit(spans)
        except Exception:
            self.lost += len(spans)
            logger.exception("tracing: a span processor raised; %d spans lost", len(spans))
            self._note_lost([(span.trace_id, span.span_id) for span in spans], RAISED)

    def _on_lost(self, spans: Sequence[Any], why: str) -> None:
        """Count this session's spans a processor dropped or failed to export (any thread)."""
        session = self._session
        mine = [
            (span.trace_id, span.span_id)
            for span in spans
            if isinstance(span, SpanRecord) and span.attributes.get(sc.PIPEBUS_SESSION) == session
        ]
        if not mine:
            return
        with self._lost_lock:
            if why == "the export queue was full":
                self.dropped += len(mine)
            else:
                self.failed += len(mine)
        self._note_lost(mine, why)

    def _note_lost(self, spans: list[tuple[int, int]], why: str) -> None:
        """Keep lost spans' ids, and have the event loop record them (any thread)."""
        with self._lost_lock:
            self.lost_spans.extend(spans)
            self._unrecorded.append((why, [span_id for _trace_id, span_id in spans]))
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # not started, or long stopped: stop() recorded all it was told of
        loop.call_soon_threadsafe(self._record_lost)

    def _record_lost(self) -> None:
        """Record the spans lost since the last call as ``BusSpansLostMessage`` events."""
        with self._lost_lock:
            unrecorded, self._unrecorded = self._unrecorded, []
        bus = self._recording_to
        if not unrecorded:
            return
        if bus is None:  # only after stop(), which stops listening first
            count = sum(len(ids) for _why, ids in unrecorded)
            logger.error("tracing: %d lost spans reported after the session ended", count)
            return
        for why, span_ids in unrecorded:
            for start in range(0, len(span_ids), LOST_IDS_PER_EVENT):
                chunk = span_ids[start : start + LOST_IDS_PER_EVENT]
                hex_ids = [f"{span_id:016x}" for span_id in chunk]
                bus.record(
                    BusSpansLostMessage(source=bus.runner_name, span_ids=hex_ids, reason=why)
                )
