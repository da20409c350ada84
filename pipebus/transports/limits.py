"""How large a message may be to cross a transport, checked by ``send()`` before it is stamped.

Every pipebus receiver refuses an envelope over ``MAX_ENVELOPE_BYTES`` (4 MiB): a
sender that let one go would have it recorded and delivered on its own runner, then
skipped by every other, and a job's requester would wait for its timeout. So a bus
between processes measures what it is about to send first and refuses with
:class:`~pipebus.core.errors.MessageTooLargeError`: nothing is stamped, recorded,
delivered or written.

An envelope is the message's fields (the codec's text, which ``send()`` writes before
stamping) plus a header of a few hundred bytes. The header is built when the message
is stamped, after the check, so the check counts it at its largest: every value the
header will hold is known then, or bounded (counters, the tracestate).
"""

from __future__ import annotations

from json.encoder import encode_basestring

from pipebus.bus.context import current_delivery
from pipebus.core.codec import wire_name
from pipebus.core.errors import MessageTooLargeError
from pipebus.core.messages import BusMessage
from pipebus.core.wire import MAX_ENVELOPE_BYTES

MAX_MESSAGE_BYTES = MAX_ENVELOPE_BYTES
"""The most a message may take on the wire of a bus between processes (4 MiB), header included."""

ROOMY_CHARS = MAX_MESSAGE_BYTES // 8
"""Fields of at most this many characters fit without counting (the send path): at most
4 bytes each in UTF-8, they leave half the limit to a header of a few hundred bytes."""

_HEADER_KEYS = len(
    b'{"v":,"type":,"id":,"session":,"seq":,"time":,"runner":,"trace":"","span":"",'
    b'"parent":"","cause":,"tracestate":"","msg":}'
)
_NUMBERS = 3 * 20 + 2 * 64  # v, seq and time as 64-bit integers at most; an id of 64 bytes
_TRACE_IDS = 32 + 16 + 16
_TRACESTATE = 2 * 512
"""A W3C tracestate of 512 characters (receivers refuse a longer one), each escaped."""

_REFERENCE = (
    "every pipebus receiver refuses larger envelopes, so this limit is fixed: send large "
    "data by reference (a Redis key, a file or object-store URL) instead"
)


def envelope_header_bound(message: BusMessage, session_id: str, runner_name: str) -> int:
    """The most bytes the header of ``message``'s envelope can take, stamped now."""
    delivery = current_delivery.get()
    cause = "null" if delivery is None else encode_basestring(delivery.envelope.message_id)
    named = (encode_basestring(wire_name(type(message))), encode_basestring(session_id))
    texts = (*named, encode_basestring(runner_name), cause)
    return (
        _HEADER_KEYS
        + _NUMBERS
        + _TRACE_IDS
        + _TRACESTATE
        + sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)
    )


def check_envelope_size(
    message: BusMessage, fields_json: str, session_id: str, runner_name: str, transport: str
) -> None:
    """Refuse ``message`` if its envelope could be over the limit receivers enforce.

    ``transport`` (``"Redis"``, ``"PostgreSQL"``) is named in the error.

    Raises:
        MessageTooLargeError: Naming the message, its size and the limit.
    """
    if len(fields_json) <= ROOMY_CHARS:
        return
    fields = len(fields_json.encode("utf-8", "surrogatepass"))
    header = envelope_header_bound(message, session_id, runner_name)
    if fields + header > MAX_MESSAGE_BYTES:
        raise too_large(
            message,
            fields + header,
            MAX_MESSAGE_BYTES,
            f"its fields take {fields:,} bytes as JSON and its envelope's header up to "
            f"{header:,} bytes",
            _REFERENCE,
            transport,
        )


def too_large(
    message: BusMessage, size: int, limit: int, parts: str, remedy: str, transport: str
) -> MessageTooLargeError:
    """The error for a message of ``size`` bytes over ``limit`` on ``transport``.

    ``remedy`` says what to do.
    """
    return MessageTooLargeError(
        f"{type(message).__name__} from {message.source!r} is too large to send over "
        f"{transport}: {size:,} bytes ({parts}), over the {limit:,}-byte limit; {remedy}. "
        "Nothing was sent.",
        size=size,
        limit=limit,
    )
