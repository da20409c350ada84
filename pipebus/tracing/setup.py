"""Turning live tracing on: ``configure()``, the ``OTEL_*`` environment, or the app's provider.

Runners trace live when tracing is configured: by :func:`configure`, by the
application having set an OpenTelemetry SDK tracer provider of its own (pipebus then
uses it and adds nothing), or by ``OTEL_TRACES_EXPORTER`` in the environment (then a
runner configures tracing from the environment when it starts). With none of these,
runners do not trace and the bus has no tracing work to do.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from pipebus.core.errors import TracingError
from pipebus.tracing.exporters import exporters_from_env, make_exporter
from pipebus.tracing.otel import SpanSink, span_processor_of
from pipebus.tracing.processor import DELAY_S, MAX_BATCH, MAX_QUEUE, BulkSpanProcessor

logger = logging.getLogger("pipebus.tracing")


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """What live tracing sends spans to, and how.

    Attributes:
        provider: The SDK tracer provider whose processors get the spans.
        links: Deliveries are roots linked to their sends, not their children.
        owned: pipebus created the provider (and shuts it down in :func:`shutdown`).
    """

    provider: TracerProvider
    links: bool = False
    owned: bool = False

    def sink(self) -> SpanSink:
        """A new sink into the provider's processors."""
        return SpanSink(self.provider)


_current: TracingSettings | None = None


def configure(
    *,
    exporter: str | SpanExporter | None = None,
    protocol: str | None = None,
    endpoint: str | None = None,
    service_name: str | None = None,
    sampler: Sampler | None = None,
    links: bool = False,
    provider: TracerProvider | None = None,
    batch: bool = True,
    make_default: bool = True,
) -> TracingSettings:
    """Set up live tracing for the runners started from now on.

    Without ``provider``, an SDK tracer provider the application already set globally
    is used as it is. Otherwise pipebus creates one with the exporters asked for
    (default: ``OTEL_TRACES_EXPORTER``, else ``otlp``), a batch processor each, the
    sampler of ``OTEL_TRACES_SAMPLER``, and the service name of ``OTEL_SERVICE_NAME``
    (else ``"pipebus"``), and makes it the global provider.

    Args:
        exporter: ``"otlp"``, ``"console"``, ``"none"`` or a ``SpanExporter``.
        protocol: For OTLP: ``"http/protobuf"`` or ``"grpc"``.
        endpoint: For OTLP: the collector's URL.
        service_name: The ``service.name`` of the spans.
        sampler: The sampler (pipebus decides once per trace).
        links: Make each delivery a root span linked to its send.
        provider: Use this SDK tracer provider (nothing is added to it).
        batch: Export through a batch processor (else one export per span).
        make_default: Make these the settings runners use (else only return them,
            for ``WorkerRunner(tracing=...)``).

    Raises:
        TracingError: For an unknown exporter or protocol, a malformed endpoint, OTLP
            without the ``otlp`` extra, or a provider that is not the SDK's.
    """
    global _current
    chosen = provider if provider is not None else _sdk_provider(trace.get_tracer_provider())
    if chosen is not None:
        if span_processor_of(chosen) is None:
            raise TracingError(f"{chosen!r} is disabled (OTEL_SDK_DISABLED)")
        settings = TracingSettings(chosen, links)
    else:
        settings = TracingSettings(
            _new_provider(exporter, protocol, endpoint, service_name, sampler, batch),
            links,
            owned=True,
        )
        if make_default:
            trace.set_tracer_provider(settings.provider)
    if make_default:
        _current = settings
    return settings


def settings() -> TracingSettings | None:
    """The tracing runners use by default: configured, the app's provider, or the env's.

    Raises:
        TracingError: If ``OTEL_TRACES_EXPORTER`` asks for an exporter that cannot be made.
    """
    if _current is not None:
        return _current
    provider = _sdk_provider(trace.get_tracer_provider())
    if provider is not None:
        return TracingSettings(provider)
    if os.environ.get("OTEL_TRACES_EXPORTER"):
        return configure()
    return None


def shutdown() -> None:
    """Forget the default settings; shut down a provider pipebus created (flushing it)."""
    global _current
    current, _current = _current, None
    if current is not None and current.owned:
        current.provider.shutdown()


def _sdk_provider(provider: object) -> TracerProvider | None:
    """``provider`` if it is an enabled SDK tracer provider (not the API's default proxy)."""
    if isinstance(provider, TracerProvider) and span_processor_of(provider) is not None:
        return provider
    return None


_BATCH_VARIABLES = {
    "OTEL_BSP_MAX_QUEUE_SIZE": ("max_queue", MAX_QUEUE),
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": ("max_batch", MAX_BATCH),
    "OTEL_BSP_SCHEDULE_DELAY": ("delay_s", int(DELAY_S * 1000)),
}


def batch_settings() -> dict[str, Any]:
    """The batch processor's settings from OpenTelemetry's ``OTEL_BSP_*`` variables.

    The delay is in milliseconds, as OpenTelemetry reads it; pipebus's defaults differ
    from OpenTelemetry's (a larger queue and batches, for the traffic of a bus).

    Raises:
        TracingError: If a variable is not a positive whole number.
    """
    settings: dict[str, Any] = {}
    for variable, (name, default) in _BATCH_VARIABLES.items():
        text = os.environ.get(variable, "").strip()
        try:
            value = int(text) if text else default
        except ValueError:
            value = 0
        if value <= 0:
            raise TracingError(f"{variable}={text!r} is not a positive whole number")
        settings[name] = value / 1000 if name == "delay_s" else value
    return settings


def _new_provider(
    exporter: str | SpanExporter | None,
    protocol: str | None,
    endpoint: str | None,
    service_name: str | None,
    sampler: Sampler | None,
    batch: bool,
) -> TracerProvider:
    name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "pipebus"
    provider = TracerProvider(sampler=sampler, resource=Resource.create({SERVICE_NAME: name}))
    if isinstance(exporter, SpanExporter):
        exporters: list[SpanExporter] = [exporter]
    else:
        names = [exporter] if exporter is not None else exporters_from_env()
        made = (make_exporter(n, protocol=protocol, endpoint=endpoint) for n in names)
        exporters = [made_exporter for made_exporter in made if made_exporter is not None]
    for chosen in exporters:
        if batch:
            provider.add_span_processor(BulkSpanProcessor(chosen, **batch_settings()))
        else:
            provider.add_span_processor(SimpleSpanProcessor(chosen))
    return provider
