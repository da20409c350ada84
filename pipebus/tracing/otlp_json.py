"""OTLP JSON: span records as OpenTelemetry's JSON encoding of an export request.

One ``ExportTraceServiceRequest`` per line (JSON Lines), the format OpenTelemetry's
file exporter writes and the Collector's ``otlpjsonfile`` receiver reads. Ids are hex
strings and 64-bit integers decimal strings, as the OTLP/JSON mapping asks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipebus._version import __version__
from pipebus.tracing.records import CONSUMER, INTERNAL, PRODUCER, SpanRecord

SPAN_KINDS = {INTERNAL: 1, PRODUCER: 4, CONSUMER: 5}
"""OTLP's ``SpanKind`` numbers."""
STATUS_ERROR = 2


def export_request(records: Sequence[SpanRecord], resource: Mapping[str, Any]) -> dict[str, Any]:
    """The OTLP/JSON ``ExportTraceServiceRequest`` of some span records."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes(resource)},
                "scopeSpans": [
                    {
                        "scope": {"name": "pipebus", "version": __version__},
                        "spans": [span(record) for record in records],
                    }
                ],
            }
        ]
    }


def span(record: SpanRecord) -> dict[str, Any]:
    """One span in OTLP/JSON."""
    encoded: dict[str, Any] = {
        "traceId": f"{record.trace_id:032x}",
        "spanId": f"{record.span_id:016x}",
        "name": record.name,
        "kind": SPAN_KINDS[record.kind],
        "startTimeUnixNano": str(record.start_ns),
        "endTimeUnixNano": str(record.end_ns),
        "attributes": attributes(record.attributes),
    }
    if record.parent_span_id:
        encoded["parentSpanId"] = f"{record.parent_span_id:016x}"
    if record.events:
        encoded["events"] = [
            {"timeUnixNano": str(time_ns), "name": name, "attributes": attributes(values)}
            for name, time_ns, values in record.events
        ]
    if record.links:
        encoded["links"] = [
            {"traceId": f"{trace_id:032x}", "spanId": f"{span_id:016x}"}
            for trace_id, span_id in record.links
        ]
    if record.error is not None:
        encoded["status"] = {"code": STATUS_ERROR, "message": record.error}
    return encoded


def attributes(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """OTLP ``KeyValue``s of an attribute mapping (None values left out)."""
    return [
        {"key": key, "value": any_value(value)}
        for key, value in values.items()
        if value is not None
    ]


def any_value(value: Any) -> dict[str, Any]:
    """OTLP ``AnyValue`` of an attribute value."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [any_value(item) for item in value]}}
    return {"stringValue": str(value)}
