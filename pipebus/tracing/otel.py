"""pipebus span records as OpenTelemetry SDK spans, and where they are handed over.

pipebus chooses its span ids itself (so a recording exports to the same ids), so it
does not start spans through a tracer: it builds finished SDK spans and gives them
to the tracer provider's span processors, as an ended span would be. The provider's
sampler decides when each message is stamped (:mod:`pipebus.tracing.sampling`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    Event,
    ReadableSpan,
    SpanLimits,
    SpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from pipebus._version import __version__
from pipebus.core.errors import TracingError
from pipebus.tracing.processor import BulkSpanProcessor
from pipebus.tracing.records import CONSUMER, INTERNAL, PRODUCER, SpanRecord

logger = logging.getLogger("pipebus.tracing")

SCOPE = InstrumentationScope("pipebus", __version__)
"""The instrumentation scope of every pipebus span."""

_KINDS = {PRODUCER: SpanKind.PRODUCER, CONSUMER: SpanKind.CONSUMER, INTERNAL: SpanKind.INTERNAL}
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)


def readable_span(record: SpanRecord, resource: Resource) -> ReadableSpan:
    """The finished SDK span of a span record."""
    trace_id = record.trace_id
    parent = None
    if record.parent_span_id:
        parent = SpanContext(trace_id, record.parent_span_id, record.parent_remote, _SAMPLED)
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
    """Hands span records to a provider's processors (sampling was decided per message).

    The provider's span limits (``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT``,
    ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, ...) apply to pipebus's spans as to any.

    Args:
        provider: An SDK tracer provider (see :func:`span_processor_of`).

    Raises:
        TracingError: If the provider is disabled or not the SDK's.
    """

    def __init__(self, provider: TracerProvider) -> None:
        processor = span_processor_of(provider)
        if processor is None:
            raise TracingError(
                f"{provider!r} is not an enabled OpenTelemetry SDK tracer provider"
                " (OTEL_SDK_DISABLED?)"
            )
        self._processor = processor
        inner = getattr(processor, "_span_processors", None)
        self._bulk: tuple[BulkSpanProcessor, ...] = ()
        if inner and all(isinstance(p, BulkSpanProcessor) for p in inner):
            self._bulk = tuple(inner)
        self.sampler: Sampler = provider.sampler
        resource = self._resource = provider.resource
        limits = _limits(provider)
        if limits is None:
            self._convert: Callable[[SpanRecord], ReadableSpan] = lambda r: readable_span(
                r, resource
            )
        else:
            self._convert = lambda r: readable_span(_limited(r, limits), resource)
        self.exported = 0

    @property
    def resource(self) -> Resource:
        """The provider's resource: what every span it exports is from."""
        return self._resource

    @property
    def bulk(self) -> tuple[BulkSpanProcessor, ...]:
        """The batch processors taking span records (all of the provider's, or none)."""
        return self._bulk

    def emit(self, records: Sequence[SpanRecord]) -> None:
        """Give the records to the processors (``on_end``, as ended spans).

        Processors that take a batch at once (:class:`BulkSpanProcessor`, which
        :func:`~pipebus.tracing.setup.configure` sets up) get one call for all of them.
        """
        if self._bulk:
            for processor in self._bulk:
                processor.on_end_records(records, self._convert)
        else:
            on_end, convert = self._processor.on_end, self._convert
            for record in records:
                on_end(convert(record))
        self.exported += len(records)

    def room(self) -> int:
        """How many more spans the processors take now without dropping any."""
        return min((p.room for p in self._bulk), default=1 << 30)

    def flush(self, timeout_ms: int = 30_000) -> bool:
        """Ask the processors to export what they hold (blocking; run it in a thread)."""
        return self._processor.force_flush(timeout_ms)


def _limits(provider: TracerProvider) -> SpanLimits | None:
    """The provider's span limits, if any could cut a pipebus span (else None: skip)."""
    limits = getattr(provider, "_span_limits", None)
    if not isinstance(limits, SpanLimits):
        return None
    roomy = (
        limits.max_span_attribute_length is None
        and limits.max_attribute_length is None
        and (limits.max_span_attributes is None or limits.max_span_attributes >= _MOST_ATTRIBUTES)
        and (limits.max_events is None or limits.max_events >= 1)
        and (limits.max_links is None or limits.max_links >= 1)
        and (limits.max_event_attributes is None or limits.max_event_attributes >= 3)
    )
    return None if roomy else limits


_MOST_ATTRIBUTES = 16
"""More attributes than any pipebus span has."""


def _limited(record: SpanRecord, limits: SpanLimits) -> SpanRecord:
    """A copy of ``record`` cut to the span limits, as the SDK cuts the spans it records."""
    attributes = BoundedAttributes(
        limits.max_span_attributes,
        record.attributes,
        immutable=False,
        max_value_len=limits.max_span_attribute_length,
    )
    events = record.events
    if limits.max_events is not None:
        events = events[: limits.max_events]
    events = tuple(
        (
            name,
            time_ns,
            dict(
                BoundedAttributes(
                    limits.max_event_attributes,
                    values,
                    immutable=False,
                    max_value_len=limits.max_attribute_length,
                )
            ),
        )
        for name, time_ns, values in events
    )
    links = record.links if limits.max_links is None else record.links[: limits.max_links]
    return replace(record, attributes=dict(attributes), events=events, links=links)
