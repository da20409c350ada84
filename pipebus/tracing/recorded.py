"""The spans of a recorded session, rebuilt from its events and deliveries.

Events are read a page at a time, in the order the runner stamped them; each
recorded delivery is fed once its message was seen and the events before its end
were, as the live tracer saw it. So a session recorded with
``record_deliveries="all"`` (the default) rebuilds the very spans live tracing
reported; one recorded with ``"errors"`` (failures only) has its other deliveries
inferred.

Several runners may record one session (PostgreSQL): the log holds each message once,
from whichever runner stored it first, marked ``remote`` if that runner received it.
Each span is rebuilt once, as the runner that reported it live did: a message's send
by its sender if the sender records into the session (else it is another session's
to export), a delivery by the runner of its subscriber (found from what the
subscriber sent), a job by its requester's runner.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pipebus.core.errors import TracingError
from pipebus.eventlog.store import EventLog
from pipebus.tracing.events import event_of_stored
from pipebus.tracing.records import SpanRecord
from pipebus.tracing.spans import SpanBuilder

PAGE = 5000
"""Events read from the log at a time."""

_Delivery = tuple[int, str, str, int, str | None, str | None]  # end, message, subscriber...
Progress = Callable[[int, int], None]
RESOURCE_TYPE = "BusTracingStartedMessage"
"""The record-only event a live tracer leaves in the session: its runner's resource."""
LOST_TYPE = "BusSpansLostMessage"
"""The record-only event a live tracer leaves for spans it could not deliver: their ids."""


@dataclass(slots=True)
class Runners:
    """Who recorded a session, who hosts each subscriber, and each traced runner's resource.

    Attributes:
        recording: Runners that stored events they sent themselves.
        host: The runner of each sender (so of each subscriber that sent anything).
        resources: The resource attributes each live-traced runner reported spans with.
    """

    recording: set[str] = field(default_factory=set)
    host: dict[str, str] = field(default_factory=dict)
    resources: dict[str, dict[str, object]] = field(default_factory=dict)


async def session_runners(log: EventLog, session_id: str) -> Runners:
    """Read who recorded ``session_id`` (its runner columns only, a page at a time).

    Raises:
        EventLogError: If the log cannot be read.
    """
    found = Runners()
    start = 1
    columns = ("seq", "source", "runner", "remote")
    while page := await log.event_rows(session_id, start, start + RUNNER_PAGE, columns=columns):
        for _seq, source, runner, remote in page:
            found.host[source] = runner
            if not remote:
                found.recording.add(runner)
        start = page[-1][0] + 1
    for event in await log.events(session_id, types=[RESOURCE_TYPE]):
        resource = getattr(event.message, "resource", None)
        if isinstance(resource, dict):
            found.resources[event.runner] = resource
    return found


RUNNER_PAGE = 50_000
"""Rows read at a time when looking for who recorded a session (a few columns each)."""


async def lost_span_ids(log: EventLog, session_id: str) -> set[int]:
    """The ids of the spans live tracing recorded as lost in ``session_id``.

    Raises:
        EventLogError: If the log cannot be read.
        TracingError: If a recorded span id is not 16 hex digits.
    """
    ids: set[int] = set()
    for event in await log.events(session_id, types=[LOST_TYPE]):
        for span_id in getattr(event.message, "span_ids", ()):
            try:
                ids.add(int(span_id, 16))
            except (TypeError, ValueError):
                raise TracingError(
                    f"event {event.seq} of session {session_id[:8]} ({LOST_TYPE}) names "
                    f"a span id that is not 16 hex digits: {span_id!r}"
                ) from None
    return ids


async def recorded_spans(
    log: EventLog,
    session_id: str,
    *,
    links: bool = False,
    progress: Progress | None = None,
    runners: Runners | None = None,
) -> AsyncIterator[list[SpanRecord]]:
    """The session's spans, in batches as they complete.

    Args:
        log: The event log.
        session_id: A full session id.
        links: Make deliveries roots linked to their sends.
        progress: Called with ``(events read, events in the session)`` after each page.
        runners: Who recorded the session (default: read by :func:`session_runners`).

    Raises:
        EventLogError: If the log cannot be read.
        DecodeError: If a message tracing reads a field of does not decode.
    """
    if runners is None:
        runners = await session_runners(log, session_id)
    recording, host = runners.recording, runners.host
    by_message, timed = await _deliveries(log, session_id)
    builder = SpanBuilder(deliveries_timed=timed, links=links)
    due: list[_Delivery] = []
    total = await log.count(session_id)
    done = 0
    while True:
        page = await log.events(session_id, done + 1, done + 1 + PAGE)
        if not page:
            break
        for event in page:
            while due and due[0][0] < event.time_ns:
                _feed(builder, heapq.heappop(due), host)
            builder.add_event(event_of_stored(event, event.runner not in recording))
            for delivery in by_message.pop(event.message_id, ()):
                heapq.heappush(due, delivery)
        done = page[-1].seq
        if progress is not None:
            progress(done, total)
        spans = builder.take()
        if spans:
            yield spans
    while due:
        _feed(builder, heapq.heappop(due), host)
    spans = builder.finish()
    if spans:
        yield spans


def _feed(builder: SpanBuilder, delivery: _Delivery, host: dict[str, str]) -> None:
    end_ns, message_id, subscriber, start_ns, error_type, error = delivery
    runner = host.get(subscriber)  # a runner subscribes under its name, and sends under it
    builder.add_delivery(message_id, subscriber, start_ns, end_ns, error_type, error, runner)


async def _deliveries(log: EventLog, session_id: str) -> tuple[dict[str, list[_Delivery]], bool]:
    """The session's recorded deliveries by message, and whether all were recorded.

    A runner recording failures only (``record_deliveries="errors"``) never records a
    delivery without an error; one that records all does: so the session's
    deliveries were timed if any recorded delivery succeeded.
    """
    rows = await log.delivery_timings(session_id)
    by_message: dict[str, list[_Delivery]] = {}
    timed = False
    for end_ns, message_id, subscriber, start_ns, error_type, error in rows:
        by_message.setdefault(message_id, []).append(
            (end_ns, message_id, subscriber, start_ns, error_type, error)
        )
        timed = timed or error_type is None
    return by_message, timed
