"""Every database read of the inspector: sessions, windows of events, states, searches.

The screens call these from Textual workers; nothing else in ``inspector`` touches
the log, and this module only asks the log's query interface
(:class:`~pipebus.eventlog.store.EventLog`), never its tables. Events are kept in a
bounded cache of recent windows (never the whole session); a filter, a find or a
breakpoint over a whole session is one search the log runs in the database, which
returns steps only, so a million-event session is searched by the database.
"""

from __future__ import annotations

import asyncio
import json
import time
from array import array
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from inspector.panels import JobSummary, request_name, summarize
from inspector.query import Query
from inspector.waterfall import span_steps
from pipebus.core.describe import session_duration_ns
from pipebus.eventlog.rows import SessionInfo, StoredEvent
from pipebus.eventlog.store import EventLog
from pipebus.projections import SessionState, fold
from pipebus.projections.views import StateChanges, changes
from pipebus.replay.compare import Comparison, compare_sessions
from pipebus.replay.session import FOLDED_TYPES, SessionReplay
from pipebus.tracing.events import event_of_stored
from pipebus.tracing.records import SpanRecord
from pipebus.tracing.spans import SpanBuilder

PAGE = 500
"""Events read at a time (a window of the timeline)."""

KEPT_EVENTS = 20_000
"""Events the cache keeps (the latest used)."""

KEPT_STATES = 32
"""Steps whose states before and after are kept (the steps jumps go back and forward to).

The replay keeps a few states of its own; going back over ten jumps would fold
each step again from its snapshot (15 to 40 ms in a million-event session).
"""

FOLDED = frozenset(FOLDED_TYPES)
"""The types the projections fold: the state after any other event is the state before it."""

TRACE_WINDOW = 5_000
"""Steps searched on each side of a message for the rest of its trace."""

SEARCH_PART = 100_000
"""Steps a payload search reads at a time (it reports its progress after each part)."""

Progress = Callable[[int, int], None]
"""Told how far a search got: steps searched, of how many."""


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One session of a log, for the sessions screen and ``pipebus sessions``.

    Attributes:
        info: Its row in the log.
        events: The events the log holds (rows stored).
        status: As shown: ``incomplete`` for a running one whose process died.
        duration_ns: As shown (:func:`~pipebus.core.describe.session_duration_ns`).
    """

    info: SessionInfo
    events: int
    status: str
    duration_ns: int

    @property
    def last_step(self) -> int:
        """Its highest step: more than :attr:`events` when steps are missing."""
        return max(self.info.events, self.events)

    @property
    def missing(self) -> int:
        """Steps up to the highest that the log does not hold."""
        return self.last_step - self.events


@dataclass(frozen=True, slots=True)
class MessageAt:
    """The message at one step, with its cause and effects (the message panel)."""

    step: int
    event: StoredEvent
    cause: StoredEvent | None
    effects: list[StoredEvent]


@dataclass(frozen=True, slots=True)
class AtCursor:
    """What the side panels show for one step."""

    step: int
    event: StoredEvent
    state: SessionState
    changes: StateChanges
    cause: StoredEvent | None
    effects: list[StoredEvent]
    before: SessionState | None = None
    """The state before the step (what the state panel's diff compares ``state`` with)."""


async def list_sessions(log: EventLog) -> list[SessionRow]:
    """Every session of the log, newest first, with its events and shown status."""
    now = time.time_ns()
    found = await log.sessions()
    status = {info.id: info.shown_status(now) for info in found}
    # Steps are committed in order: a session holds every step up to its last unless
    # events were lost or its process died mid-way. Those few are counted row by row.
    uncertain = [i.id for i in found if i.lost_events or status[i.id] == "incomplete"]
    stored = await log.stored(uncertain)
    rows = []
    for info in found:
        if info.id in uncertain:
            events = stored.get(info.id, 0)
        elif status[info.id] == "running":  # its row may lag behind its events
            events = max(info.events, await log.count(info.id))
        else:
            events = info.events
        duration = session_duration_ns(
            info.started_ns, info.ended_ns, info.heartbeat_ns, status[info.id], now
        )
        rows.append(SessionRow(info, events, status[info.id], duration))
    return rows


class SessionData:
    """One open session: its replay, a cache of its events, and its queries.

    Args:
        replay: The open session.
    """

    def __init__(self, replay: SessionReplay) -> None:
        self.replay = replay
        self._log = replay.log
        self._events: OrderedDict[int, StoredEvent] = OrderedDict()
        self.jobs: dict[str, JobSummary] = {}
        self.job_names: dict[str, str] = {}
        """Names of the jobs whose requests were read (shown beside their ids)."""
        self.error_jobs: dict[int, str] = {}
        """The job of each handler error read (by step): the failed message's job."""
        self._errors_asked: set[int] = set()
        self._states: OrderedDict[int, tuple[SessionState, SessionState, StateChanges]] = (
            OrderedDict()
        )

    @classmethod
    async def open(cls, log: EventLog, session: str = "last") -> SessionData:
        """Open ``session`` (an id, a unique prefix, or ``"last"``) of an open log.

        Raises:
            EventLogError: If there is no such session.
        """
        return cls(await SessionReplay.open(log, session))

    @property
    def info(self) -> SessionInfo:
        """The session's row (as last refreshed)."""
        return self.replay.info

    @property
    def length(self) -> int:
        """Events in the session (as last refreshed)."""
        return len(self.replay)

    @property
    def live(self) -> bool:
        """Whether the session is still being recorded."""
        return self.info.shown_status(time.time_ns()) == "running"

    async def refresh(self) -> int:
        """Re-read the session's length (it may be running); returns it."""
        return await self.replay.refresh()

    # --- events -------------------------------------------------------------------------

    def cached(self, step: int) -> StoredEvent | None:
        """The event at ``step`` if it is in the cache (for drawing, never waits)."""
        return self._events.get(step)

    def missing(self, steps: Iterable[int]) -> list[int]:
        """Which of ``steps`` are not in the cache."""
        return [s for s in steps if s not in self._events]

    def unsummarized(self, steps: Iterable[int]) -> bool:
        """Whether a cached event of ``steps`` belongs to a job not summarized yet."""
        for step in steps:
            event = self._events.get(step)
            if event is not None and event.job_id is not None and event.job_id not in self.jobs:
                return True
        return False

    async def load(self, steps: Sequence[int], *, summaries: bool = False) -> int:
        """Read the events of ``steps`` not yet cached (a range, or a list); returns how many.

        With ``summaries``, also the summaries of the jobs they belong to (folded rows).
        """
        wanted = sorted(set(self.missing(steps)))
        loaded: list[StoredEvent] = []
        session = self.replay.session_id
        for at in range(0, len(wanted), PAGE):
            chunk = wanted[at : at + PAGE]
            if chunk[-1] - chunk[0] + 1 == len(chunk):
                found = await self.replay.events(chunk[0], chunk[-1] + 1)
            else:
                found = await self._log.events_at(session, chunk)
            loaded += found
        for event in loaded:
            self._events[event.seq] = event
            self._learn_name(event)
        while len(self._events) > KEPT_EVENTS:
            self._events.popitem(last=False)
        await self._attribute_errors(loaded)
        if summaries:
            jobs = {e.job_id for s in steps if (e := self._events.get(s)) is not None and e.job_id}
            await self._summarize(jobs - set(self.jobs))
        return len(loaded)

    async def event(self, step: int) -> StoredEvent:
        """The event at ``step``, from the cache or the log."""
        found = self._events.get(step)
        if found is None:
            found = await self.replay.event(step)
            self._events[step] = found
        return found

    async def at_cursor(self, step: int) -> AtCursor:
        """The event at ``step``, the state after it, what it changed, its cause and effects."""
        message = await self.message_at(step)
        before, state, changed = await self.state_around(message.event)
        event = message.event
        return AtCursor(step, event, state, changed, message.cause, message.effects, before)

    async def message_at(self, step: int) -> MessageAt:
        """The event at ``step`` with its cause and effects (read at once, on two connections)."""
        event = await self.event(step)
        cause, effects, _ = await asyncio.gather(
            self.replay.cause_of(event), self.effects_of(event), self._attribute_errors([event])
        )
        return MessageAt(step, event, cause, effects)

    async def state_after(self, event: StoredEvent) -> tuple[SessionState, StateChanges]:
        """The registry and jobs after ``event``, and what it changed in them."""
        _, state, changed = await self.state_around(event)
        return state, changed

    async def state_around(
        self, event: StoredEvent
    ) -> tuple[SessionState, SessionState, StateChanges]:
        """The registry and jobs before and after ``event``, and what it changed in them.

        The last :data:`KEPT_STATES` steps asked are kept: a step gone back to is not
        folded again.
        """
        kept = self._states.get(event.seq)
        if kept is not None:
            self._states.move_to_end(event.seq)
            return kept
        before = await self.replay.state_at(event.seq - 1)
        state = fold([event.envelope()], before) if event.type in FOLDED else before
        state = state._replace(events=event.seq)
        around = before, state, changes(before, state)
        self._states[event.seq] = around
        while len(self._states) > KEPT_STATES:
            self._states.popitem(last=False)
        return around

    async def effects_of(self, event: StoredEvent) -> list[StoredEvent]:
        """The events the handlers of ``event`` sent, in order."""
        session = self.replay.session_id
        return await self._at(await self._log.positions_caused_by(session, [event.message_id]))

    async def _at(self, steps: list[int]) -> list[StoredEvent]:
        """The events of ``steps``, through the cache (the log found the steps by index)."""
        await self.load(steps)
        return [event for step in steps if (event := self._events.get(step)) is not None]

    async def pages(self, start: int, stop: int) -> AsyncIterator[list[StoredEvent]]:
        """Events of steps ``start`` to ``stop`` (included), a page at a time (exports)."""
        position = start
        while position <= stop:
            page = await self.replay.events(position, min(stop, position + 5 * PAGE - 1) + 1)
            if not page:
                return
            yield page
            position = page[-1].seq + 1

    # --- searches -----------------------------------------------------------------------

    async def rows(
        self,
        query: Query | None,
        *,
        folded: bool = False,
        expanded: Iterable[str] = (),
        progress: Progress | None = None,
    ) -> array[int] | None:
        """The visible steps under a filter and job folding (None: every step is).

        A search of the payloads reports ``progress`` (steps searched, of how many).
        """
        if query is None and not folded:
            return None
        if query is not None and not folded and (query.patterns or query.words):
            return await self._search(query, progress)
        return await self._log.positions(
            self.replay.session_id,
            query.event_filter() if query is not None else None,
            first_of_each_job=folded,
            whole_jobs=tuple(expanded),
        )

    async def _search(self, query: Query, progress: Progress | None) -> array[int]:
        """Steps ``query`` matches, searched :data:`SEARCH_PART` steps at a time.

        A regex over the payloads is the slow search: done in parts, it tells how far
        it got, and a cancelled one stops within a part (the log interrupts the query).
        """
        found: array[int] = array("q")
        where, total = query.event_filter(), self.length
        for start in range(1, total + 1, SEARCH_PART):
            stop = min(start + SEARCH_PART, total + 1)
            found += await self._log.positions(
                self.replay.session_id, where, start=start, stop=stop
            )
            if progress is not None:
                progress(stop - 1, total)
        return found

    async def hits(
        self, query: Query, rows: array[int] | None, *, progress: Progress | None = None
    ) -> array[int]:
        """The steps ``query`` matches among ``rows`` (None: among every step), in order."""
        if query.patterns or query.words:
            found = await self._search(query, progress)
        else:
            found = await self._log.positions(self.replay.session_id, query.event_filter())
        if rows is None:
            return found
        shown = set(rows)
        return array("q", (step for step in found if step in shown))

    async def new_events(self, after: int) -> list[StoredEvent]:
        """The events after step ``after`` (a live session's newest), cached for drawing."""
        found = await self.replay.events(after + 1, limit=50 * PAGE)
        for event in found:
            self._learn_name(event)
        for event in found[-PAGE:]:
            self._events[event.seq] = event
        await self._attribute_errors(found[-PAGE:])
        return found

    async def _attribute_errors(self, found: Sequence[StoredEvent]) -> None:
        """Learn the job of each handler error of ``found``: the job of the failed message.

        A handler error names the message whose handler failed (its ``message_id``
        field, else the message it was caused by), not the job: that message does.
        """
        errors = [
            event
            for event in found
            if event.is_error and event.job_id is None and event.seq not in self._errors_asked
        ]
        failed = {event.seq: failed_message(event) for event in errors}
        self._errors_asked.update(failed)
        wanted = sorted({message for message in failed.values() if message})
        if not wanted:
            return
        session = self.replay.session_id
        positions = await self._log.positions_of_messages(session, wanted)
        job_of = {
            event.message_id: event.job_id
            for event in await self._log.events_at(session, positions)
            if event.job_id is not None
        }
        for step, message in failed.items():
            if message in job_of:
                self.error_jobs[step] = job_of[message]

    def _learn_name(self, event: StoredEvent) -> None:
        if event.job_id is not None and event.job_id not in self.job_names:
            name = request_name(event)
            if name is not None:
                self.job_names[event.job_id] = name

    async def next_hit(
        self,
        queries: Sequence[Query],
        after: int,
        *,
        back: bool = False,
        within: Query | None = None,
    ) -> int | None:
        """The first step after ``after`` (before it, ``back``) matching any of ``queries``.

        ``within`` limits the search to the steps a filter shows.
        """
        return await self._log.next_match(
            self.replay.session_id,
            after,
            [query.event_filter() for query in queries],
            backwards=back,
            within=within.event_filter() if within is not None else None,
        )

    async def step_at_time(self, time_ns: int) -> int:
        """The first step at or after ``time_ns`` (the last one if none is), by bisection."""
        low, high = 1, self.length
        while low < high:
            middle = (low + high) // 2
            if (await self.event(middle)).time_ns < time_ns:
                low = middle + 1
            else:
                high = middle
        return low

    # --- jobs and spans ---------------------------------------------------------------------

    async def _summarize(self, job_ids: set[str]) -> None:
        """Summaries of jobs (events, first and last time, status) from all their events.

        The handler errors their messages caused count as theirs.
        """
        if job_ids:
            session = self.replay.session_id
            found = await self._at(await self._log.positions_of_jobs(session, sorted(job_ids)))
            found, attributed = await self._with_errors(found)
            self.jobs.update((job.job_id, job) for job in summarize(found, attributed))

    async def jobs_around(self, step: int) -> list[JobSummary]:
        """The jobs with events within :data:`TRACE_WINDOW` steps of ``step`` (cut there)."""
        session = self.replay.session_id
        start, stop = step - TRACE_WINDOW, step + TRACE_WINDOW + 1
        found, attributed = await self._with_errors(
            await self._log.job_events(session, start, stop)
        )
        return summarize(found, attributed)

    async def _with_errors(
        self, found: list[StoredEvent]
    ) -> tuple[list[StoredEvent], dict[int, str]]:
        """``found`` (events of jobs) and the handler errors their messages caused, in order.

        Returns the events and the job of each error (by step).
        """
        job_of = {event.message_id: event.job_id for event in found if event.job_id}
        session = self.replay.session_id
        caused = await self._at(await self._log.positions_caused_by(session, list(job_of)))
        errors = [each for each in caused if each.is_error and each.job_id is None]
        attributed = {
            each.seq: job_of[each.causation_id] for each in errors if each.causation_id in job_of
        }
        merged = sorted([*found, *(e for e in errors if e.seq in attributed)], key=lambda e: e.seq)
        return merged, attributed

    async def spans(self, event: StoredEvent) -> tuple[list[SpanRecord], dict[int, int]]:
        """The spans of the event's job, or of its trace near it, rebuilt from the stored ids.

        Returns them with the step each leads to (:func:`~inspector.waterfall.span_steps`).

        A job's spans include the handler errors its messages caused (they mark the
        deliveries that failed).
        """
        log, session = self._log, self.replay.session_id
        if event.job_id is not None:
            found = await self._at(await log.positions_of_jobs(session, [event.job_id]))
            ids = [each.message_id for each in found]
            caused = await self._at(await log.positions_caused_by(session, ids))
            errors = [each for each in caused if each.is_error]
            found = sorted([*found, *errors], key=lambda e: e.seq)
        else:
            start, stop = event.seq - TRACE_WINDOW, event.seq + TRACE_WINDOW + 1
            found = await log.events(session, start, stop, trace_id=event.trace_id)
        builder = SpanBuilder(deliveries_timed=False)
        for each in found:
            builder.add_event(event_of_stored(each))
        spans = builder.finish()
        return spans, span_steps(spans, {each.message_id: each.seq for each in found})


def failed_message(error: StoredEvent) -> str | None:
    """The id of the message whose handler raised ``error`` (a handler error's event)."""
    named = _payload_field(error.payload, "message_id")
    return named if isinstance(named, str) and named else error.causation_id


def _payload_field(payload: str, name: str) -> object:
    try:
        found = json.loads(payload)
    except ValueError:
        return None
    return found.get(name) if isinstance(found, dict) else None


async def open_log(location: str | Path | None) -> EventLog:
    """Open the log the inspector reads, read-only: it is never written, created or upgraded."""
    return await EventLog.open(location, read_only=True)


async def compare(
    a: SessionData, b: SessionData, progress: Callable[[int, int], None] | None = None
) -> Comparison:
    """Two open sessions aligned message by message (the side-by-side screen's one read).

    ``progress(rows done, rows)`` is called as the second pass goes.
    """
    return await compare_sessions(a.replay, b.replay, progress=progress)
