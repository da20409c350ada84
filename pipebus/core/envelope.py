"""The envelope: one message as it crosses the bus, with its identity, time and trace.

The bus stamps an envelope on every message it sends (or receives from another
runner). The same envelope is what taps see, what the event log stores and what
Redis carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipebus.core.messages import BusMessage

ENVELOPE_VERSION = 3
"""Version of the envelope layout and of the codec's tags; newer envelopes are refused.

1: the first. 2: payload values keep their types (datetimes, Decimal, UUID, tuples,
sets, dicts keyed by other than strings, str and int enums, NaN: new tags, which a
version 1 reader would not know). A version 1 envelope, like a field text recorded
by a version 1 pipebus, reads unchanged: its tags are a subset of version 2's.
3: the trace context may carry the sender's sampling decision (``"sampled"``). An
envelope without one is still written as version 2, byte for byte, so runners of
version 2 read everything but the envelopes of a traced runner."""


# Not frozen: one is built per message on the hot path, and a frozen dataclass
# initialises each field through object.__setattr__, which is noticeably slower.
@dataclass(slots=True)
class Envelope:
    """One message with what the bus knows about it.

    Attributes:
        message: The message itself.
        message_id: Unique across runners and sessions.
        session_id: The recording session the bus belongs to.
        seq: Position in this bus's stream (send order; for a message from another
            runner, the order in which this bus received it).
        time_ns: Unix time of the send, in nanoseconds.
        runner: Name of the runner (bus) that sent it.
        trace_id: 128-bit trace id; every message belongs to a trace.
        span_id: 64-bit id of the send (producer) span.
        parent_span_id: The span the send happened under (the handler that sent it),
            or 0 for a root.
        causation_id: Id of the message whose handler was running when this one was
            sent, or None.
        remote: True when the envelope came from another runner.
        job_id: The job the message belongs to (its ``job_id`` field), or None.
        trace_state: The W3C ``tracestate`` of the trace (vendor data an
            application's tracer put there), carried along; None when empty.
        sampled: Whether the message's trace is sampled (its spans exported live),
            decided by the live tracer of the runner that stamped or received it; None
            when no tracer decided (tracing off: every message is recorded anyway).
            Not compared: each runner may decide again for what it receives.
        fields_json: The message's fields as the codec wrote them, once some part
            has (the Redis transport for the wire, or the text that came off it), so
            the event log stores that text instead of encoding the message again.
            None until then; never compared.
    """

    message: BusMessage
    message_id: str
    session_id: str
    seq: int
    time_ns: int
    runner: str
    trace_id: int
    span_id: int
    parent_span_id: int = 0
    causation_id: str | None = None
    remote: bool = False
    job_id: str | None = None
    trace_state: str | None = None
    fields_json: str | None = field(default=None, compare=False, repr=False)
    sampled: bool | None = field(default=None, compare=False)

    @property
    def type_name(self) -> str:
        """The message's class name."""
        return type(self.message).__name__
