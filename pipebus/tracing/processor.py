"""``BulkSpanProcessor``: finished spans exported in large batches, handed over a batch at a time.

OpenTelemetry's ``BatchSpanProcessor`` takes spans one ``on_end`` call at a time, each
with its lock and its checks; pipebus's live tracer builds its spans in batches, and
hands each batch over with one call (:meth:`BulkSpanProcessor.on_end_many`). A thread
of the processor's own exports what has gathered every ``delay_s`` seconds, or at
once when a batch is full. Spans the application ends itself come through ``on_end``.

The queue is bounded (``max_queue``), and nothing is dropped while the exporter works:
pipebus's live tracer hands spans over only while the queue has :attr:`room` (three
quarters of it, the rest kept for the application's own spans), and otherwise waits,
which in turn makes senders wait. Once an export has failed (the collector is down or
refuses), the processor is :attr:`failing` until one succeeds: then nobody waits for
it, spans past ``max_queue`` are dropped, and every span dropped or in a failed export
is counted (``dropped``, ``failed``), logged once per streak, and shown to the
processor's ``lost`` listeners (the live tracer, which records them in the session).
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
FLUSH_TIMEOUT_S = 30.0
"""Longest time a flush waits for the exports under way, by default."""

LostListener = Callable[[Sequence[Any], str], None]
"""Told of spans that did not reach the exporter's collector, and why (any thread)."""


class BulkSpanProcessor(SpanProcessor):
    """Exports finished spans from a thread, in batches of up to ``max_batch``.

    Args:
        exporter: Where the spans go.
        max_queue: Spans held; past it, spans are dropped (only while failing, for
            pipebus's own spans, which otherwise wait for room).
        max_batch: Spans per export call.
        delay_s: Longest time a span waits before it is exported.
        flush_timeout_s: Longest time :meth:`force_flush` waits for an export under way.

    Attributes:
        exported: Spans the exporter accepted.
        failed: Spans in exports that failed or raised (logged).
        dropped: Spans refused because the queue was full (logged once per streak).
        lost: Listeners told of every span dropped or failed.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue: int = MAX_QUEUE,
        max_batch: int = MAX_BATCH,
        delay_s: float = DELAY_S,
        flush_timeout_s: float = FLUSH_TIMEOUT_S,
    ) -> None:
        self.exporter = exporter
        self._max_queue = max_queue
        self._high_water = max_queue * 3 // 4
        self._max_batch = max_batch
        self._delay_s = delay_s
        self._flush_timeout_s = flush_timeout_s
        self.failing = False
        self.lost: list[LostListener] = []
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
        dropped: Sequence[Any] = ()
        with self._lock:
            queue = self._queue
            room = self._max_queue - len(queue)
            if room >= len(spans):
                queue.extend(spans)
                self._dropping = False
            else:
                kept = max(room, 0)
                queue.extend(spans[:kept])
                dropped = spans[kept:]
            full = len(queue) >= self._max_batch
        if full:
            self._wake.set()
        if dropped:
            self._drop(dropped)

    @property
    def room(self) -> int:
        """How many more of pipebus's spans to hand over now (see the module's docstring).

        Up to three quarters of the queue while the exporter works; unbounded while it
        is failing or the processor is shut down (nobody waits for a dead collector:
        what does not fit is dropped and counted).
        """
        if self.failing or self._stopping:
            return 1 << 62
        return self._high_water - len(self._queue)

    def force_flush(self, timeout_millis: int | None = None) -> bool:
        """Export everything queued now, in the calling thread; True if all went out.

        Waits at most ``timeout_millis`` (default: ``flush_timeout_s``) for an export
        the thread has under way; then False.
        """
        timeout = self._flush_timeout_s if timeout_millis is None else timeout_millis / 1000
        if not self._export_lock.acquire(timeout=timeout):
            return False
        try:
            return self._export_queued()
        finally:
            self._export_lock.release()

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
        with self._export_lock:
            return self._export_queued()

    def _export_queued(self) -> bool:
        ok = True
        while batch := self._take():
            ok = self._export(batch) and ok
        return ok

    def _export(self, batch: list[Any]) -> bool:
        convert = self._convert
        spans = batch
        try:
            if convert is not None:
                spans = [s if isinstance(s, ReadableSpan) else convert(s) for s in batch]
            result = self.exporter.export(spans)
        except Exception:
            logger.exception("tracing: exporting %d spans raised", len(batch))
            self._failed(batch, "the export raised")
            return False
        if result is not SpanExportResult.SUCCESS:
            logger.warning("tracing: the exporter refused %d spans (%s)", len(batch), result)
            # Listeners are shown the spans as they were queued (pipebus's own records,
            # which the live tracer recognises and records as lost), not the converted ones.
            self._failed(batch, "the collector did not take them")
            return False
        self.exported += len(batch)
        self.failing = False
        return True

    def _failed(self, batch: list[Any], why: str) -> None:
        self.failed += len(batch)
        self.failing = True
        self._tell(batch, why)

    def _drop(self, spans: Sequence[Any]) -> None:
        self.dropped += len(spans)
        if not self._dropping:
            self._dropping = True
            logger.warning(
                "tracing: the export queue is full (%d spans); dropping spans until it has room",
                self._max_queue,
            )
        self._tell(spans, "the export queue was full")

    def _tell(self, spans: Sequence[Any], why: str) -> None:
        for listener in list(self.lost):
            try:
                listener(spans, why)
            except Exception:
                logger.exception("tracing: a listener of lost spans raised")
