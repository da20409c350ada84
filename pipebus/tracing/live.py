"""Live tracing: a bus tap that turns what the bus stamps and delivers into spans.

Nothing is built on the send path: the tap keeps each envelope and each finished
delivery in a buffer, and a task of its own builds the spans in batches (with the
same :class:`~pipebus.tracing.spans.SpanBuilder` that exports recorded sessions)
and gives them to the tracer provider's processors. A full buffer makes senders
wait, as the event log's does, so no span is lost on pipebus's side.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pipebus.bus.context import ActiveDelivery
from pipebus.core.envelope import Envelope
from pipebus.tracing.bridge import OpenTelemetryBridge
from pipebus.tracing.events import event_of_envelope
from pipebus.tracing.otel import SpanSink
from pipebus.tracing.records import SpanRecord
from pipebus.tracing.spans import SpanBuilder

if TYPE_CHECKING:
    from pipebus.bus.base import WorkerBus

logger = logging.getLogger("pipebus.tracing")

_Delivery = tuple[str, str, int, int, str | None, str | None]
EXPORT_WAIT_S = 0.005
"""How often a sender held back by a full export queue looks again."""
BUILD_CHUNK = 2000
"""Items built per step before the builder lets the bus run again."""


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
        self.built = 0
        self.lost = 0

    async def start(self, bus: WorkerBus) -> None:
        """Trace ``bus`` from now on: its taps, its delivery tap, its trace bridge."""
        self._builder = SpanBuilder(deliveries_timed=True, links=self._links)
        self._bus = bus
        self._stopping = False
        bus.trace_bridge = OpenTelemetryBridge()
        bus.add_tap(self)
        bus.add_delivery_tap(self)
        bus.add_gate(self)
        self._task = asyncio.create_task(self._build_loop(), name="pipebus:tracer")

    async def stop(self) -> None:
        """Build what is buffered, close open spans, and flush the processors."""
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
            self._build(self._take())
            self._emit(builder.finish())
            self._builder = None
        flushed = await asyncio.to_thread(self.sink.flush)
        if not flushed:
            logger.warning("tracing: the span processors did not flush in time")

    # --- taps and gate ----------------------------------------------------------------------

    def on_envelope(self, envelope: Envelope) -> None:
        """Keep an envelope to build its spans from (never waits)."""
        self._pending.append(envelope)
        if len(self._pending) == 1:
            self._wake.set()

    def on_delivery(
        self, delivery: ActiveDelivery, end_ns: int, error: BaseException | None
    ) -> None:
        """Keep a finished delivery's timing."""
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
        """Whether senders must wait for the tracer (or its exporter) to catch up."""
        return len(self._pending) >= self._capacity or self.sink.backlogged

    async def wait(self) -> None:
        """Wait until the buffer has room, and the exporter's queue too."""
        self._wake.set()
        while len(self._pending) >= self._capacity and self._task is not None:
            self._room.clear()
            await self._room.wait()
        # The export thread empties that queue; it sets no asyncio event to wait on.
        while self.sink.backlogged and self._task is not None:  # noqa: ASYNC110
            await asyncio.sleep(EXPORT_WAIT_S)

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
                self._build(items[start : start + BUILD_CHUNK])

    def _build(self, items: list[Envelope | _Delivery]) -> None:
        builder = self._builder
        if builder is None or not items:
            return
        add_event, add_delivery = builder.add_event, builder.add_delivery
        for item in items:
            if isinstance(item, Envelope):
                add_event(event_of_envelope(item))
            else:
                add_delivery(*item)
        self.built += len(items)
        self._emit(builder.take())

    def _emit(self, spans: list[SpanRecord]) -> None:
        try:
            self.sink.emit(spans)
        except Exception:
            self.lost += len(spans)
            logger.exception("tracing: a span processor raised; %d spans lost", len(spans))
