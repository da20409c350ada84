"""``BulkSpanProcessor``: finished spans exported in large batches, handed over a batch at a time.

OpenTelemetry's ``BatchSpanProcessor`` takes spans one ``on_end`` call at a time, each
with its lock and its checks; pipebus's live tracer builds its spans in batches, and
hands each batch over with one call (:meth:`BulkSpanProcessor.on_end_many`). A thread
of the processor's own exports what has gathered every ``delay_s`` seconds, or at
once when a batch is full. Spans the application ends itself come through ``on_end``.
The queue is bounded: spans past ``max_queue`` are dropped and counted (``dropped``)
with a warning, as OpenTelemetry's processor does; pipebus's own tracer waits before
that happens (it holds back senders once its buffer is full).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

logger = logging.getLogger("pipebus.tracing")

MAX_QUEUE = 65_536
"""Spans held by default before more are dropped (larger than OpenTelemetry's 2,048)."""
MAX_BATCH = 4096
"""Spans per export call by default (OpenTelemetry's: 512)."""
DELAY_S = 0.5
"""Longest time a span waits before it is exported, by default (OpenTelemetry's: 5 s)."""


class BulkSpanProcessor(SpanProcessor):
    """Exports finished spans from a thread, in batches of up to ``max_batch``.

    Args:
        exporter: Where the spans go.
        max_queue: Spans held before more are dropped.
        max_batch: Spans per export call.
        delay_s: Longest time a span waits before it is exported.

    Attributes:
        exported: Spans the exporter accepted.
        failed: Spans in exports that failed or raised (logged).
        dropped: Spans refused because the queue was full (logged once per streak).
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue: int = MAX_QUEUE,
        max_batch: int = MAX_BATCH,
        delay_s: float = DELAY_S,
    ) -> None:
        self.exporter = exporter
        self._max_queue = max_queue
        self._high_water = max_queue * 3 // 4
        self._max_batch = max_batch
        self._delay_s = delay_s
        self._queue: list[Any] = []
        self._convert: Callable[[Any], ReadableSpan] | None = None
        self._lock = threading.Lock()
        self._export_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._dropping = False
        self.exported = self.failed = self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="pipebus-span-export", daemon=True)
        self._thread.start()

    def on_start(self, span: Span, parent_context: object = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue one finished span (the application's own)."""
        self.on_end_many((span,))

    def on_end_records(
        self, records: Sequence[Any], convert: Callable[[Any], ReadableSpan]
    ) -> None:
        """Queue finished spans as records that ``convert`` makes SDK spans of, when exported.

        The export thread converts them just before it exports them, so what waits in
        the queue is one small object a span (the garbage collector walks fewer) and the
        SDK spans live only as long as the export call.
        """
        self._convert = convert
        self.on_end_many(records)

    def on_end_many(self, spans: Sequence[Any]) -> None:
        """Queue finished spans, with one lock for all of them."""
        if self._stopping or not spans:
            return
        with self._lock:
            queue = self._queue
            room = self._max_queue - len(queue)
            if room >= len(spans):
                queue.extend(spans)
                self._dropping = False
            else:
                queue.extend(spans[: max(room, 0)])
                self._drop(len(spans) - max(room, 0))
            full = len(queue) >= self._max_batch
        if full:
            self._wake.set()

    @property
    def backlogged(self) -> bool:
        """Whether the queue is three quarters full: time for producers to wait."""
        return len(self._queue) >= self._high_water

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything queued now, in the calling thread; True if all went out."""
        return self._export_all()

    def shutdown(self) -> None:
        """Export what is queued, stop the thread, shut the exporter down."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)
        self._export_all()
        self.exporter.shutdown()

    # --- the export thread ------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._delay_s)
            self._wake.clear()
            self._export_all()

    def _take(self) -> list[Any]:
        with self._lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        return batch

    def _export_all(self) -> bool:
        ok = True
        with self._export_lock:
            while batch := self._take():
                ok = self._export(batch) and ok
        return ok

    def _export(self, batch: list[Any]) -> bool:
        convert = self._convert
        try:
            if convert is not None:
                batch = [s if isinstance(s, ReadableSpan) else convert(s) for s in batch]
            result = self.exporter.export(batch)
        except Exception:
            self.failed += len(batch)
            logger.exception("tracing: exporting %d spans raised", len(batch))
            return False
        if result is not SpanExportResult.SUCCESS:
            self.failed += len(batch)
            logger.warning("tracing: the exporter refused %d spans (%s)", len(batch), result)
            return False
        self.exported += len(batch)
        return True

    def _drop(self, count: int) -> None:
        self.dropped += count
        if not self._dropping:
            self._dropping = True
            logger.warning(
                "tracing: the export queue is full (%d spans); dropping spans until it has room",
                self._max_queue,
            )
