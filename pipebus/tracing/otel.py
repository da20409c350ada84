"""pipebus span records as OpenTelemetry SDK spans, and where they are handed over.

pipebus chooses its span ids itself (so a recording exports to the same ids), so it
does not start spans through a tracer: it builds finished SDK spans and gives them
to the tracer provider's span processors, as an ended span would be. The provider's
sampler decides, once per trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from pipebus._version import __version__
from pipebus.tracing.processor import BulkSpanProcessor
from pipebus.tracing.records import CONSUMER, INTERNAL, PRODUCER, SpanRecord

logger = logging.getLogger("pipebus.tracing")

SCOPE = InstrumentationScope("pipebus", __version__)
"""The instrumentation scope of every pipebus span."""

_KINDS = {PRODUCER: SpanKind.PRODUCER, CONSUMER: SpanKind.CONSUMER, INTERNAL: SpanKind.INTERNAL}
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)
_KEPT_DECISIONS = 65_536


def readable_span(record: SpanRecord, resource: Resource) -> ReadableSpan:
    """The finished SDK span of a span record."""
    trace_id = record.trace_id
    parent = None
    if record.parent_span_id:
        parent = SpanContext(trace_id, record.parent_span_id, False, _SAMPLED)
    return ReadableSpan(
        name=record.name,
        context=SpanContext(trace_id, record.span_id, False, _SAMPLED),
        parent=parent,
        resource=resource,
        attributes=record.attributes,
        events=[Event(name, attrs, time_ns) for name, time_ns, attrs in record.events]
        if record.events
        else (),
        links=[Link(SpanContext(t, s, False, _SAMPLED)) for t, s in record.links]
        if record.links
        else (),
        kind=_KINDS[record.kind],
        status=Status(StatusCode.ERROR, record.error) if record.error is not None else _UNSET,
        start_time=record.start_ns,
        end_time=record.end_ns,
        instrumentation_scope=SCOPE,
    )


def span_processor_of(provider: Any) -> SpanProcessor | None:
    """The span processor(s) of an SDK tracer provider; None for any other provider.

    A provider that is not the SDK's (a vendor's own) has no processors pipebus can
    hand finished spans to; an SDK provider disabled by ``OTEL_SDK_DISABLED`` neither.
    """
    if not isinstance(provider, TracerProvider) or getattr(provider, "_disabled", False):
        return None
    processor = getattr(provider, "_active_span_processor", None)
    return processor if isinstance(processor, SpanProcessor) else None


class SpanSink:
    """Hands span records to a provider's processors, sampled per trace by its sampler.

    Args:
        provider: An SDK tracer provider (see :func:`span_processor_of`).
    """

    def __init__(self, provider: TracerProvider) -> None:
        processor = span_processor_of(provider)
        if processor is None:
            raise ValueError(f"{provider!r} is not an enabled OpenTelemetry SDK tracer provider")
        self._processor = processor
        inner = getattr(processor, "_span_processors", None)
        self._bulk: tuple[BulkSpanProcessor, ...] = ()
        if inner and all(isinstance(p, BulkSpanProcessor) for p in inner):
            self._bulk = tuple(inner)
        self._resource = provider.resource
        resource = self._resource
        self._convert: Callable[[SpanRecord], ReadableSpan] = lambda r: readable_span(r, resource)
        self._sampler: Sampler | None = provider.sampler
        if _always_on(provider.sampler):
            self._sampler = None
        self._decisions: dict[int, bool] = {}
        self.exported = 0
        self.sampled_out = 0

    def emit(self, records: Iterable[SpanRecord]) -> None:
        """Give the sampled records to the processors (``on_end``, as ended spans).

        Processors that take a batch at once (:class:`BulkSpanProcessor`, which
        :func:`~pipebus.tracing.setup.configure` sets up) get one call for all of them.
        """
        resource = self._resource
        if self._bulk:
            given = records if isinstance(records, list) else list(records)
            kept = given if self._sampler is None else [r for r in given if self._sampled(r)]
            for processor in self._bulk:
                processor.on_end_records(kept, self._convert)
            self.exported += len(kept)
            self.sampled_out += len(given) - len(kept)
            return
        on_end = self._processor.on_end
        for record in records:
            if self._sampler is not None and not self._sampled(record):
                self.sampled_out += 1
                continue
            on_end(readable_span(record, resource))
            self.exported += 1

    @property
    def backlogged(self) -> bool:
        """Whether a batch processor's queue is nearly full (senders should wait)."""
        for processor in self._bulk:
            if processor.backlogged:
                return True
        return False

    def flush(self, timeout_ms: int = 30_000) -> bool:
        """Ask the processors to export what they hold (blocking; run it in a thread)."""
        return self._processor.force_flush(timeout_ms)

    def _sampled(self, record: SpanRecord) -> bool:
        decision = self._decisions.get(record.trace_id)
        if decision is None:
            assert self._sampler is not None
            result = self._sampler.should_sample(
                None, record.trace_id, record.name, _KINDS[record.kind], record.attributes
            )
            decision = result.decision is Decision.RECORD_AND_SAMPLE
            if len(self._decisions) >= _KEPT_DECISIONS:
                self._decisions.clear()
            self._decisions[record.trace_id] = decision
        return decision


def _always_on(sampler: Sampler) -> bool:
    if sampler is ALWAYS_ON:
        return True
    return isinstance(sampler, ParentBased) and getattr(sampler, "_root", None) is ALWAYS_ON


def readable_spans(records: Sequence[SpanRecord], resource: Resource) -> list[ReadableSpan]:
    """SDK spans of span records, for an exporter."""
    return [readable_span(record, resource) for record in records]
