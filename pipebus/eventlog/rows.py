"""Envelopes to event rows and back: what a recorded event holds, decoded when asked."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipebus.core import describe
from pipebus.core.codec import (
    build_value,
    decode_message,
    decode_value,
    encode_value,
    field_values,
    registered_type,
    wire_name,
)
from pipebus.core.envelope import Envelope
from pipebus.core.errors import DecodeError, EncodeError
from pipebus.core.messages import BusMessage
from pipebus.core.routing import Delivery, Lane, delivery_of, lane_of
from pipebus.core.types import NotRecorded
from pipebus.core.wire import envelope_fields_json

logger = logging.getLogger("pipebus.eventlog")


UNENCODABLE = "$unencodable"
"""Key of the note that stands for a message's fields when none could be kept: written
by older versions for any message the codec could not write, and by the SQLite writer
for a payload SQLite could not store, with ``source`` and ``target`` beside it."""

HEARTBEAT_STALE_NS = 30_000_000_000
"""A running session whose recorder has been silent this long (30 s) is incomplete."""

ERROR_TYPES = describe.ERROR_TYPES
"""Event types that count as errors of their session (its ``errors`` column)."""

_class_facts: dict[type, tuple[str, str, bool]] = {}


def _facts(message_type: type) -> tuple[str, str, bool]:
    """(wire name, priority class, local-only) of a message type, cached."""
    facts = _class_facts.get(message_type)
    if facts is None:
        priority = "system" if lane_of(message_type) is Lane.SYSTEM else "data"
        facts = (
            wire_name(message_type),
            priority,
            delivery_of(message_type) is not Delivery.PUBLISH,
        )
        _class_facts[message_type] = facts
    return facts


def event_row(
    envelope: Envelope, session_id: str, seq: int, payload: str | None = None
) -> tuple[Any, ...]:
    """The events-table row of one envelope, at position ``seq`` of ``session_id``.

    Its values are in the order of :data:`~pipebus.eventlog.schema.EVENT_COLUMNS`.

    ``payload`` replaces the encoded fields (for a message the codec cannot write).

    Raises:
        EncodeError: If the message cannot be written by the codec.
    """
    message = envelope.message
    type_name, priority, local = _facts(type(message))
    parent = envelope.parent_span_id
    return (
        session_id,
        seq,
        envelope.message_id,
        envelope.time_ns,
        type_name,
        message.source,
        message.target,
        priority,
        local,
        envelope.job_id,
        envelope.runner,
        envelope.remote,
        envelope_fields_json(envelope) if payload is None else payload,
        f"{envelope.trace_id:032x}",
        f"{envelope.span_id:016x}",
        f"{parent:016x}" if parent else None,
        envelope.causation_id,
    )


_unencodable_types: set[str] = set()


def recordable_row(envelope: Envelope, session_id: str, seq: int) -> tuple[Any, ...]:
    """The row of an envelope; a field the codec cannot write costs only that field.

    The event is recorded either way (type, source, target, ids...), with every field
    the codec can write; each other field holds a :class:`NotRecorded` saying why, so a
    replay decodes the event and its projections fold what was kept. A warning is
    logged once per message type.
    """
    try:
        return event_row(envelope, session_id, seq)
    except EncodeError as exc:
        kind = type(envelope.message).__qualname__
        if kind not in _unencodable_types:
            _unencodable_types.add(kind)
            logger.warning("%s recorded without the fields the codec cannot write: %s", kind, exc)
        return event_row(envelope, session_id, seq, payload=_kept_fields(envelope.message, exc))


def _kept_fields(message: BusMessage, error: EncodeError) -> str:
    """The JSON of a message's fields, each one the codec cannot write as a NotRecorded."""
    kept: dict[str, Any] = {}
    for name, value in field_values(message).items():
        try:
            encode_value(value)
        except EncodeError as exc:
            value = NotRecorded(f"{type(value).__qualname__}: {exc}")
        kept[name] = value
    try:
        return encode_value(kept)
    except EncodeError:  # not field by field (a cycle across fields): a note for all
        return json.dumps({UNENCODABLE: str(error)})


def decode_recorded(type_name: str, payload: str) -> BusMessage:
    """The message of a recorded event, also of one recorded without its fields.

    A payload that is an ``$unencodable`` note (see :data:`UNENCODABLE`) gives a message
    with the fields the note kept (``source``, ``target``) and a :class:`NotRecorded`
    in each other field, so replays and projections go on past it.

    Raises:
        DecodeError: If the payload does not decode (an unregistered type, say).
    """
    try:
        return decode_message(type_name, payload)
    except DecodeError:
        if UNENCODABLE not in payload:
            raise
        note = decode_value(payload)
        if type(note) is not dict or UNENCODABLE not in note:
            raise
    cls = registered_type(type_name, "message")
    missing = NotRecorded(str(note.pop(UNENCODABLE)))
    values = {f.name: note.get(f.name, missing) for f in dataclasses.fields(cls) if f.init}
    message = build_value(cls, values, type_name)
    assert isinstance(message, BusMessage)
    return message


FOLD_COLUMNS = ("seq", "time_ns", "type", "payload")
"""The columns the projections' fold needs from a row: position, time, type and fields."""


def fold_envelopes(rows: Iterable[Sequence[Any]], session_id: str) -> Iterator[Envelope]:
    """Envelopes for the projections' fold from :data:`FOLD_COLUMNS` rows, one at a time.

    Each carries what the projections read (the message and its time) and its position.
    The ids, runner and trace fields, which no projection reads, are left empty (``""``
    or 0), so a replay never reads their columns. For whole events use
    :class:`StoredEvent`. A generator: a caller folding the envelopes as
    they come decodes one message at a time, which spares the garbage collector.

    Raises:
        DecodeError: If a payload does not decode.
    """
    decode = decode_recorded
    for seq, time_ns, type_name, payload in rows:
        yield Envelope(decode(type_name, payload), "", session_id, seq, time_ns, "", 0, 0)


@dataclass(slots=True)
class StoredEvent:
    """One recorded event, as read back from the log.

    The message is decoded from ``payload`` the first time :attr:`message` is read.

    Attributes:
        seq: The event's position in its session (the replay's step).
        message_id: The message's id.
        time_ns: Unix time of the send, in nanoseconds.
        type: The message type's wire name.
        source: Who sent it.
        target: Its target, or None for a broadcast.
        priority: ``"data"`` or ``"system"``.
        local: Whether it was local-only (or record-only).
        job_id: The job it belongs to, if any.
        runner: The runner that sent it.
        remote: Whether the recording runner received it from another runner.
        payload: The JSON of the message's fields.
        trace_id: 32 hex digits.
        span_id: 16 hex digits.
        parent_span_id: 16 hex digits, or None for a root.
        causation_id: Id of the message whose handler sent this one, if any.
        session_id: The session it belongs to.
    """

    seq: int
    message_id: str
    time_ns: int
    type: str
    source: str
    target: str | None
    priority: str
    local: bool
    job_id: str | None
    runner: str
    remote: bool
    payload: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    causation_id: str | None
    session_id: str = ""
    _message: BusMessage | None = field(default=None, repr=False, compare=False)

    @property
    def message(self) -> BusMessage:
        """The decoded message.

        Raises:
            DecodeError: If the payload does not decode (an unregistered type, say).
        """
        if self._message is None:
            self._message = decode_recorded(self.type, self.payload)
        return self._message

    @property
    def is_error(self) -> bool:
        """Whether this event reports a handler error or a worker error."""
        return self.type in ERROR_TYPES

    def envelope(self) -> Envelope:
        """The envelope as the recording bus stamped it (the sequence is the log's)."""
        return Envelope(
            self.message,
            self.message_id,
            self.session_id,
            self.seq,
            self.time_ns,
            self.runner,
            int(self.trace_id, 16),
            int(self.span_id, 16),
            int(self.parent_span_id, 16) if self.parent_span_id else 0,
            self.causation_id,
            self.remote,
            self.job_id,
        )

    @classmethod
    def from_row(cls, row: Any) -> StoredEvent:
        """Build from a row holding :data:`~pipebus.eventlog.schema.EVENT_COLUMNS`, in order."""
        (session_id, seq, message_id, time_ns, type_name, source, target, priority, local,
         job_id, runner, remote, payload, trace_id, span_id, parent, cause) = row  # fmt: skip
        return cls(
            seq,
            message_id,
            time_ns,
            type_name,
            source,
            target,
            priority,
            bool(local),
            job_id,
            runner,
            bool(remote),
            payload,
            trace_id,
            span_id,
            parent,
            cause,
            session_id,
        )


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One recorded session, as the ``sessions`` table holds it.

    Attributes:
        id: The session id (32 hex digits).
        name: A name given by the application, if any.
        runner: The runner that recorded it.
        pid: The recording process.
        host: The recording machine.
        version: The pipebus version that recorded it.
        started_ns: When ``run()`` started.
        ended_ns: When it ended, if it did.
        heartbeat_ns: When the recorder last wrote.
        status: ``"running"``, ``"ended"``, ``"cancelled"`` or ``"failed"``.
        events: How many events it holds.
        errors: How many handler and worker errors it recorded.
        lost_events: Events that could not be written (the log failed meanwhile).
        first_lost_seq: The position of the first event that could not be written.
        snapshot_every: Events between two snapshots.
        durability: ``"batch"``, ``"full"`` or ``"sync"``.
    """

    id: str
    name: str | None
    runner: str
    pid: int
    host: str
    version: str
    started_ns: int
    ended_ns: int | None
    heartbeat_ns: int
    status: str
    events: int
    errors: int
    lost_events: int
    first_lost_seq: int | None
    snapshot_every: int
    durability: str

    @classmethod
    def from_row(cls, row: Any) -> SessionInfo:
        """Build from a ``sessions`` row."""
        m = row._mapping
        return cls(
            id=m["id"],
            name=m["name"],
            runner=m["runner"],
            pid=m["pid"],
            host=m["host"],
            version=m["version"],
            started_ns=m["started_ns"],
            ended_ns=m["ended_ns"],
            heartbeat_ns=m["heartbeat_ns"],
            status=m["status"],
            events=m["last_seq"],
            errors=m["errors"],
            lost_events=m["lost_events"],
            first_lost_seq=m["first_lost_seq"],
            snapshot_every=m["snapshot_every"],
            durability=m["durability"],
        )

    def shown_status(self, now_ns: int) -> str:
        """The status to show: a ``running`` session whose process is gone is ``incomplete``."""
        if self.status != "running":
            return self.status
        if self.host == socket.gethostname() and not _alive(self.pid):
            return "incomplete"
        if now_ns - self.heartbeat_ns > HEARTBEAT_STALE_NS:
            return "incomplete"
        return "running"

    def duration_ns(self, now_ns: int) -> int:
        """How long it ran (until now, if it still runs)."""
        return (self.ended_ns or now_ns) - self.started_ns


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
