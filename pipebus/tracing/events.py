"""Trace events from the two places spans are built from: live envelopes, stored events.

Both adapters give :class:`~pipebus.tracing.records.TraceEvent` the same content for
the same message, which is what makes a recorded session export as the trace it
was live.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pipebus.core.codec import registered_type, wire_name
from pipebus.core.envelope import Envelope
from pipebus.core.errors import DecodeError, EncodeError
from pipebus.core.messages import BusMessage
from pipebus.core.routing import Delivery, Lane, delivery_of, lane_of
from pipebus.eventlog.rows import StoredEvent
from pipebus.tracing.records import FIELDS_READ, TraceEvent

_record_only_names: dict[str, bool] = {}
_type_names: dict[type, str] = {}


def event_of_envelope(envelope: Envelope) -> TraceEvent:
    """The trace event of an envelope the bus stamped (or received)."""
    message = envelope.message
    kind = type(message)
    name = _type_names.get(kind) or _type_name(kind)
    wanted = FIELDS_READ.get(name)
    return TraceEvent(
        name,
        envelope.message_id,
        envelope.session_id,
        envelope.time_ns,
        message.source,
        message.target,
        "system" if lane_of(kind) is Lane.SYSTEM else "data",
        envelope.job_id,
        envelope.trace_id,
        envelope.span_id,
        envelope.parent_span_id,
        envelope.causation_id,
        envelope.remote,
        delivery_of(kind) is Delivery.RECORD,
        _fields(message, wanted) if wanted else {},
        envelope.runner,
    )


def event_of_stored(event: StoredEvent, remote: bool | None = None) -> TraceEvent:
    """The trace event of a recorded event (its message decoded only when needed).

    ``remote`` overrides the event's own flag (an export of a session several runners
    recorded: a message is remote only if its sender recorded nothing there).

    Raises:
        DecodeError: If a message whose fields tracing reads does not decode.
    """
    wanted = FIELDS_READ.get(event.type)
    return TraceEvent(
        event.type,
        event.message_id,
        event.session_id,
        event.time_ns,
        event.source,
        event.target,
        event.priority,
        event.job_id,
        int(event.trace_id, 16),
        int(event.span_id, 16),
        int(event.parent_span_id, 16) if event.parent_span_id else 0,
        event.causation_id,
        event.remote if remote is None else remote,
        _is_record_only(event.type),
        _fields(event.message, wanted) if wanted else {},
        event.runner,
    )


def _type_name(kind: type) -> str:
    """The name the log stores a message type under (its wire name)."""
    try:
        name = wire_name(kind)
    except EncodeError:
        name = kind.__name__
    _type_names[kind] = name
    return name


def _fields(message: BusMessage, names: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        value = getattr(message, name, None)
        values[name] = value.value if isinstance(value, Enum) else value
    return values


def _is_record_only(type_name: str) -> bool:
    """Whether a stored type is record-only (an unknown type is taken as a message)."""
    known = _record_only_names.get(type_name)
    if known is None:
        try:
            kind = registered_type(type_name, "message")
        except DecodeError:
            known = False
        else:
            known = delivery_of(kind) is Delivery.RECORD
        _record_only_names[type_name] = known
    return known
