"""The wire format: a whole envelope as one versioned JSON object, what Redis carries.

Every field of the envelope travels, the message as its wire type name plus its
fields (written by :mod:`pipebus.core.codec`). The trace context is W3C's: ``trace``
and ``span`` are the ``traceparent`` of the send span (every message is recorded, so
there is no sampled flag to carry), and ``tracestate`` travels as it came.

What comes off the wire is checked strictly: anything that is not a valid envelope
of a registered type, or is too large, or from a newer envelope version, raises
:class:`~pipebus.errors.DecodeError` naming the problem, never another exception.
"""

from __future__ import annotations

import re
from typing import Any

from pipebus.core.codec import (
    build_value,
    dumps_tagged,
    field_values,
    loads_tagged,
    registered_type,
    wire_name,
)
from pipebus.core.envelope import ENVELOPE_VERSION, Envelope
from pipebus.core.routing import job_id_of
from pipebus.errors import DecodeError, EncodeError

MAX_ENVELOPE_BYTES = 4 * 1024 * 1024
"""Envelopes larger than this are refused by :func:`decode_envelope` (4 MiB)."""


def encode_envelope(envelope: Envelope) -> bytes:
    """The whole envelope as UTF-8 JSON, what travels between runners.

    Raises:
        EncodeError: If the message cannot be written.
    """
    message = envelope.message
    document = {
        "v": ENVELOPE_VERSION,
        "type": wire_name(type(message)),
        "id": envelope.message_id,
        "session": envelope.session_id,
        "seq": envelope.seq,
        "time": envelope.time_ns,
        "runner": envelope.runner,
        "trace": f"{envelope.trace_id:032x}",
        "span": f"{envelope.span_id:016x}",
        "parent": f"{envelope.parent_span_id:016x}",
        "cause": envelope.causation_id,
        "msg": field_values(message),
    }
    if envelope.trace_state:
        document["tracestate"] = envelope.trace_state
    text = dumps_tagged(document, type(message).__name__)
    try:
        return text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate in a string
        raise EncodeError(f"{type(message).__name__}: {exc}") from None


_ENVELOPE_KEYS = ("v", "type", "id", "session", "seq", "time", "runner", "trace", "span", "msg")
_HEX_ID = re.compile(r"[0-9a-fA-F]{1,32}")


def decode_envelope(data: bytes | str) -> Envelope:
    """Rebuild an envelope received from another runner.

    Raises:
        DecodeError: For input that is too large, not JSON, from a newer envelope
            version, of an unknown type, or with missing, unexpected or malformed fields.
    """
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if size > MAX_ENVELOPE_BYTES:
        raise DecodeError(f"envelope of {size} bytes is over the {MAX_ENVELOPE_BYTES}-byte limit")
    document = loads_tagged(data, "envelope")
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
    )


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


def _hex_id(document: dict[str, Any], key: str) -> int:
    """A trace or span id: a string of at most 32 hex digits."""
    value = _header(document, key, str)
    if _HEX_ID.fullmatch(value) is None:
        raise DecodeError(f"envelope header {key} is not a hex id: {value[:40]!r}")
    return int(value, 16)
