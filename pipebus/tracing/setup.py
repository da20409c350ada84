"""Turning live tracing on: ``configure()``, the ``OTEL_*`` environment, or the app's provider.

Runners trace live when tracing is configured: by :func:`configure`, by the
application having set an OpenTelemetry SDK tracer provider of its own (pipebus then
uses it and adds nothing), or by the environment asking for span export
(``OTEL_TRACES_EXPORTER``, or only an OTLP endpoint: the exporter then defaults to
``otlp``, as OpenTelemetry's specification says). With none of these, runners do not
trace and the bus has no tracing work to do. ``OTEL_SDK_DISABLED=true`` turns all of
it off: no spans, and no error.
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
from pipebus.tracing.exporters import asked_for_by_env, exporters_from_env, make_exporter
from pipebus.tracing.otel import SpanSink, span_processor_of
from pipebus.tracing.processor import DELAY_S, MAX_BATCH, MAX_QUEUE, BulkSpanProcessor

logger = logging.getLogger("pipebus.tracing")

DEFAULT_SERVICE_NAME = "pipebus"
"""``service.name`` when neither the caller, ``OTEL_SERVICE_NAME`` nor
``OTEL_RESOURCE_ATTRIBUTES`` names one (instead of OpenTelemetry's ``unknown_service``)."""


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

    @property
    def enabled(self) -> bool:
        """Whether spans go anywhere: False for a provider ``OTEL_SDK_DISABLED`` turned off."""
        return span_processor_of(self.provider) is not None

    def sink(self) -> SpanSink:
        """A new sink into the provider's processors.

        Raises:
            TracingError: If the provider is disabled (see :attr:`enabled`).
        """
        return SpanSink(self.provider)


_current: TracingSettings | None = None


def sdk_disabled() -> bool:
    """Whether ``OTEL_SDK_DISABLED`` is ``true`` (read as the SDK reads it)."""
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


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
    sampler of ``OTEL_TRACES_SAMPLER``, and the resource of ``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES`` (``service.name`` ``"pipebus"`` if they name none),
    and makes it the global provider. With ``OTEL_SDK_DISABLED=true`` no exporter is
    made and the settings are disabled: runners given them trace nothing.

    Args:
        exporter: ``"otlp"``, ``"console"``, ``"none"``, the name of an exporter
            installed through OpenTelemetry's entry points, or a ``SpanExporter``.
        protocol: For OTLP: ``"http/protobuf"`` or ``"grpc"``.
        endpoint: For OTLP: the collector's URL.
        service_name: The ``service.name`` of the spans.
        sampler: The sampler (default: ``OTEL_TRACES_SAMPLER``, else parent-based
            always-on); pipebus asks it once per trace and carries the decision.
        links: Make each delivery a root span linked to its send.
        provider: Use this SDK tracer provider (nothing is added to it).
        batch: Export through a batch processor (else one export per span).
        make_default: Make these the settings runners use (else only return them,
            for ``WorkerRunner(tracing=...)``).

    Raises:
        TracingError: For an unknown exporter or protocol, a malformed endpoint, OTLP
            without the ``otlp`` extra, or a bad ``OTEL_BSP_*`` value.
    """
    global _current
    chosen = provider if provider is not None else _sdk_provider(trace.get_tracer_provider())
    if chosen is not None:
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

    None when nothing asks for tracing, or when ``OTEL_SDK_DISABLED`` is true.

    Raises:
        TracingError: If the environment asks for an exporter that cannot be made.
    """
    if _current is not None:
        return _current if _current.enabled else None
    provider = _sdk_provider(trace.get_tracer_provider())
    if provider is not None:
        found = TracingSettings(provider)
        return found if found.enabled else None
    if sdk_disabled() or not asked_for_by_env():
        return None
    return configure()


def shutdown() -> None:
    """Forget the default settings; shut down a provider pipebus created (flushing it)."""
    global _current
    current, _current = _current, None
    if current is not None and current.owned:
        current.provider.shutdown()


def _sdk_provider(provider: object) -> TracerProvider | None:
    """``provider`` if it is an SDK tracer provider (not the API's default proxy).

    A disabled one counts: the application chose it, and it means no tracing.
    """
    return provider if isinstance(provider, TracerProvider) else None


_BATCH_VARIABLES = {
    "OTEL_BSP_MAX_QUEUE_SIZE": ("max_queue", MAX_QUEUE),
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": ("max_batch", MAX_BATCH),
    "OTEL_BSP_SCHEDULE_DELAY": ("delay_s", int(DELAY_S * 1000)),
    "OTEL_BSP_EXPORT_TIMEOUT": ("flush_timeout_s", 30_000),
}


def batch_settings() -> dict[str, Any]:
    """The batch processor's settings from OpenTelemetry's ``OTEL_BSP_*`` variables.

    Times are in milliseconds, as OpenTelemetry reads them; pipebus's defaults differ
    from OpenTelemetry's (a larger queue and batches, for the traffic of a bus).
    ``OTEL_BSP_EXPORT_TIMEOUT`` bounds how long a flush waits (each export call is
    bounded by the exporter's own timeout, ``OTEL_EXPORTER_OTLP_TIMEOUT``).

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
        settings[name] = value / 1000 if name.endswith("_s") else value
    return settings


def service_resource(service_name: str | None = None) -> Resource:
    """The resource of pipebus's spans: OpenTelemetry's from the environment, and a name.

    ``service_name`` wins; then ``OTEL_SERVICE_NAME``, then ``service.name`` in
    ``OTEL_RESOURCE_ATTRIBUTES`` (as OpenTelemetry reads them); else ``"pipebus"``.
    """
    resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def _new_provider(
    exporter: str | SpanExporter | None,
    protocol: str | None,
    endpoint: str | None,
    service_name: str | None,
    sampler: Sampler | None,
    batch: bool,
) -> TracerProvider:
    provider = TracerProvider(sampler=sampler, resource=service_resource(service_name))
    if span_processor_of(provider) is None:
        return provider  # OTEL_SDK_DISABLED: nothing to export to, nothing to make
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
