"""What pipebus adds to watch a bus: envelopes, taps, counters, the event log, replay, tracing.

One entry point for the observability API, beside ``pipebus`` (Pipecat's names) and
``pipebus.transports`` (the network buses). The event log, replay and tracing load on
first use, so importing this module imports no SQLAlchemy and no OpenTelemetry.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from pipebus.bus.base import BusStats
from pipebus.bus.context import ActiveDelivery
from pipebus.bus.taps import BusTap, DeliveryTap
from pipebus.core.envelope import Envelope
from pipebus.core.types import NotRecorded
from pipebus.live.live_jobs import LiveJobs

if TYPE_CHECKING:
    from pipebus.eventlog.store import EventLog
    from pipebus.replay.session import SessionReplay
    from pipebus.tracing.export import ExportResult, export_session
    from pipebus.tracing.setup import TracingSettings, configure

__all__ = [
    "ActiveDelivery",
    "BusStats",
    "BusTap",
    "DeliveryTap",
    "Envelope",
    "EventLog",
    "ExportResult",
    "LiveJobs",
    "NotRecorded",
    "SessionReplay",
    "TracingSettings",
    "configure",
    "export_session",
]

_LAZY = {
    "EventLog": "pipebus.eventlog.store",
    "SessionReplay": "pipebus.replay.session",
    "ExportResult": "pipebus.tracing.export",
    "export_session": "pipebus.tracing.export",
    "TracingSettings": "pipebus.tracing.setup",
    "configure": "pipebus.tracing.setup",
}


def __getattr__(name: str) -> Any:
    """Load the event log, replay and tracing names on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pipebus.observability' has no attribute {name!r}")
    return getattr(import_module(module), name)
