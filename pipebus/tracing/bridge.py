"""The bus's trace context joined to the application's OpenTelemetry context.

While a handler runs, its delivery span is the current span for the application's
own tracer (a non-recording span context: the span itself is pipebus's to report),
so spans the application starts nest under it. A message sent while one of the
application's spans is current is sent under that span.
"""

from __future__ import annotations

from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from pipebus.bus.context import ActiveDelivery

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class _DeliverySpan(NonRecordingSpan):
    """A delivery's span as the application's tracer sees it; its context made on first use.

    Most handlers start no span of their own, so most deliveries never need one.
    """

    def __init__(self, delivery: ActiveDelivery) -> None:
        self.delivery = delivery
        self._made: SpanContext | None = None

    def get_span_context(self) -> SpanContext:
        made = self._made
        if made is None:
            delivery = self.delivery
            envelope = delivery.envelope
            state = envelope.trace_state
            made = self._made = SpanContext(
                envelope.trace_id,
                delivery.span_id,
                False,
                _SAMPLED,
                TraceState.from_header([state]) if state else None,
            )
        return made

    def __repr__(self) -> str:
        return f"_DeliverySpan({self.delivery.subscriber!r}, {self.delivery.envelope.message_id!r})"


class OpenTelemetryBridge:
    """The :class:`~pipebus.bus.taps.TraceBridge` of live tracing."""

    def parent(self, delivery: ActiveDelivery | None) -> tuple[int, int, str | None] | None:
        """The application's current span, unless it is the delivery's own."""
        span = trace.get_current_span()
        if isinstance(span, _DeliverySpan) and span.delivery is delivery:
            return None
        span_context = span.get_span_context()
        if not span_context.is_valid:
            return None
        if delivery is not None and span_context.span_id == delivery.span_id:
            return None
        state = span_context.trace_state.to_header() if span_context.trace_state else None
        return span_context.trace_id, span_context.span_id, state or None

    def enter(self, delivery: ActiveDelivery) -> object:
        """Make the delivery's span current for the application's tracer."""
        return context.attach(trace.set_span_in_context(_DeliverySpan(delivery)))

    def leave(self, token: object) -> None:
        """Restore the application's context from before :meth:`enter`."""
        context.detach(token)  # type: ignore[arg-type]
