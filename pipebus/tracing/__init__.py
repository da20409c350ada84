"""Tracing: every send and delivery an OpenTelemetry span, live or from a recording.

``configure()`` sets up (or adopts) a tracer provider; runners then trace live.
``export_session()`` turns a recorded session into the same spans later. The span
model itself (:mod:`pipebus.tracing.spans`) and the id rules
(:mod:`pipebus.core.ids`) are pure and import no OpenTelemetry.

May import: pipebus.eventlog, pipebus.live, pipebus.projections, pipebus.bus, pipebus.core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipebus.tracing.export import ExportResult, export_session
    from pipebus.tracing.setup import TracingSettings, configure, settings, shutdown

__all__ = [
    "ExportResult",
    "TracingSettings",
    "configure",
    "export_session",
    "settings",
    "shutdown",
]

_LAZY = {
    "TracingSettings": "pipebus.tracing.setup",
    "configure": "pipebus.tracing.setup",
    "settings": "pipebus.tracing.setup",
    "shutdown": "pipebus.tracing.setup",
    "ExportResult": "pipebus.tracing.export",
    "export_session": "pipebus.tracing.export",
}


def __getattr__(name: str) -> Any:
    """Load the OpenTelemetry-facing parts on first use (the bus imports only ids)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pipebus.tracing' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
