"""How a runner records its sessions: which log, which settings; opening and closing it.

``WorkerRunner(event_log=...)`` takes a path, a URL, an open ``EventLog``, or None
(recording off). By default it records into ``$PIPEBUS_EVENT_LOG``, else
``./pipebus.db``. One session per ``run()``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from pipebus.core.errors import EventLogError

if TYPE_CHECKING:
    from pipebus.eventlog.recorder import Durability, Recorder
    from pipebus.eventlog.store import EventLog
    from pipebus.workers.runner import WorkerRunner

logger = logging.getLogger("pipebus.runner")


class _DefaultLog:
    """The marker for "the default log" (``$PIPEBUS_EVENT_LOG``, else ``./pipebus.db``)."""

    def __repr__(self) -> str:
        return "DEFAULT_LOG"


DEFAULT_LOG: Final = _DefaultLog()
"""``event_log=DEFAULT_LOG`` (the default): ``$PIPEBUS_EVENT_LOG``, else ``./pipebus.db``."""


class SessionRecording:
    """A runner's recording settings, and the recorder of its current session.

    Args:
        event_log: Where to record (see the module docstring).
        name: A name for the sessions, shown by tools.
        durability: ``"batch"``, ``"full"`` or ``"sync"``.
        strict: Fail sends (and ``run()``) when the log cannot be written.
        record_deliveries: ``"errors"`` or ``"all"``; None: ``"all"`` once the runner
            says it traces live (:meth:`traced`), else ``"errors"``.
        snapshot_every: Events between snapshots.
        buffer_size: Events buffered before senders wait.
    """

    def __init__(
        self,
        event_log: EventLog | str | Path | _DefaultLog | None,
        *,
        name: str | None,
        durability: Durability,
        strict: bool,
        record_deliveries: Literal["errors", "all"] | None,
        snapshot_every: int,
        buffer_size: int,
    ) -> None:
        self._choice = event_log
        self._name = name
        self._durability: Durability = durability
        self._strict = strict
        self._record_deliveries = record_deliveries
        self._snapshot_every = snapshot_every
        self._buffer_size = buffer_size
        self._owned: EventLog | None = None
        self.recorder: Recorder | None = None

    @property
    def enabled(self) -> bool:
        """Whether sessions are recorded at all."""
        return self._choice is not None

    async def begin(self, runner: WorkerRunner) -> None:
        """Open the log and start recording a session of ``runner``'s bus.

        A log that cannot be opened is logged and the runner goes on unrecorded, unless
        ``strict``.

        Raises:
            EventLogError: With ``strict=True``, if recording cannot start.
        """
        if self._choice is None:
            return
        from pipebus.eventlog.recorder import Recorder
        from pipebus.eventlog.store import EventLog
        from pipebus.projections import SessionState

        try:
            if isinstance(self._choice, EventLog):
                log = self._choice
            else:
                location = None if isinstance(self._choice, _DefaultLog) else self._choice
                log = self._owned = await EventLog.open(location)
            recorder = Recorder(
                log,
                runner.bus.session_id,
                runner_name=runner.name,
                name=self._name,
                durability=self._durability,
                buffer_size=self._buffer_size,
                strict=self._strict,
                record_deliveries=self._record_deliveries or "errors",
                snapshot_every=self._snapshot_every,
                state=lambda seq: SessionState(runner.registry.state, runner.jobs.state, seq),
            )
            await recorder.start(runner.bus)
        except EventLogError as exc:
            await self._close_owned()
            if self._strict:
                raise
            logger.error("runner %s: not recording this session: %s", runner.name, exc)
            return
        self.recorder = recorder

    def traced(self) -> None:
        """The runner traces this session live: with the default, keep every delivery.

        An export of the session then rebuilds exactly the spans that went live.
        """
        if self._record_deliveries is None and self.recorder is not None:
            self.recorder.record_every_delivery()

    async def end(self, status: str) -> None:
        """Flush the session, mark it ``status`` and close the log if the runner opened it."""
        recorder, self.recorder = self.recorder, None
        try:
            if recorder is not None:
                await recorder.stop(status)
        finally:
            await self._close_owned()

    async def _close_owned(self) -> None:
        owned, self._owned = self._owned, None
        if owned is not None:
            await owned.close()
