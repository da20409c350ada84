"""A message is encoded once: the wire's text of its fields is what the event log stores."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipebus import BusMessage, Envelope
from pipebus.core.codec import encode_message
from pipebus.core.wire import decode_envelope, encode_envelope
from pipebus.eventlog.rows import recordable_row
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
