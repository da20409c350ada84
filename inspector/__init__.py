"""The pipebus inspector: a Textual time-travel debugger for recorded and running sessions.

``pipebus inspect [LOG] [--session ID|last]`` runs it; :class:`InspectorApp` is the
app (for ``App.run_test()`` in tests). A pure view-model (:mod:`inspector.model`,
:mod:`inspector.query`, :mod:`inspector.panels`, :mod:`inspector.waterfall`) sits
under thin widgets; every database read is in :mod:`inspector.data`. Textual is
imported only with the app, so the view-model can be used (and tested) without it.

May import: pipebus.observability, pipebus.replay, pipebus.workers, pipebus.transports,
pipebus.tracing, pipebus.eventlog, pipebus.live, pipebus.projections, pipebus.bus,
pipebus.core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inspector.app import InspectorApp, run

__all__ = ["InspectorApp", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from inspector import app

        return getattr(app, name)
    raise AttributeError(f"module 'inspector' has no attribute {name!r}")
