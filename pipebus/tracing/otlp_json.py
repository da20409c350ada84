"""OTLP JSON: finished spans as OpenTelemetry's JSON encoding of an export request.

One ``ExportTraceServiceRequest`` per line (JSON Lines), the format OpenTelemetry's
file exporter writes and the Collector's ``otlpjsonfile`` receiver reads.

The request is built by OpenTelemetry's own OTLP encoder
(``opentelemetry-exporter-otlp-proto-common``, what its OTLP exporters send), so a
file holds what ``--otlp`` sends: same grouping by resource and scope, same flags for
remote parents, same attribute values. Protobuf's ``json_format`` writes the
``opentelemetry-proto`` message as proto3 JSON: field names in lowerCamelCase, 64-bit
integers as decimal strings, and non-finite doubles as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (never bare: ``json.dumps`` is told to refuse
them). OTLP/JSON departs from proto3 JSON in two places, done here: enums are
integers, and trace and span ids are hex strings, not base64.

All of that comes with the ``otlp`` extra (``pip install 'pipebus[otlp]'``), which
:func:`encoder` asks for by name when it is missing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from pipebus.core.errors import TracingError

Encoder = Callable[[Sequence[ReadableSpan]], str]
"""Spans to one line of OTLP JSON (without its newline)."""

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def encoder() -> Encoder:
    """The OTLP JSON encoder of spans (loads OpenTelemetry's protobuf encoder).

    Raises:
        TracingError: If the ``otlp`` extra is not installed (the message says what to run).
    """
    try:
        # protobuf ships no type stubs (types-protobuf does; not a dependency).
        from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    except ImportError as exc:
        raise TracingError(
            f"OTLP JSON is written with OpenTelemetry's OTLP encoder, which comes with the "
            f"otlp extra: pip install 'pipebus[otlp]' ({exc})"
        ) from exc

    def encode(spans: Sequence[ReadableSpan]) -> str:
        request = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)
        for resource_spans in request.get("resourceSpans", ()):
            for scope_spans in resource_spans.get("scopeSpans", ()):
                for span in scope_spans.get("spans", ()):
                    _hex_ids(span)
                    for link in span.get("links", ()):
                        _hex_ids(link)
        return json.dumps(request, separators=(",", ":"), allow_nan=False)

    return encode


def _hex_ids(encoded: dict[str, Any]) -> None:
    """Turn the base64 ids proto3 JSON writes into the hex ids OTLP/JSON asks for."""
    for name in _ID_FIELDS:
        value = encoded.get(name)
        if value:
            encoded[name] = base64.b64decode(value).hex()
