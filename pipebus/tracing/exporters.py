"""Span exporters by name, as ``OTEL_TRACES_EXPORTER`` names them.

``otlp`` (HTTP or gRPC, by ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` /
``OTEL_EXPORTER_OTLP_PROTOCOL``), ``console`` and ``none`` are built in; any other
name is looked up among the exporters installed through OpenTelemetry's
``opentelemetry_traces_exporter`` entry points (``zipkin_json``, ``otlp_proto_grpc``,
a vendor's...) and made as OpenTelemetry's own auto-configuration makes it: with no
arguments, so it reads its own ``OTEL_EXPORTER_*`` variables. The OTLP exporters
come with the ``otlp`` extra: ``pip install 'pipebus[otlp]'``.

The OTLP protocol defaults to ``http/protobuf``, as the OpenTelemetry specification
says (the Python SDK's own auto-configuration picks gRPC instead).
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from urllib.parse import urlsplit

from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from pipebus.core.errors import TracingError

EXPORTER_NAMES = ("otlp", "console", "none")
"""The names pipebus knows itself; installed entry points add theirs."""
PROTOCOLS = ("http/protobuf", "grpc")
ENTRY_POINT_GROUP = "opentelemetry_traces_exporter"
"""Where installed span exporters announce themselves (OpenTelemetry's group)."""
_OTLP_BY_ENTRY_POINT = {"otlp_proto_http": "http/protobuf", "otlp_proto_grpc": "grpc"}
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
"""Setting either turns tracing on with the default exporter (otlp)."""


def exporters_from_env() -> list[str]:
    """The exporter names ``OTEL_TRACES_EXPORTER`` asks for (OpenTelemetry's default: otlp).

    ``none`` (alone) means no exporter: an empty list.
    """
    value = os.environ.get("OTEL_TRACES_EXPORTER", "").strip() or "otlp"
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    return [name for name in names if name != "none"]


def asked_for_by_env() -> bool:
    """Whether the environment asks for span export: an exporter, or an OTLP endpoint.

    ``OTEL_TRACES_EXPORTER=none`` asks for none, whatever else is set.
    """
    named = os.environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if named:
        return bool(exporters_from_env())
    return any(os.environ.get(variable, "").strip() for variable in ENDPOINT_VARIABLES)


def protocol_from_env() -> str:
    """The OTLP protocol the environment asks for (default ``http/protobuf``)."""
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


def installed_exporters() -> list[str]:
    """The names of the span exporters installed through OpenTelemetry's entry points."""
    return sorted({entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})


def make_exporter(
    name: str,
    *,
    protocol: str | None = None,
    endpoint: str | None = None,
    timeout: float | None = None,
) -> SpanExporter | None:
    """The exporter called ``name``; None for ``none``.

    Args:
        name: ``otlp``, ``console``, ``none``, or the name of an installed exporter.
        protocol: ``http/protobuf`` or ``grpc`` (default: from the environment).
        endpoint: The collector (default: from the environment). For HTTP, a URL
            without a path gets OTLP's ``/v1/traces``.
        timeout: Seconds an export may take, retries included.

    Raises:
        TracingError: For an unknown name or protocol, a malformed endpoint, OTLP
            without the ``otlp`` extra installed, or an installed exporter that fails
            to load or to start (the message names it and says why).
    """
    if name == "none":
        return None
    if name == "console":
        return ConsoleSpanExporter()
    if name in _OTLP_BY_ENTRY_POINT:
        protocol, name = _OTLP_BY_ENTRY_POINT[name], "otlp"
    if name != "otlp":
        return _installed_exporter(name)
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


def _installed_exporter(name: str) -> SpanExporter:
    """The exporter an installed package registered as ``name``, made with no arguments."""
    found = [entry for entry in entry_points(group=ENTRY_POINT_GROUP) if entry.name == name]
    if not found:
        known = sorted({*EXPORTER_NAMES, *installed_exporters()})
        raise TracingError(
            f"unknown span exporter {name!r}: use one of {', '.join(known)}, "
            f"or install a package that provides it (entry point group {ENTRY_POINT_GROUP!r})"
        )
    try:
        kind = found[0].load()
    except Exception as exc:
        raise TracingError(f"span exporter {name!r} does not load: {exc!r}") from exc
    if not (isinstance(kind, type) and issubclass(kind, SpanExporter)):
        raise TracingError(f"{name!r} ({found[0].value}) is not a span exporter")
    try:
        return kind()
    except Exception as exc:
        raise TracingError(f"span exporter {name!r} does not start: {exc!r}") from exc
