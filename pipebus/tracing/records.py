"""What tracing produces and consumes: span records, and the events spans are built from.

Pure data, no OpenTelemetry: :mod:`pipebus.tracing.otel` converts span records to
the SDK's spans when they are exported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipebus.tracing import semconv as sc

PRODUCER, CONSUMER, INTERNAL = "producer", "consumer", "internal"


@dataclass(slots=True)
class SpanRecord:
    """One finished span, in pipebus's terms (converted to OpenTelemetry when exported).

    ``parent_span_id`` is 0 for a root; ``parent_remote`` says the parent is another
    process's span; ``error`` the status description of a failed span (None: status
    unset); ``events`` are ``(name, time_ns, attributes)``; ``runner`` the runner that
    reports the span live (an export gives the span that runner's resource).
    """

    trace_id: int
    span_id: int
    parent_span_id: int
    name: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    error: str | None = None
    links: tuple[tuple[int, int], ...] = ()
    events: tuple[tuple[str, int, dict[str, Any]], ...] = ()
    parent_remote: bool = False
    runner: str = ""


@dataclass(slots=True)
class TraceEvent:
    """What the builder needs of an event (from an envelope or a stored event).

    ``fields`` holds the few message fields the builder reads (see
    :data:`FIELDS_READ`); ``remote`` marks a message another runner sent (its send
    span is that runner's to report); ``runner`` is the runner that sent it.
    """

    type: str
    message_id: str
    session_id: str
    time_ns: int
    source: str
    target: str | None
    priority: str
    job_id: str | None
    trace_id: int
    span_id: int
    parent_span_id: int
    causation_id: str | None
    remote: bool = False
    record_only: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    runner: str = ""


FIELDS_READ: dict[str, tuple[str, ...]] = {
    "BusJobRequestMessage": ("job_name",),
    "BusJobResponseMessage": ("status",),
    "BusJobResponseUrgentMessage": ("status",),
    "BusJobGroupFinishedMessage": ("status", "reason"),
    "BusHandlerErrorMessage": ("message_id", "error_type", "error", "traceback", "duration_ns"),
}
"""The message fields :class:`TraceEvent` carries, by message type."""


def fail(span: SpanRecord, failed: TraceEvent) -> None:
    """Mark ``span`` failed by a recorded handler error, with its exception event."""
    error_type = str(failed.fields.get("error_type") or "Exception")
    message = str(failed.fields.get("error") or "")
    span.error = f"{error_type}: {message}" if message else error_type
    span.attributes[sc.ERROR_TYPE] = error_type
    span.events = (
        (
            "exception",
            failed.time_ns,
            {
                sc.EXCEPTION_TYPE: error_type,
                sc.EXCEPTION_MESSAGE: message,
                sc.EXCEPTION_STACKTRACE: str(failed.fields.get("traceback") or ""),
            },
        ),
    )
