"""The tracing modes of :mod:`benchmarks.scenarios`, set up before the scenarios run.

- ``on``: every span built and handed to a batch span processor whose exporter
  discards them (``ALWAYS_ON`` sampler), as ``pipebus.tracing.configure()`` sets it up.
- ``stripped``: no tracer provider, and the tracing work pipebus does even then (the
  random trace and span ids of each envelope, the derived ids of deliveries and jobs)
  patched out to constants. What is left of tracing on the hot path is two
  ``trace_bridge is None`` tests per message, which cannot be patched away.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON


class DiscardingExporter(SpanExporter):
    """Takes every span and keeps none (counts them)."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _constant(*_: Any) -> int:
    return 1


def set_up(mode: str) -> None:
    """Prepare this process for ``mode`` (``"on"`` or ``"stripped"``)."""
    if mode == "on":
        from pipebus.tracing import configure

        configure(exporter=DiscardingExporter(), sampler=ALWAYS_ON, batch=True)
    elif mode == "stripped":
        import pipebus.bus.base as base
        import pipebus.bus.context as context

        base.random = SimpleNamespace(getrandbits=_constant)  # type: ignore[assignment]
        base.root_trace_id = _constant
        context.delivery_span_id = _constant
    else:
        raise ValueError(f"unknown tracing mode {mode!r}")
