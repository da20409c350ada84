"""The event log: its interface, with the SQLite and PostgreSQL backends beside it.

The interface: :class:`EventLog` (:mod:`~pipebus.eventlog.store`: every read, and the
questions the inspector and the command line ask), its tables
(:mod:`~pipebus.eventlog.schema`), rows and filters, the :class:`Writer` protocol
(:mod:`~pipebus.eventlog.writer`) and the :class:`Recorder` that feeds one. The backends:
:mod:`~pipebus.eventlog.sqlite` with its :mod:`~pipebus.eventlog.sqlite_writer_process`,
and :mod:`~pipebus.eventlog.postgres`. The names below load on first use, so importing
:mod:`~pipebus.eventlog.rows` or :mod:`~pipebus.eventlog.filters` loads no SQLAlchemy.

May import: pipebus.live, pipebus.projections, pipebus.bus, pipebus.core.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipebus.eventlog.filters import EventFilter, TypeSet
    from pipebus.eventlog.recorder import Recorder
    from pipebus.eventlog.rows import SessionInfo, StoredEvent
    from pipebus.eventlog.store import EventLog
    from pipebus.eventlog.writer import Batch, DeliveryRecord, Writer

__all__ = [
    "Batch",
    "DeliveryRecord",
    "EventFilter",
    "EventLog",
    "Recorder",
    "SessionInfo",
    "StoredEvent",
    "TypeSet",
    "Writer",
]

_HOMES = {
    "Batch": "pipebus.eventlog.writer",
    "DeliveryRecord": "pipebus.eventlog.writer",
    "EventFilter": "pipebus.eventlog.filters",
    "EventLog": "pipebus.eventlog.store",
    "Recorder": "pipebus.eventlog.recorder",
    "SessionInfo": "pipebus.eventlog.rows",
    "StoredEvent": "pipebus.eventlog.rows",
    "TypeSet": "pipebus.eventlog.filters",
    "Writer": "pipebus.eventlog.writer",
}


def __getattr__(name: str) -> Any:
    """Load an exported name from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pipebus.eventlog' has no attribute {name!r}")
    return getattr(import_module(home), name)
