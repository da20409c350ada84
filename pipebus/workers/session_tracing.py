"""A runner's live tracing: whether it traces, and the tracer of its current session.

OpenTelemetry is imported only when tracing is on: a runner whose application
configured nothing pays no import and no per-message cost.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from pipebus.core.errors import TracingError

if TYPE_CHECKING:
    from pipebus.bus.base import WorkerBus
    from pipebus.tracing.live import LiveTracer
    from pipebus.tracing.setup import TracingSettings

logger = logging.getLogger("pipebus.runner")


class SessionTracing:
    """Live tracing for one runner.

    Args:
        choice: True (trace; configure from the environment if nothing is), False
            (never), explicit settings, or None: trace when tracing is configured
            (see :mod:`pipebus.tracing.setup`).
    """

    def __init__(self, choice: bool | TracingSettings | None) -> None:
        self._choice = choice
        self.tracer: LiveTracer | None = None

    async def begin(self, bus: WorkerBus) -> None:
        """Start tracing ``bus`` if tracing is on.

        Raises:
            TracingError: With ``tracing=True`` or explicit settings, if tracing cannot
                start; otherwise that is logged and the runner goes on untraced.
        """
        if self._choice is False or (self._choice is None and not _maybe_configured()):
            return
        from pipebus.tracing.live import LiveTracer
        from pipebus.tracing.setup import TracingSettings, configure, settings

        try:
            if isinstance(self._choice, TracingSettings):
                chosen: TracingSettings | None = self._choice
            else:
                chosen = settings()
                if chosen is None and self._choice is True:
                    chosen = configure()
            if chosen is None or not chosen.enabled:
                return  # nothing asks for tracing, or OTEL_SDK_DISABLED: no spans, no error
            tracer = LiveTracer(chosen.sink(), links=chosen.links)
        except TracingError as exc:
            if self._choice is not None:
                raise
            logger.error("not tracing this session: %s", exc)
            return
        await tracer.start(bus)
        self.tracer = tracer

    async def end(self) -> None:
        """Finish the session's spans and flush them to the exporters."""
        tracer, self.tracer = self.tracer, None
        if tracer is not None:
            await tracer.stop()


_ASKING_VARIABLES = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
"""Variables that turn tracing on from the environment (see :mod:`pipebus.tracing.setup`)."""


def _maybe_configured() -> bool:
    """Cheap test (no import) of whether anything could have configured tracing."""
    return (
        "pipebus.tracing.setup" in sys.modules
        or "opentelemetry.sdk.trace" in sys.modules
        or any(os.environ.get(variable) for variable in _ASKING_VARIABLES)
    )
