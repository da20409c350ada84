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


class OpenTelemetryBridge:
    """The :class:`~pipebus.bus.taps.TraceBridge` of live tracing."""

    def parent(self, delivery: ActiveDelivery | None) -> tuple[int, int, str | None] | None:
        """The application's current span, unless it is the delivery's own."""
        span_context = trace.get_current_span().get_span_context()
        if not span_context.is_valid:
            return None
        if delivery is not None and span_context.span_id == delivery.span_id:
            return None
        state = span_context.trace_state.to_header() if span_context.trace_state else None
        return span_context.trace_id, span_context.span_id, state or None

    def enter(self, delivery: ActiveDelivery) -> object:
        """Make the delivery's span current for the application's tracer."""
        envelope = delivery.envelope
        state = envelope.trace_state
        span_context = SpanContext(
            envelope.trace_id,
            delivery.span_id,
            False,
            _SAMPLED,
            TraceState.from_header([state]) if state else None,
        )
        return context.attach(trace.set_span_in_context(NonRecordingSpan(span_context)))

    def leave(self, token: object) -> None:
        """Restore the application's context from before :meth:`enter`."""
        context.detach(token)  # type: ignore[arg-type]
