"""The codec: every message survives JSON and envelopes; anything else is refused by name."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipebus
import pipebus.core.messages
from pipebus import (
    BaseWorker,
    BusAddWorkerMessage,
    BusDataMessage,
    BusFrameMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusMessage,
    BusSystemMessage,
    DecodeError,
    EncodeError,
    Frame,
    FrameDirection,
    JobStatus,
    WorkerRegistryEntry,
    register_type,
)
from pipebus.core.codec import WorkerRef, decode_message, encode_message, wire_name
from pipebus.core.envelope import ENVELOPE_VERSION
from pipebus.core.routing import job_id_of
from pipebus.core.wire import MAX_ENVELOPE_BYTES, decode_envelope, encode_envelope
from pipebus.observability import Envelope

# --- user types ------------------------------------------------------------------------


class Colour(Enum):
    RED = "red"
    GREEN = 2


register_type(Colour, wire_name="test.Colour")


class Mood(Enum):
    """Never registered: the codec must neither write nor read it."""

    HAPPY = 1


@dataclass
class Point:
    x: int
    y: int
    label: str | None = None
    status: JobStatus = JobStatus.COMPLETED


register_type(Point, wire_name="test.Point")


@dataclass
class Unregistered:
    value: int


@dataclass
class Caption(Frame, wire_name="test.Caption", aliases=("Caption",)):
    text: str
    language: str | None = None
    pts: int | None = field(default=None, init=False)


@dataclass
class AudioChunk(Frame, wire_name="test.AudioChunk"):
    audio: bytes
    sample_rate: int = 16000


@dataclass
class Greeting(BusDataMessage, wire_name="app.Greeting", aliases=("old.Greeting",)):
    text: str
    colour: Colour | None = None


@dataclass
class Countdown(BusDataMessage, wire_name="test.Countdown"):
    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("n must not be negative")


class Greeter(BaseWorker):
    pass


# --- strategies ------------------------------------------------------------------------

ABSTRACT = {BusMessage, BusDataMessage, BusSystemMessage}


def exported_message_types() -> list[type[BusMessage]]:
    found = []
    for name in pipebus.__all__:
        cls = getattr(pipebus, name)
        if (
            isinstance(cls, type)
            and issubclass(cls, BusMessage)
            and dataclasses.is_dataclass(cls)
            and cls not in ABSTRACT
        ):
            found.append(cls)
    return found


MESSAGE_TYPES = exported_message_types()

TEXT = st.text(max_size=20)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
KEYS = st.text(max_size=8).filter(lambda key: key != "$pb")
POINTS = st.builds(
    Point,
    x=st.integers(),
    y=st.integers(),
    label=st.none() | TEXT,
    status=st.sampled_from(JobStatus),
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | FLOATS
    | TEXT
    | st.binary(max_size=16)
    | st.sampled_from(FrameDirection)
    | st.sampled_from(Colour)
    | POINTS
)
JSON_LIKE = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)
PAYLOADS = st.dictionaries(KEYS, JSON_LIKE, max_size=5)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    frame: Frame = draw(
        st.builds(Caption, text=TEXT, language=st.none() | TEXT)
        | st.builds(AudioChunk, audio=st.binary(max_size=32), sample_rate=st.integers(1, 10**6))
        | st.builds(Frame)
    )
    frame.metadata = draw(PAYLOADS)
    if isinstance(frame, Caption):
        frame.pts = draw(st.none() | st.integers(min_value=0))
    return frame


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "str": TEXT,
    "str | None": st.none() | TEXT,
    "list[str]": st.lists(TEXT, max_size=4),
    "bool": st.booleans(),
    "bool | None": st.none() | st.booleans(),
    "int": st.integers(),
    "float": FLOATS,
    "float | None": st.none() | FLOATS,
    "dict[str, Any] | None": st.none() | PAYLOADS,
    "dict[str, Any]": PAYLOADS,
    "JobStatus": st.sampled_from(JobStatus),
    "Frame": frames(),
    "FrameDirection": st.sampled_from(FrameDirection),
    "list[WorkerRegistryEntry]": st.lists(
        st.builds(
            WorkerRegistryEntry,
            name=TEXT,
            parent=st.none() | TEXT,
            active=st.booleans(),
            bridged=st.booleans(),
            started_at=st.none() | FLOATS,
        ),
        max_size=4,
    ),
    "WorkerHandle": st.builds(BaseWorker, st.text(min_size=1, max_size=10))
    | st.builds(Greeter, st.text(min_size=1, max_size=10)),
}


def messages_of(message_type: type[BusMessage]) -> st.SearchStrategy[BusMessage]:
    values = {}
    for f in dataclasses.fields(message_type):
        if f.type not in FIELD_VALUES:
            pytest.fail(f"no strategy for {message_type.__name__}.{f.name}: {f.type}")
        values[f.name] = FIELD_VALUES[str(f.type)]
    return st.builds(message_type, **values)


@st.composite
def envelopes(draw: st.DrawFn, message_type: type[BusMessage]) -> Envelope:
    message = draw(messages_of(message_type))
    return Envelope(
        message,
        draw(TEXT),
        draw(TEXT),
        draw(st.integers(0, 2**63 - 1)),
        draw(st.integers(0, 2**64 - 1)),
        draw(TEXT),
        draw(st.integers(0, 2**128 - 1)),
        draw(st.integers(0, 2**64 - 1)),
        draw(st.integers(0, 2**64 - 1)),
        draw(st.none() | TEXT),
        job_id=job_id_of(message),
    )


# --- helpers ---------------------------------------------------------------------------

ENVELOPE_ATTRIBUTES = (
    "message_id",
    "session_id",
    "seq",
    "time_ns",
    "runner",
    "trace_id",
    "span_id",
    "parent_span_id",
    "causation_id",
    "job_id",
)
HEADER_KEYS = ("v", "type", "id", "session", "seq", "time", "runner", "trace", "span", "msg")


def expected(message: BusMessage) -> BusMessage:
    """What decoding gives back: an added worker comes back as a ``WorkerRef``."""
    if isinstance(message, BusAddWorkerMessage):
        ref = WorkerRef(name=message.worker.name, class_name=type(message.worker).__qualname__)
        return dataclasses.replace(message, worker=ref)  # type: ignore[arg-type]
    return message


def assert_identical(decoded: Any, original: Any, path: str = "value") -> None:
    """Equal, of the same types all the way down, init=False and compare=False fields too."""
    assert type(decoded) is type(original), f"{path}: {type(decoded)} != {type(original)}"
    if isinstance(original, dict):
        assert decoded.keys() == original.keys(), path
        for key in original:
            assert_identical(decoded[key], original[key], f"{path}[{key!r}]")
    elif isinstance(original, list):
        assert len(decoded) == len(original), path
        for index, (a, b) in enumerate(zip(decoded, original, strict=True)):
            assert_identical(a, b, f"{path}[{index}]")
    elif dataclasses.is_dataclass(original):
        for f in dataclasses.fields(original):
            name = f.name
            assert_identical(getattr(decoded, name), getattr(original, name), f"{path}.{name}")
    else:
        assert decoded == original, path


def assert_same_envelope(decoded: Envelope, original: Envelope) -> None:
    assert_identical(decoded.message, expected(original.message), "message")
    for name in ENVELOPE_ATTRIBUTES:
        assert getattr(decoded, name) == getattr(original, name), name


def response_envelope() -> Envelope:
    message = BusJobResponseMessage(
        source="w", target="boss", job_id="j-1", status=JobStatus.COMPLETED, response={"n": 1}
    )
    return Envelope(message, "m-1", "s-1", 7, 1_700_000_000, "r1", 3, 4, 5, "m-0", job_id="j-1")


def envelope_with(**changes: Any) -> bytes:
    """A valid envelope's JSON with some header keys replaced (or removed, for ``...``)."""
    document = json.loads(encode_envelope(response_envelope()))
    for key, value in changes.items():
        if value is ...:
            del document[key]
        else:
            document[key] = value
    return json.dumps(document).encode()


def decodes_or_refuses(data: bytes | str) -> None:
    """Decoding either gives a well-typed envelope or raises DecodeError, nothing else."""
    try:
        envelope = decode_envelope(data)
    except DecodeError:
        return
    assert isinstance(envelope.message, BusMessage)
    assert all(isinstance(v, str) for v in (envelope.message_id, envelope.session_id))
    assert isinstance(envelope.runner, str)
    assert all(isinstance(v, int) for v in (envelope.seq, envelope.time_ns, envelope.trace_id))
    assert isinstance(envelope.causation_id, str | None)


# --- round trips -----------------------------------------------------------------------


def test_every_pipebus_message_type_is_exported_and_covered() -> None:
    defined = {
        cls
        for cls in vars(pipebus.core.messages).values()
        if isinstance(cls, type)
        and issubclass(cls, BusMessage)
        and cls.__module__ in ("pipebus.core.messages", "pipebus.core.network_messages")
    } - ABSTRACT
    assert set(MESSAGE_TYPES) == defined
    assert len(MESSAGE_TYPES) >= 26


@pytest.mark.parametrize("message_type", MESSAGE_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_message_type_round_trips(
    message_type: type[BusMessage], data: st.DataObject
) -> None:
    message = data.draw(messages_of(message_type))
    name = wire_name(type(message))
    text = encode_message(message)

    decoded = decode_message(name, text)
    assert decoded == expected(message)
    assert_identical(decoded, expected(message))
    assert encode_message(decoded) == text
    assert_identical(decode_message(name, text.encode()), expected(message))
    assert_identical(decode_message(name, json.loads(text)), expected(message))


@pytest.mark.parametrize("message_type", MESSAGE_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_message_type_round_trips_in_an_envelope(
    message_type: type[BusMessage], data: st.DataObject
) -> None:
    envelope = data.draw(envelopes(message_type))
    encoded = encode_envelope(envelope)

    assert_same_envelope(decode_envelope(encoded), envelope)
    assert_same_envelope(decode_envelope(encoded.decode()), envelope)
    assert len(encoded) <= MAX_ENVELOPE_BYTES


def test_supported_values_keep_their_types() -> None:
    payload = {
        "bytes": b"\x00\xff raw \n",
        "no bytes": b"",
        "nested": {"list": [1, [2, {"deep": [None, True, False]}]], "": {}, "empty": []},
        "unicode": 'héllo wörld ✓ 日本語 🎉 \u0000 "quotes" \\ \u2028',
        "big": 2**200,
        "negative big": -(3**150),
        "floats": [0.1, -0.0, 1e308, 5e-324, -1.5, 2.0],
        "colour": Colour.RED,
        "colours": [Colour.GREEN, Colour.RED],
        "direction": FrameDirection.UPSTREAM,
        "point": Point(1, -2, label="p", status=JobStatus.FAILED),
        "points": {"origin": Point(0, 0)},
    }
    message = BusJobRequestMessage(source="a", target="b", job_id="j", payload=payload)
    envelope = Envelope(message, "m", "s", 1, 2, "r", 3, 4, job_id="j")

    for decoded in (
        decode_message("BusJobRequestMessage", encode_message(message)),
        decode_envelope(encode_envelope(envelope)).message,
    ):
        assert isinstance(decoded, BusJobRequestMessage)
        assert_identical(decoded, message)
        assert decoded.payload is not None
        assert decoded.payload["colour"] is Colour.RED
        assert decoded.payload["direction"] is FrameDirection.UPSTREAM
        assert decoded.payload["point"].status is JobStatus.FAILED


def test_a_user_frame_keeps_its_init_false_fields() -> None:
    frame = Caption("hi", language="fr")
    frame.metadata = {"speaker": "ann", "raw": b"\x01\x02", "at": Point(3, 4)}
    frame.pts = 1234
    Caption("later")  # takes the next frame id: decoding must not hand out a fresh one
    message = BusFrameMessage(
        source="a", target="b", frame=frame, direction=FrameDirection.UPSTREAM, bridge="main"
    )
    envelope = Envelope(message, "m", "s", 1, 2, "r", 3, 4)

    for decoded in (
        decode_message("BusFrameMessage", encode_message(message)),
        decode_envelope(encode_envelope(envelope)).message,
    ):
        assert isinstance(decoded, BusFrameMessage)
        assert type(decoded.frame) is Caption
        assert decoded.frame.id == frame.id
        assert decoded.frame.name == frame.name == f"Caption#{frame.id}"
        assert decoded.frame.metadata == frame.metadata
        assert decoded.frame.pts == 1234
        assert decoded.direction is FrameDirection.UPSTREAM
        assert_identical(decoded, message)


def test_a_declared_enum_field_is_written_plainly_and_read_back_as_the_enum() -> None:
    message = BusJobResponseMessage(source="w", job_id="j", status=JobStatus.FAILED)
    text = encode_message(message)

    assert json.loads(text)["status"] == "failed"
    decoded = decode_message("BusJobResponseMessage", text)
    assert isinstance(decoded, BusJobResponseMessage)
    assert decoded.status is JobStatus.FAILED


def test_an_added_worker_comes_back_as_a_worker_ref_that_encodes_again() -> None:
    message = BusAddWorkerMessage(source="runner", worker=Greeter("ann"))
    text = encode_message(message)

    decoded = decode_message("BusAddWorkerMessage", text)
    assert isinstance(decoded, BusAddWorkerMessage)
    assert decoded.worker == WorkerRef(name="ann", class_name="Greeter")  # type: ignore[comparison-overlap]
    assert encode_message(decoded) == text


# --- stable wire names -----------------------------------------------------------------


def test_pipebus_messages_are_written_under_their_class_names() -> None:
    assert {wire_name(cls) for cls in MESSAGE_TYPES} == {cls.__name__ for cls in MESSAGE_TYPES}


def test_a_message_reads_under_its_wire_name_and_its_aliases() -> None:
    stored = '{"source":"greeter","target":null,"text":"hello","colour":null}'

    assert wire_name(Greeting) == "app.Greeting"
    assert decode_message("app.Greeting", stored) == Greeting(source="greeter", text="hello")
    assert decode_message("old.Greeting", stored) == Greeting(source="greeter", text="hello")
    with pytest.raises(DecodeError, match="unknown message type 'Greeting'"):
        decode_message("Greeting", stored)


def test_an_envelope_written_under_old_names_decodes_into_the_classes() -> None:
    old = envelope_with(
        type="old.Greeting",
        msg={
            "source": "greeter",
            "target": None,
            "text": "hi",
            "colour": {"$pb": "enum", "t": "test.Colour", "v": "red"},
        },
    )
    decoded = decode_envelope(old).message
    assert decoded == Greeting(source="greeter", text="hi", colour=Colour.RED)

    frame_message = {
        "source": "a",
        "frame": {"$pb": "dc", "t": "Caption", "f": {"text": "hi", "id": 9, "name": "Caption#9"}},
        "direction": {"$pb": "enum", "t": "FrameDirection", "v": 2},
    }
    decoded = decode_envelope(envelope_with(type="BusFrameMessage", msg=frame_message)).message
    assert isinstance(decoded, BusFrameMessage)
    assert type(decoded.frame) is Caption
    assert (decoded.frame.text, decoded.frame.id, decoded.frame.name) == ("hi", 9, "Caption#9")
    assert '"t":"test.Caption"' in encode_message(decoded)


def test_the_version_1_envelope_format_still_decodes() -> None:
    written = (
        b'{"v":1,"type":"BusJobResponseMessage","id":"m-1","session":"s-1","seq":7,'
        b'"time":1700000000,"runner":"r1","trace":"00000000000000000000000000000003",'
        b'"span":"0000000000000004","parent":"0000000000000005","cause":"m-0",'
        b'"msg":{"source":"w","target":"boss","job_id":"j-1","status":"completed",'
        b'"response":{"n":1}}}'
    )
    assert_same_envelope(decode_envelope(written), response_envelope())


def test_an_envelope_without_a_sampled_flag_is_still_written_as_version_2() -> None:
    written = (
        b'{"v":2,"type":"BusJobResponseMessage","id":"m-1","session":"s-1","seq":7,'
        b'"time":1700000000,"runner":"r1","trace":"00000000000000000000000000000003",'
        b'"span":"0000000000000004","parent":"0000000000000005","cause":"m-0",'
        b'"msg":{"source":"w","target":"boss","job_id":"j-1","status":"completed",'
        b'"response":{"n":1}}}'
    )
    assert encode_envelope(response_envelope()) == written
    assert_same_envelope(decode_envelope(written), response_envelope())
    assert decode_envelope(written).sampled is None


@pytest.mark.parametrize("sampled", [True, False])
def test_the_version_3_envelope_format_carries_the_sampled_flag(sampled: bool) -> None:
    flag = b"true" if sampled else b"false"
    written = (
        b'{"v":3,"type":"BusJobResponseMessage","id":"m-1","session":"s-1","seq":7,'
        b'"time":1700000000,"runner":"r1","trace":"00000000000000000000000000000003",'
        b'"span":"0000000000000004","parent":"0000000000000005","cause":"m-0",'
        b'"sampled":' + flag + b',"msg":{"source":"w","target":"boss","job_id":"j-1",'
        b'"status":"completed","response":{"n":1}}}'
    )
    assert ENVELOPE_VERSION == 3
    envelope = response_envelope()
    envelope.sampled = sampled
    assert encode_envelope(envelope) == written
    decoded = decode_envelope(written)
    assert_same_envelope(decoded, response_envelope())
    assert decoded.sampled is sampled


def test_a_sampled_flag_that_is_not_a_boolean_is_refused() -> None:
    written = envelope_with(sampled=1)
    with pytest.raises(DecodeError, match="envelope header sampled must be true or false, got 1"):
        decode_envelope(written)


def test_a_wire_name_cannot_be_taken_by_another_class() -> None:
    with pytest.raises(ValueError, match=r"'app\.Greeting' is already registered"):

        @dataclass
        class Impostor(BusDataMessage, wire_name="app.Greeting"):
            pass

    assert decode_message("app.Greeting", '{"source":"a","text":"t"}') == Greeting(
        source="a", text="t"
    )


# --- the allow-list --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "os.system",
        "subprocess.Popen",
        "tabnanny.check",
        "builtins.eval",
        "pipebus.core.messages.BusEndMessage",
        "tests.core.test_codec.Greeting",
        "",
    ],
)
def test_an_unknown_message_type_is_refused_and_nothing_is_imported(name: str) -> None:
    assert "tabnanny" not in sys.modules
    before = set(sys.modules)

    with pytest.raises(DecodeError, match=f"unknown message type {re.escape(repr(name))}"):
        decode_message(name, '{"source":"x"}')
    with pytest.raises(DecodeError, match=f"unknown message type {re.escape(repr(name))}"):
        decode_envelope(envelope_with(type=name, msg={"source": "x"}))

    assert set(sys.modules) - before == set()


@pytest.mark.parametrize(
    ("tagged", "problem"),
    [
        (
            {"$pb": "dc", "t": "Unregistered", "f": {"value": 1}},
            "unknown value type 'Unregistered'",
        ),
        ({"$pb": "dc", "t": "JobParams", "f": {}}, "unknown value type 'JobParams'"),
        ({"$pb": "dc", "t": "tests.core.test_codec.Point", "f": {"x": 1, "y": 2}}, "value type"),
        ({"$pb": "dc", "t": "tabnanny.NannyNag", "f": {}}, "unknown value type"),
        ({"$pb": "dc", "t": "BusEndMessage", "f": {"source": "x"}}, "unknown value type"),
        ({"$pb": "dc", "t": "FrameDirection", "f": {}}, "unknown value type 'FrameDirection'"),
        ({"$pb": "dc", "f": {}}, "unknown value type None"),
        ({"$pb": "enum", "t": "Mood", "v": 1}, "unknown enum type 'Mood'"),
        ({"$pb": "enum", "t": "Lane", "v": "data"}, "unknown enum type 'Lane'"),
        ({"$pb": "enum", "t": "tabnanny.NannyNag", "v": 1}, "unknown enum type"),
        ({"$pb": "enum", "t": "test.Point", "v": 1}, "unknown enum type 'test.Point'"),
        ({"$pb": "import", "t": "os.system"}, "unknown tagged value 'import'"),
    ],
)
def test_a_tagged_value_of_an_unregistered_type_is_refused(
    tagged: dict[str, Any], problem: str
) -> None:
    before = set(sys.modules)
    fields = {"source": "a", "job_id": "j", "payload": {"x": tagged}}

    with pytest.raises(DecodeError, match=re.escape(problem)):
        decode_message("BusJobRequestMessage", json.dumps(fields))
    with pytest.raises(DecodeError, match=re.escape(problem)):
        decode_message("BusJobRequestMessage", fields)
    with pytest.raises(DecodeError, match=re.escape(problem)):
        decode_envelope(envelope_with(type="BusJobRequestMessage", msg=fields))

    assert set(sys.modules) - before == set()


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "fields", "problem"),
    [
        ("BusEndMessage", '{"source": "a",', "BusEndMessage fields are not valid JSON"),
        ("BusEndMessage", b"\xff\xfe\xfd", "BusEndMessage fields are not valid JSON"),
        ("BusEndMessage", "[1, 2]", "BusEndMessage: fields must be a JSON object, got list"),
        ("BusEndMessage", '"text"', "fields must be a JSON object, got str"),
        ("BusEndMessage", "{}", "BusEndMessage: missing field(s) source"),
        ("BusEndMessage", '{"source":"a","colour":"red"}', "unexpected field(s) colour"),
        ("BusEndMessage", {"source": "a", 1: "x"}, "unexpected field(s) 1"),
        (
            "BusJobResponseMessage",
            '{"source":"a","job_id":"j","status":"done"}',
            "field status = 'done' is not a JobStatus",
        ),
        (
            "BusFrameMessage",
            '{"source":"a","frame":{"$pb":"dc","t":"Frame","f":{}},'
            '"direction":{"$pb":"enum","t":"FrameDirection","v":9}}',
            "9 is not a value of enum FrameDirection",
        ),
        (
            "BusJobRequestMessage",
            '{"source":"a","job_id":"j","payload":{"b":{"$pb":"b","v":"not base64!"}}}',
            "bad bytes value",
        ),
        ("BusJobRequestMessage", '{"source":"a","job_id":"j","payload":{"b":{"$pb":"b"}}}', "bad"),
        (
            "BusFrameMessage",
            '{"source":"a","frame":{"$pb":"dc","t":"test.Caption","f":{}}}',
            "text",
        ),
        ("test.Countdown", '{"source":"a","n":-1}', "ValueError: n must not be negative"),
        (
            "test.Countdown",
            '{"source":"a","target":null,"n":-1}',
            "ValueError: n must not be negative",
        ),
        ("BusEndMessage", "[" * 100_000, "not valid JSON"),
    ],
)
def test_bad_message_fields_raise_decode_error_naming_the_problem(
    type_name: str, fields: str | bytes | dict[Any, Any], problem: str
) -> None:
    with pytest.raises(DecodeError, match=re.escape(problem)):
        decode_message(type_name, fields)


@dataclass
class Tally(BusDataMessage, wire_name="test.Tally"):
    """A message whose __post_init__ makes state that is not a field."""

    counts: list[int]

    def __post_init__(self) -> None:
        self.total = sum(self.counts)


class Moody(BusDataMessage, wire_name="test.Moody"):
    """A message with an __init__ of its own, which the decoder must call."""

    def __init__(self, source: str, target: str | None = None) -> None:
        super().__init__(source=source.upper(), target=target)


dataclass(Moody, init=False)


def test_a_class_that_makes_state_in_its_own_code_is_built_by_calling_it() -> None:
    tally = decode_message("test.Tally", encode_message(Tally(source="a", counts=[1, 2])))
    assert isinstance(tally, Tally) and tally.total == 3
    assert decode_message("test.Moody", '{"source":"a","target":null}').source == "A"


def test_a_message_restored_from_its_fields_equals_what_was_sent_enums_and_frames_too() -> None:
    frame = Caption("hi", language="fr")
    sent = [
        BusFrameMessage(source="v", frame=frame, direction=FrameDirection.UPSTREAM),
        Greeting(source="g", text="hey", colour=Colour.RED),
    ]
    for message in sent:
        back = decode_message(wire_name(type(message)), encode_message(message))
        assert back == message and type(back) is type(message)
        assert vars(back) == vars(message)
    back_frame = decode_message("BusFrameMessage", encode_message(sent[0]))
    assert isinstance(back_frame, BusFrameMessage)
    assert back_frame.direction is FrameDirection.UPSTREAM
    assert (back_frame.frame.id, back_frame.frame.name) == (frame.id, frame.name)
    restored = decode_message("app.Greeting", encode_message(sent[1]))
    assert isinstance(restored, Greeting) and restored.colour is Colour.RED


@pytest.mark.parametrize("key", HEADER_KEYS)
def test_an_envelope_missing_a_header_key_is_refused(key: str) -> None:
    with pytest.raises(DecodeError, match=f"envelope is missing {key}$"):
        decode_envelope(envelope_with(**{key: ...}))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"v": ENVELOPE_VERSION + 1}, f"version {ENVELOPE_VERSION + 1} is newer than"),
        ({"v": 99}, f"version 99 is newer than this pipebus reads ({ENVELOPE_VERSION})"),
        ({"v": "1"}, "envelope version '1' is not a version number"),
        ({"v": True}, "envelope version True is not a version number"),
        ({"v": 0}, "envelope version 0 is not a version number"),
        ({"type": "Nope"}, "unknown message type 'Nope'"),
        ({"type": ["BusEndMessage"]}, "unknown message type"),
        ({"msg": []}, "fields must be a JSON object, got list"),
        ({"msg": {"source": "w", "job_id": "j"}}, "missing field(s) status"),
        ({"msg": {"source": "w", "job_id": "j", "status": "completed", "x": 1}}, "field(s) x"),
        ({"trace": "not hex"}, "envelope header trace is not a hex id: 'not hex'"),
        ({"trace": "-1"}, "trace is not a hex id"),
        ({"trace": ""}, "trace is not a hex id"),
        ({"trace": "1" * 33}, "trace is not a hex id"),
        ({"trace": 17}, "envelope header trace must be a string, got int"),
        ({"span": "0x10"}, "envelope header span is not a hex id"),
        ({"span": None}, "envelope header span must be a string, got NoneType"),
        ({"parent": "zz"}, "envelope header parent is not a hex id"),
        ({"seq": float("inf")}, "envelope header seq must be an integer, got float"),
        ({"seq": 1.5}, "envelope header seq must be an integer, got float"),
        ({"seq": "7"}, "envelope header seq must be an integer, got str"),
        ({"time": float("nan")}, "envelope header time must be an integer, got float"),
        ({"time": True}, "envelope header time must be an integer, got bool"),
        ({"id": 5}, "envelope header id must be a string, got int"),
        ({"session": None}, "envelope header session must be a string"),
        ({"runner": ["r"]}, "envelope header runner must be a string, got list"),
        ({"cause": {"id": "m"}}, "envelope header cause must be a string, got dict"),
    ],
)
def test_a_malformed_envelope_raises_decode_error_naming_the_problem(
    changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(DecodeError, match=re.escape(problem)):
        decode_envelope(envelope_with(**changes))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "envelope are not valid JSON"),
        (b"{", "envelope are not valid JSON"),
        ("not json", "envelope are not valid JSON"),
        (b'{"v":1,"type":"\xff"}', "envelope are not valid JSON"),
        (b"[]", "an envelope must be a JSON object, got list"),
        (b"null", "an envelope must be a JSON object, got NoneType"),
        (b'{"$pb":"b","v":""}', "an envelope must be a JSON object, got bytes"),
        (b"{" * 100_000, "envelope are not valid JSON"),
        (b" " * (MAX_ENVELOPE_BYTES + 1), f"over the {MAX_ENVELOPE_BYTES}-byte limit"),
        ("é" * (MAX_ENVELOPE_BYTES // 2 + 1), f"envelope of {MAX_ENVELOPE_BYTES + 2} bytes"),
    ],
    ids=lambda value: repr(value)[:20],
)
def test_what_is_not_an_envelope_raises_decode_error(data: bytes | str, problem: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(problem)):
        decode_envelope(data)


def test_an_envelope_without_optional_parent_and_cause_decodes_as_a_root() -> None:
    decoded = decode_envelope(envelope_with(parent=..., cause=...))
    assert (decoded.parent_span_id, decoded.causation_id) == (0, None)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_input_decodes_or_raises_only_decode_error(data: bytes | str) -> None:
    decodes_or_refuses(data)


WIRE_NAMES = st.sampled_from(
    [
        *("FrameDirection", "JobStatus", "test.Colour", "test.Point", "test.Caption", "Frame"),
        *("WorkerRegistryEntry", "BusEndMessage", "Mood", "Nope"),
    ]
)
FIELD_NAMES = st.sampled_from(["x", "y", "label", "status", "text", "id", "name", "metadata"])


def junk_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    tagged = st.fixed_dictionaries(
        {"$pb": st.sampled_from(["b", "enum", "dc", "worker", "?"])},
        optional={
            "t": WIRE_NAMES | children,
            "v": children,
            "f": st.dictionaries(FIELD_NAMES | st.text(max_size=4), children, max_size=4),
            "name": children,
            "class": children,
        },
    )
    return (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=5), children, max_size=3)
        | tagged
    )


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    junk_containers,
    max_leaves=10,
)


EDGE_VALUES = st.sampled_from(
    [math.inf, -math.inf, math.nan, 1.5, True, 0, -1, 2**200, "", "zz", "-1", "0x1", None, [], {}]
)
HEADER_DAMAGE = st.dictionaries(
    st.sampled_from([*HEADER_KEYS, "parent", "cause"]),
    EDGE_VALUES | JUNK | st.just(...),
    min_size=1,
    max_size=2,
)


@settings(max_examples=400, deadline=None)
@given(damage=HEADER_DAMAGE)
def test_a_damaged_envelope_header_decodes_or_raises_only_decode_error(
    damage: dict[str, Any],
) -> None:
    text = envelope_with(**damage)

    decodes_or_refuses(text)
    decodes_or_refuses(text.decode())


DAMAGEABLE = (
    st.sampled_from(MESSAGE_TYPES).flatmap(messages_of)
    | st.builds(Greeting, source=TEXT, text=TEXT, colour=st.none() | st.sampled_from(Colour))
    | st.builds(Countdown, source=TEXT, n=st.integers(min_value=0))
)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_damaged_message_decodes_or_raises_only_decode_error(data: st.DataObject) -> None:
    message = data.draw(DAMAGEABLE)
    fields = json.loads(encode_message(message))
    damage = data.draw(
        st.dictionaries(
            st.sampled_from([*fields, "extra"]),
            EDGE_VALUES | JUNK | st.just(...),
            min_size=1,
            max_size=2,
        )
    )
    for key, value in damage.items():
        if value is ...:
            fields.pop(key, None)
        else:
            fields[key] = value
    text = envelope_with(type=wire_name(type(message)), msg=fields)

    decodes_or_refuses(text)
    decodes_or_refuses(text.decode())


# --- encoding errors -------------------------------------------------------------------


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (Unregistered(1), "dataclass Unregistered is not registered with the codec"),
        ({1, complex(1, 2)}, "cannot encode a value of type complex"),
        (object(), "cannot encode a value of type object"),
        (Mood.HAPPY, "enum Mood is not registered with the codec"),
        ({"$pb": "b", "v": ""}, "the dict key '$pb' is reserved by the codec"),
        ([Point(1, 2), {"$pb": 1}], "the dict key '$pb' is reserved"),
        (nested(100_000), "recursion"),
    ],
    ids=[
        "unregistered-dataclass",
        "complex-in-a-set",
        "object",
        "unregistered-enum",
        "tag-key",
        "tag-key-2",
        "deep",
    ],
)
def test_a_value_the_codec_cannot_write_raises_encode_error_naming_the_message(
    value: Any, problem: str
) -> None:
    message = BusJobRequestMessage(source="a", job_id="j", payload={"x": value})
    envelope = Envelope(message, "m", "s", 1, 2, "r", 3, 4, job_id="j")
    pattern = f"^BusJobRequestMessage: .*{re.escape(problem)}"

    with pytest.raises(EncodeError, match=pattern):
        encode_message(message)
    with pytest.raises(EncodeError, match=pattern):
        encode_envelope(envelope)


def test_a_frame_holding_an_unwritable_value_raises_encode_error() -> None:
    frame = Caption("hi")
    frame.metadata = {"tags": ["a", object()]}
    message = BusFrameMessage(source="a", frame=frame, direction=FrameDirection.DOWNSTREAM)

    with pytest.raises(
        EncodeError,
        match=r"^BusFrameMessage: frame\.metadata\['tags'\]\[1\]: "
        "cannot encode a value of type object",
    ):
        encode_message(message)


def test_a_lone_surrogate_cannot_go_into_an_envelope() -> None:
    envelope = Envelope(
        BusJobRequestMessage(source="\ud800", job_id="j"), "m", "s", 1, 2, "r", 3, 4
    )

    with pytest.raises(EncodeError, match=r"^BusJobRequestMessage: .*surrogates not allowed"):
        encode_envelope(envelope)


def test_the_abstract_message_base_is_not_a_wire_type() -> None:
    with pytest.raises(EncodeError, match="message type BusMessage is not registered"):
        encode_message(BusMessage(source="a"))
    with pytest.raises(EncodeError, match="message type BusMessage is not registered"):
        wire_name(BusMessage)
    with pytest.raises(DecodeError, match="unknown message type 'BusMessage'"):
        decode_message("BusMessage", '{"source":"a"}')
