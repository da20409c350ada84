"""``SessionReplay``: a recorded session read back step by step, with its state at any step.

A step is an event's position in its session (1 to ``len(replay)``); the state at step
N is what the registry and job projections held after event N. It is computed from
the nearest state known at or before N (a stored snapshot, or a state this replay
computed lately and keeps), folding only the events the projections read, with the
same ``apply`` the live runtime runs. Snapshots missing from a session (one recorded
by several runners, say) are made on the way and stored for next time.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Self

from pipebus.core.codec import wire_name
from pipebus.core.errors import EventLogError
from pipebus.core.messages import JOB_MESSAGE_TYPES
from pipebus.eventlog.rows import FOLD_COLUMNS, SessionInfo, StoredEvent, fold_envelopes
from pipebus.eventlog.store import EventLog
from pipebus.projections import EMPTY, SessionState, fold
from pipebus.projections import registry as registry_projection
from pipebus.projections.views import StateChanges, WorkerActivity, activity, changes

logger = logging.getLogger("pipebus.replay")

FOLDED_TYPES: tuple[str, ...] = tuple(
    wire_name(t) for t in (*registry_projection.MESSAGE_TYPES, *JOB_MESSAGE_TYPES)
)
"""Wire names of the message types the projections read; the others leave the state as is."""

KEPT_STATES = 8
"""How many states a replay keeps (the latest used); a step after one folds from there."""

_PAGE = 5000
_FOLD_PAGE = 20_000
_SEQ = itemgetter(0)


class SessionReplay:
    """One recorded session of an event log.

    Open with :meth:`open`; use as ``async with`` to close the log it opened.
    """

    def __init__(self, log: EventLog, info: SessionInfo, *, owns_log: bool = False) -> None:
        self.log = log
        self.info = info
        self._owns_log = owns_log
        self._length = info.events
        self._states: OrderedDict[int, SessionState] = OrderedDict()

    @classmethod
    async def open(
        cls, log: EventLog | str | Path | None = None, session: str = "last"
    ) -> SessionReplay:
        """Open a session (an id, a unique id prefix, or ``"last"``) of a log.

        ``log`` is an open ``EventLog``, a path or URL, or None for the default log; a
        log opened here is opened read-only (a replay never writes).

        Raises:
            EventLogError: If the log cannot be opened or holds no such session.
        """
        owns = not isinstance(log, EventLog)
        opened = log if isinstance(log, EventLog) else await EventLog.open(log, read_only=True)
        try:
            info = await opened.session(session)
            replay = cls(opened, info, owns_log=owns)
            await replay.refresh()
            return replay
        except BaseException:
            if owns:
                await opened.close()
            raise

    async def close(self) -> None:
        """Close the log, if this replay opened it."""
        if self._owns_log:
            await self.log.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def session_id(self) -> str:
        """The session's id."""
        return self.info.id

    def __len__(self) -> int:
        return self._length

    async def refresh(self) -> int:
        """Re-read the session (it may still be running); returns its new length."""
        self.info = await self.log.session(self.info.id)
        self._length = max(self.info.events, await self.log.count(self.info.id))
        return self._length

    # --- events ---------------------------------------------------------------------------

    async def event(self, step: int) -> StoredEvent:
        """The event at ``step`` (1-based).

        Raises:
            IndexError: If there is no such step.
        """
        found = await self.log.event(self.info.id, step) if 1 <= step <= self._length else None
        if found is None:
            raise IndexError(f"step {step} is outside 1..{self._length}")
        return found

    async def events(
        self,
        start: int = 1,
        stop: int | None = None,
        *,
        types: Sequence[str] | None = None,
        worker: str | None = None,
        job: str | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Events of steps ``start`` to ``stop - 1`` (to the end by default), filtered.

        ``types`` are wire names (class names for pipebus's messages); ``worker``
        matches the sender or the target; ``job`` a job id.
        """
        return await self.log.events(
            self.info.id, start, stop, types=types, worker=worker, job_id=job, limit=limit
        )

    async def cause_of(self, event: StoredEvent) -> StoredEvent | None:
        """The event whose handler sent ``event``, if it was sent by a handler."""
        if event.causation_id is None:
            return None
        return await self.log.event_by_message_id(self.info.id, event.causation_id)

    async def effects_of(self, event: StoredEvent) -> list[StoredEvent]:
        """The events sent by the handlers of ``event``."""
        return await self.log.caused_by(self.info.id, event.message_id)

    async def follow(
        self, start: int | None = None, *, poll_interval: float = 0.05
    ) -> AsyncIterator[StoredEvent]:
        """Yield the events from step ``start`` (default: the next new one), as they come.

        Ends when the session has ended and every event has been yielded; for a
        session whose process died (``incomplete``), ends when no event came for a
        whole check of its status.
        """
        position = (start - 1) if start is not None else self._length
        while True:
            batch = await self.log.events(self.info.id, position + 1, limit=_PAGE)
            for found in batch:
                position = found.seq
                yield found
            if batch:
                continue
            await self.refresh()
            if position >= self._length and self.info.shown_status(time.time_ns()) != "running":
                return
            await asyncio.sleep(poll_interval)

    # --- state ------------------------------------------------------------------------------

    async def state_at(self, step: int) -> SessionState:
        """The registry and jobs after the event at ``step`` (0: before any event).

        Raises:
            IndexError: If there is no such step.
            EventLogError: If the log cannot be read.
        """
        if not 0 <= step <= self._length:
            raise IndexError(f"step {step} is outside 0..{self._length}")
        known = self._states.get(step)
        if known is not None:
            self._states.move_to_end(step)
            return known
        base = self._kept_before(step)
        stored = await self.log.snapshot_before(self.info.id, step, after=base.events)
        if stored is not None:
            base = self._keep(stored)
        return self._keep(await self._fold(base, step))

    async def rebuild(self, step: int | None = None) -> SessionState:
        """The state at ``step`` (default: the last) folded from the first event.

        Reads no snapshot and stores none: what the projections compute from the
        events alone (to check the stored snapshots, or after changing a projection).

        Raises:
            IndexError: If there is no such step.
            EventLogError: If the log cannot be read.
        """
        step = self._length if step is None else step
        if not 0 <= step <= self._length:
            raise IndexError(f"step {step} is outside 0..{self._length}")
        return await self._fold(EMPTY, step, save=False)

    async def activity_at(self, step: int) -> dict[str, WorkerActivity]:
        """What each worker is doing after the event at ``step``."""
        return activity(await self.state_at(step))

    async def changes(self, before: int, after: int) -> StateChanges:
        """What changed in the registry and jobs from step ``before`` to step ``after``."""
        return changes(await self.state_at(before), await self.state_at(after))

    def _kept_before(self, step: int) -> SessionState:
        """The latest kept state at or before ``step`` (else the empty state)."""
        best = max((at for at in self._states if at <= step), default=None)
        if best is None:
            return EMPTY
        self._states.move_to_end(best)
        return self._states[best]

    def _keep(self, state: SessionState) -> SessionState:
        self._states[state.events] = state
        self._states.move_to_end(state.events)
        while len(self._states) > KEPT_STATES:
            self._states.popitem(last=False)
        return state

    async def _fold(self, state: SessionState, step: int, *, save: bool = True) -> SessionState:
        """Fold the events after ``state`` up to ``step``, storing missing snapshots.

        Reads only the rows of the types the projections fold, and of those only what
        they read (see ``fold_envelopes``), and decodes each as ``fold()`` takes it.
        """
        every = max(1, self.info.snapshot_every)
        next_snapshot = (state.events // every + 1) * every if save else step + 1
        session, position = self.info.id, state.events
        while position < step:
            rows = await self.log.event_rows(
                session,
                position + 1,
                step + 1,
                columns=FOLD_COLUMNS,
                types=FOLDED_TYPES,
                limit=_FOLD_PAGE,
            )
            done = 0
            while rows and next_snapshot < rows[-1][0]:
                # Fold up to the snapshot's position, store it, go on.
                cut = bisect.bisect_right(rows, next_snapshot, lo=done, key=_SEQ)
                state = fold(fold_envelopes(rows[done:cut], session), state)
                done = cut
                while next_snapshot < rows[cut][0]:
                    await self._save(state._replace(events=next_snapshot))
                    next_snapshot += every
            state = fold(fold_envelopes(rows[done:] if done else rows, session), state)
            position = rows[-1][0] if len(rows) == _FOLD_PAGE else step
        while next_snapshot <= step and next_snapshot <= self._length:
            await self._save(state._replace(events=next_snapshot))
            next_snapshot += every
        return state._replace(events=step)

    async def _save(self, state: SessionState) -> None:
        """Store a snapshot made while folding, so the next look is quick (best effort)."""
        try:
            await self.log.save_snapshot(self.info.id, state)
        except EventLogError as exc:
            logger.debug("could not store a snapshot at %d: %s", state.events, exc)
