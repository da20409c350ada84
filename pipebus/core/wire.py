"""The wire format: a whole envelope as one versioned JSON object, what Redis carries.

Every field of the envelope travels, the message as its wire type name plus its
fields (written by :mod:`pipebus.core.codec`). The trace context is W3C's: ``trace``
and ``span`` are the ``traceparent`` of the send span, ``tracestate`` travels as it
came, and ``sampled`` is the sampled flag of a runner that traces live (absent when
the sender decided nothing: every message is recorded whatever the flag).

What comes off the wire is checked strictly: anything that is not a valid envelope
of a registered type, or is too large, or from a newer envelope version, raises
:class:`~pipebus.core.errors.DecodeError` naming the problem, never another exception.
Envelopes of earlier versions decode as they always did (see ``ENVELOPE_VERSION``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

from pipebus.core.codec import (
    build_value,
    encode_message,
    loads_tagged,
    registered_type,
    scan_json,
    wire_name,
)
from pipebus.core.envelope import ENVELOPE_VERSION, Envelope
from pipebus.core.errors import DecodeError, EncodeError
from pipebus.core.routing import job_id_of

MAX_ENVELOPE_BYTES = 4 * 1024 * 1024
"""Envelopes larger than this are refused by :func:`decode_envelope` (4 MiB)."""


def envelope_fields_json(envelope: Envelope) -> str:
    """The JSON text of an envelope's message fields, encoded once and kept on it.

    Raises:
        EncodeError: If the message's type is not registered or a field cannot be written.
    """
    text = envelope.fields_json
    if text is None:
        text = envelope.fields_json = encode_message(envelope.message)
    return text


def encode_envelope(envelope: Envelope) -> bytes:
    """The whole envelope as UTF-8 JSON, what travels between runners.

    The message's fields come last, as the codec's text of them, which the envelope
    keeps (``fields_json``) for the event log: a message is encoded once.

    Raises:
        EncodeError: If the message cannot be written.
    """
    message = envelope.message
    cause = envelope.causation_id
    trace_state = envelope.trace_state
    sampled = envelope.sampled
    # The header by hand, as the codec's JSON would write it (the format test holds
    # the two to the same bytes): its values are known strings and integers, and
    # building the dict and encoding it cost more than the message's own fields.
    text = (
        f'{{"v":{2 if sampled is None else 3},"type":{_string(wire_name(type(message)))},'
        f'"id":{_string(envelope.message_id)},"session":{_string(envelope.session_id)},'
        f'"seq":{int(envelope.seq)},"time":{int(envelope.time_ns)},'
        f'"runner":{_string(envelope.runner)},"trace":"{envelope.trace_id:032x}",'
        f'"span":"{envelope.span_id:016x}","parent":"{envelope.parent_span_id:016x}",'
        f'"cause":{"null" if cause is None else _string(cause)}'
        f"{_tracestate(trace_state) if trace_state else ''}"
        f"{'' if sampled is None else _SAMPLED[sampled]}"
        f"{_MSG}{envelope_fields_json(envelope)}}}"
    )
    try:
        return text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate in a string
        raise EncodeError(f"{type(message).__name__}: {exc}") from None


_string: Callable[[str], str] = encode_basestring
"""A string as JSON (quoted and escaped), as the codec's encoder writes it (C)."""


def _tracestate(value: str) -> str:
    return f',"tracestate":{_string(value)}'


_SAMPLED = {True: ',"sampled":true', False: ',"sampled":false'}
"""The sampled flag, written by version 3 (an envelope without one is written as 2)."""

_MSG = ',"msg":'
"""What precedes the fields in an envelope pipebus wrote.

Never inside a JSON string (where every quote is escaped), nor in the header (whose
values are all scalars)."""
_ENVELOPE_KEYS = ("v", "type", "id", "session", "seq", "time", "runner", "trace", "span", "msg")
_HEX_ID = re.compile(r"[0-9a-fA-F]{1,32}")


def decode_envelope(data: bytes | str) -> Envelope:
    """Rebuild an envelope received from another runner.

    Keeps the text of the message's fields on the envelope (``fields_json``) when the
    envelope is laid out as pipebus writes it (the fields last), for the event log.

    Raises:
        DecodeError: For input that is too large, not JSON, from a newer envelope
            version, of an unknown type, or with missing, unexpected or malformed fields.
    """
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if size > MAX_ENVELOPE_BYTES:
        raise DecodeError(f"envelope of {size} bytes is over the {MAX_ENVELOPE_BYTES}-byte limit")
    split = _split(data)
    if split is not None:
        document, fields_json = split
    else:
        document, fields_json = loads_tagged(data, "envelope"), None
    if not isinstance(document, dict):
        raise DecodeError(f"an envelope must be a JSON object, got {type(document).__name__}")
    missing = [key for key in _ENVELOPE_KEYS if key not in document]
    if missing:
        raise DecodeError(f"envelope is missing {', '.join(missing)}")
    version = document["v"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DecodeError(f"envelope version {version!r} is not a version number")
    if version > ENVELOPE_VERSION:
        raise DecodeError(
            f"envelope version {version!r} is newer than this pipebus reads ({ENVELOPE_VERSION})"
        )
    type_name = document["type"]
    message = build_value(registered_type(type_name, "message"), document["msg"], str(type_name))
    return Envelope(
        message,
        _header(document, "id", str),
        _header(document, "session", str),
        _header(document, "seq", int),
        _header(document, "time", int),
        _header(document, "runner", str),
        _hex_id(document, "trace"),
        _hex_id(document, "span"),
        _hex_id(document, "parent") if document.get("parent") is not None else 0,
        _header(document, "cause", str) if document.get("cause") is not None else None,
        False,
        job_id_of(message),
        _trace_state(document),
        fields_json,
        _sampled(document),
    )


def _split(data: bytes | str) -> tuple[dict[str, Any], str] | None:
    """The envelope's document and the exact text of its fields, or None.

    Only for an envelope laid out as pipebus writes them (the fields last); anything
    else is then parsed whole (and its errors explained) the usual way. Each part is
    parsed once, as parsing the whole would: the header up to ``,"msg":``, then the
    fields, which must end where the envelope does.

    Raises:
        DecodeError: If a tagged value inside the fields is bad.
    """
    try:
        text = data.decode() if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        return None
    at = text.find(_MSG)
    if at < 0 or not text.endswith("}"):
        return None
    start = at + len(_MSG)
    fields = scan_json(text, start)
    if fields is None or fields[1] != len(text) - 1 or not isinstance(fields[0], dict):
        return None
    header = scan_json(text[:at] + "}", 0)
    if header is None or not isinstance(header[0], dict) or "msg" in header[0]:
        return None
    document: dict[str, Any] = header[0]
    document["msg"] = fields[0]
    return document, text[start:-1]


def _header(document: dict[str, Any], key: str, kind: type[Any]) -> Any:
    """The header field ``key``, which must be a ``kind`` (an int is never a bool here)."""
    value = document[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        what = "a string" if kind is str else "an integer"
        raise DecodeError(f"envelope header {key} must be {what}, got {type(value).__name__}")
    return value


def _trace_state(document: dict[str, Any]) -> str | None:
    """The W3C ``tracestate`` header, if any (a string of at most 512 characters)."""
    value = document.get("tracestate")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 512:
        raise DecodeError("envelope header tracestate must be a string of at most 512 characters")
    return value or None


def _sampled(document: dict[str, Any]) -> bool | None:
    """The sender's sampled flag (version 3), or None when it decided nothing."""
    value = document.get("sampled")
    if value is not None and not isinstance(value, bool):
        raise DecodeError(f"envelope header sampled must be true or false, got {value!r:.40}")
    return value


def _hex_id(document: dict[str, Any], key: str) -> int:
    """A trace or span id: a string of at most 32 hex digits."""
    value = _header(document, key, str)
    if _HEX_ID.fullmatch(value) is None:
        raise DecodeError(f"envelope header {key} is not a hex id: {value[:40]!r}")
    return int(value, 16)
