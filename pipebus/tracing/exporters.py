"""Span exporters by name: ``otlp`` (HTTP or gRPC), ``console``, ``none``.

The names and defaults are OpenTelemetry's (``OTEL_TRACES_EXPORTER``,
``OTEL_EXPORTER_OTLP_PROTOCOL``, ...). The OTLP exporters come with the ``otlp``
extra: ``pip install 'pipebus[otlp]'``.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from pipebus.core.errors import TracingError

EXPORTER_NAMES = ("otlp", "console", "none")
PROTOCOLS = ("http/protobuf", "grpc")


def exporters_from_env() -> list[str]:
    """The exporter names ``OTEL_TRACES_EXPORTER`` asks for (OpenTelemetry's default: otlp)."""
    value = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    return [name.strip().lower() for name in value.split(",") if name.strip()]


def protocol_from_env() -> str:
    """The OTLP protocol the environment asks for (default ``http/protobuf``)."""
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


def make_exporter(
    name: str,
    *,
    protocol: str | None = None,
    endpoint: str | None = None,
    timeout: float | None = None,
) -> SpanExporter | None:
    """The exporter called ``name``; None for ``none``.

    Args:
        name: ``otlp``, ``console`` or ``none``.
        protocol: ``http/protobuf`` or ``grpc`` (default: from the environment).
        endpoint: The collector (default: from the environment). For HTTP, a URL
            without a path gets OTLP's ``/v1/traces``.
        timeout: Seconds an export may take, retries included.

    Raises:
        TracingError: For an unknown name or protocol, a malformed endpoint, or OTLP
            without the ``otlp`` extra installed.
    """
    if name == "none":
        return None
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        raise TracingError(
            f"unknown span exporter {name!r}: use one of {', '.join(EXPORTER_NAMES)}"
        )
    protocol = protocol or protocol_from_env()
    if protocol not in PROTOCOLS:
        raise TracingError(f"unknown OTLP protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
    try:
        if protocol == "grpc":
            return _grpc_exporter(endpoint, timeout)
        return _http_exporter(endpoint, timeout)
    except ImportError as exc:
        raise TracingError(
            f"the OTLP exporter needs the otlp extra: pip install 'pipebus[otlp]' ({exc})"
        ) from exc


def _http_exporter(endpoint: str | None, timeout: float | None) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TracingError(
                f"OTLP/HTTP endpoint {endpoint!r} is not an http(s) URL like http://host:4318"
            )
        if parts.path in ("", "/"):
            endpoint = endpoint.rstrip("/") + "/v1/traces"
    return OTLPSpanExporter(endpoint=endpoint, timeout=timeout)


def _grpc_exporter(endpoint: str | None, timeout: float | None) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    insecure = None
    if endpoint is not None:
        parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
        if not parts.netloc:
            raise TracingError(f"OTLP/gRPC endpoint {endpoint!r} is not host:port or a URL")
        insecure = parts.scheme != "https"
    return OTLPSpanExporter(endpoint=endpoint, insecure=insecure, timeout=timeout)
