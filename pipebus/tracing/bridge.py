"""The bus's trace context joined to the application's OpenTelemetry context.

While a handler runs, its delivery span is the current span for the application's
own tracer (a non-recording span context: the span itself is pipebus's to report),
so spans the application starts nest under it, with the delivery's sampled flag as
their parent's. A message sent while one of the application's spans is current is
sent under that span, and takes its sampled flag. With links, a delivery is the root
of a trace of its own (see :func:`~pipebus.tracing.spans.linked_trace_id`): what its
handler sends and the spans it starts belong to that trace.
"""

from __future__ import annotations

from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from pipebus.bus.context import ActiveDelivery
from pipebus.tracing.spans import linked_trace_id

_FLAGS = {True: TraceFlags(TraceFlags.SAMPLED), False: TraceFlags(TraceFlags.DEFAULT)}


class _DeliverySpan(NonRecordingSpan):
    """A delivery's span as the application's tracer sees it; its context made on first use.

    Most handlers start no span of their own, so most deliveries never need one.
    """

    def __init__(self, delivery: ActiveDelivery, links: bool) -> None:
        self.delivery = delivery
        self._links = links
        self._made: SpanContext | None = None

    def get_span_context(self) -> SpanContext:
        made = self._made
        if made is None:
            delivery = self.delivery
            envelope = delivery.envelope
            state = envelope.trace_state
            trace_id = envelope.trace_id
            if self._links:
                trace_id = linked_trace_id(trace_id, delivery.span_id)
            made = self._made = SpanContext(
                trace_id,
                delivery.span_id,
                False,
                _FLAGS[envelope.sampled is not False],
                TraceState.from_header([state]) if state else None,
            )
        return made

    def __repr__(self) -> str:
        return f"_DeliverySpan({self.delivery.subscriber!r}, {self.delivery.envelope.message_id!r})"


class OpenTelemetryBridge:
    """The :class:`~pipebus.bus.taps.TraceBridge` of live tracing.

    Attributes:
        outer: The application's span the last :meth:`parent` call returned, as
            ``(trace_id, span_id, sampled, remote)``, or None. The bus stamps the
            envelope and shows it to the taps right after asking, so the live tracer
            reads the parent's flag here (it checks the ids match).
    """

    def __init__(self, *, links: bool = False) -> None:
        self.outer: tuple[int, int, bool, bool] | None = None
        self._links = links

    def parent(self, delivery: ActiveDelivery | None) -> tuple[int, int, str | None] | None:
        """The application's current span, unless it is the delivery's own.

        With links, the delivery's own span too: it is in a trace of its own.
        """
        self.outer = None
        span = trace.get_current_span()
        span_context = span.get_span_context()
        own = (isinstance(span, _DeliverySpan) and span.delivery is delivery) or (
            delivery is not None and span_context.span_id == delivery.span_id
        )
        if own or not span_context.is_valid:
            if self._links and delivery is not None:
                envelope = delivery.envelope
                trace_id = linked_trace_id(envelope.trace_id, delivery.span_id)
                return trace_id, delivery.span_id, envelope.trace_state
            return None
        state = span_context.trace_state.to_header() if span_context.trace_state else None
        self.outer = (
            span_context.trace_id,
            span_context.span_id,
            span_context.trace_flags.sampled,
            span_context.is_remote,
        )
        return span_context.trace_id, span_context.span_id, state or None

    def enter(self, delivery: ActiveDelivery) -> object:
        """Make the delivery's span current for the application's tracer."""
        return context.attach(trace.set_span_in_context(_DeliverySpan(delivery, self._links)))

    def leave(self, token: object) -> None:
        """Restore the application's context from before :meth:`enter`."""
        context.detach(token)  # type: ignore[arg-type]
