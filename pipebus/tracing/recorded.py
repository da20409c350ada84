"""The spans of a recorded session, rebuilt from its events and deliveries.

Events are read a page at a time, in the order the runner stamped them; each
recorded delivery is fed once its message was seen and the events before its end
were, as the live tracer saw it. So a session recorded with
``record_deliveries="all"`` rebuilds the very spans live tracing reported. A session
recorded with the default (failures only) has its other deliveries inferred.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Callable

from pipebus.eventlog.store import EventLog
from pipebus.tracing.events import event_of_stored
from pipebus.tracing.records import SpanRecord
from pipebus.tracing.spans import SpanBuilder

PAGE = 5000
"""Events read from the log at a time."""

_Delivery = tuple[int, str, str, int, str | None, str | None]  # end, message, subscriber...
Progress = Callable[[int, int], None]


async def recorded_spans(
    log: EventLog,
    session_id: str,
    *,
    links: bool = False,
    progress: Progress | None = None,
) -> AsyncIterator[list[SpanRecord]]:
    """The session's spans, in batches as they complete.

    Args:
        log: The event log.
        session_id: A full session id.
        links: Make deliveries roots linked to their sends.
        progress: Called with ``(events read, events in the session)`` after each page.

    Raises:
        EventLogError: If the log cannot be read.
        DecodeError: If a message tracing reads a field of does not decode.
    """
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
                _feed(builder, heapq.heappop(due))
            builder.add_event(event_of_stored(event))
            for delivery in by_message.pop(event.message_id, ()):
                heapq.heappush(due, delivery)
        done = page[-1].seq
        if progress is not None:
            progress(done, total)
        spans = builder.take()
        if spans:
            yield spans
    while due:
        _feed(builder, heapq.heappop(due))
    spans = builder.finish()
    if spans:
        yield spans


def _feed(builder: SpanBuilder, delivery: _Delivery) -> None:
    end_ns, message_id, subscriber, start_ns, error_type, error = delivery
    builder.add_delivery(message_id, subscriber, start_ns, end_ns, error_type, error)


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
