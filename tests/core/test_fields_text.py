"""A message is encoded once: the wire's text of its fields is what the event log stores."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipebus import BusMessage, EncodeError
from pipebus.core.codec import encode_message
from pipebus.core.envelope import ENVELOPE_VERSION
from pipebus.core.wire import decode_envelope, encode_envelope
from pipebus.eventlog.rows import recordable_row
from pipebus.observability import Envelope
from tests.core.test_codec import MESSAGE_TYPES, envelopes, response_envelope

PAYLOAD = 12  # the row's payload column (EVENT_COLUMNS)


@pytest.mark.parametrize("message_type", MESSAGE_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_a_received_envelope_keeps_the_codecs_exact_text_of_its_fields(
    message_type: type[BusMessage], data: st.DataObject
) -> None:
    envelope = data.draw(envelopes(message_type))
    received = decode_envelope(encode_envelope(envelope))
    assert received.fields_json == encode_message(envelope.message)
    assert recordable_row(received, "s", 1)[PAYLOAD] == received.fields_json


def test_the_fields_encoded_for_the_wire_are_the_ones_recorded() -> None:
    envelope = response_envelope()
    encode_envelope(envelope)
    sent = envelope.fields_json
    envelope.message.response = {"changed": "after it was sent"}  # type: ignore[attr-defined]
    assert sent is not None
    assert recordable_row(envelope, "s", 1)[PAYLOAD] == sent  # what other runners saw


def test_an_envelope_keeps_the_text_once_the_log_encoded_it_first() -> None:
    envelope = response_envelope()
    row = recordable_row(envelope, "s", 1)
    assert envelope.fields_json == row[PAYLOAD]
    assert encode_envelope(envelope).endswith(b',"msg":' + row[PAYLOAD].encode() + b"}")


def reordered(document: dict[str, object], first: str) -> bytes:
    """Compact JSON with ``first`` as its first key."""
    return json.dumps({first: document[first], **document}, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "layout",
    [
        "msg first, its fields holding a msg key of their own",
        "spaces between the keys",
        "a trailing newline",
    ],
)
def test_other_layouts_decode_the_same_without_keeping_a_text(layout: str) -> None:
    original = response_envelope()
    original.message.response = {"a": 1, "msg": {"msg": 1}, "x": ',"msg":'}  # type: ignore[attr-defined]
    document = json.loads(encode_envelope(original))
    if layout.startswith("msg first"):
        data = reordered(document, "msg")
        assert b',"msg":{"msg":1}' in data  # what a careless split would take for the fields
    elif layout.startswith("spaces"):
        data = json.dumps(document, separators=(", ", ": ")).encode()
    else:
        data = json.dumps(document, separators=(",", ":")).encode() + b"\n"
    received = decode_envelope(data)
    assert received.message == original.message
    assert received == original
    assert received.fields_json is None
    assert json.loads(recordable_row(received, "s", 1)[PAYLOAD]) == document["msg"]


def test_fields_text_is_never_compared() -> None:
    one, other = response_envelope(), response_envelope()
    one.fields_json = "{}"
    assert one == other
    assert isinstance(one, Envelope)


header_text = st.text(max_size=40)  # quotes, backslashes, control and non-ASCII characters


@settings(max_examples=200, deadline=None)
@given(
    message_id=header_text,
    session=header_text,
    runner=header_text,
    cause=st.none() | header_text,
    trace_state=st.none() | header_text,
    seq=st.integers(min_value=0, max_value=2**63),
    trace=st.integers(min_value=1, max_value=2**128 - 1),
    sampled=st.none() | st.booleans(),
)
def test_the_hand_written_header_is_the_json_the_codec_would_write(
    message_id: str,
    session: str,
    runner: str,
    cause: str | None,
    trace_state: str | None,
    seq: int,
    trace: int,
    sampled: bool | None,
) -> None:
    envelope = response_envelope()
    envelope.message_id, envelope.session_id, envelope.runner = message_id, session, runner
    envelope.causation_id, envelope.trace_state = cause, trace_state
    envelope.seq, envelope.trace_id, envelope.sampled = seq, trace, sampled
    try:
        written = encode_envelope(envelope)
    except EncodeError:  # a lone surrogate cannot be UTF-8: refused either way
        with pytest.raises(UnicodeEncodeError):
            json.dumps(
                [message_id, session, runner, cause, trace_state], ensure_ascii=False
            ).encode()
        return
    header = {
        "v": ENVELOPE_VERSION if sampled is not None else 2,
        "type": "BusJobResponseMessage",
        "id": message_id,
        "session": session,
        "seq": seq,
        "time": envelope.time_ns,
        "runner": runner,
        "trace": f"{trace:032x}",
        "span": f"{envelope.span_id:016x}",
        "parent": f"{envelope.parent_span_id:016x}",
        "cause": cause,
        **({"tracestate": trace_state} if trace_state else {}),
        **({"sampled": sampled} if sampled is not None else {}),
        "msg": json.loads(encode_message(envelope.message)),
    }
    assert written == json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    envelope.trace_state = trace_state or None  # an empty one is not written
    assert decode_envelope(written) == envelope
    assert decode_envelope(written).sampled is sampled
