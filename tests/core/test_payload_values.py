"""Payload values come back as the types they were sent as; the others are refused by path.

Issue #13: datetimes (naive, fixed offset, ZoneInfo), dates, times, timedeltas,
Decimals, UUIDs, bytes, enums, tuples, sets and dicts keyed by other than strings
round-trip, nested anywhere, through the fields' text and the envelope. What cannot
round-trip raises EncodeError naming where it is and what it is. Texts written by
the version 1 codec (today's logs) read as they always did.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import re
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipebus import (
    BusAddWorkerMessage,
    BusDataMessage,
    BusFrameMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusMessage,
    DecodeError,
    EncodeError,
    FrameDirection,
    JobStatus,
    register_type,
)
from pipebus.core.codec import (
    WorkerRef,
    decode_message,
    decode_value,
    encode_message,
    encode_value,
    wire_name,
)
from pipebus.core.wire import decode_envelope, encode_envelope
from pipebus.observability import Envelope
from tests.core.test_codec import Caption, Colour, Greeter, Point, Unregistered

# --- user types ------------------------------------------------------------------------


@register_type
class Priority(IntEnum):
    LOW = 1
    HIGH = 2


class Loose(StrEnum):
    """A str enum never registered: it would come back a plain str, so it is refused."""

    A = "a"


@dataclass(frozen=True)
class Slot:
    """A frozen registered dataclass: hashable, so it may be a set item or a dict key."""

    day: date
    hour: int


register_type(Slot, wire_name="test.Slot")


@dataclass
class Booking(BusDataMessage, wire_name="test.Booking"):
    """A message whose fields are declared with the types the issue lists."""

    when: datetime
    amount: Decimal
    ref: uuid.UUID
    window: tuple[int, int]
    tags: set[str]
    seats: dict[int, str]
    lasts: timedelta | None = None


@dataclass
class Declared(BusDataMessage, wire_name="test.Declared"):
    """Enum fields declared in the union's other order, and a str given where one is due."""

    status: None | JobStatus = None  # noqa: RUF036 (the order a builder must not mind)
    priority: Priority | None = None
    colour: None | Colour = None  # noqa: RUF036


class Pair(NamedTuple):
    a: int
    b: int


class Foo:
    """An arbitrary object."""


class ForeignZone(tzinfo):
    """A tzinfo of a third-party kind (pytz, dateutil): its zone cannot be named."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=1)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "FZ"


# --- strategies ------------------------------------------------------------------------

OFFSETS = st.builds(
    timezone,
    st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23)),
)
ZONES = st.sampled_from(["Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC"]).map(
    zoneinfo.ZoneInfo
)
DATETIMES = st.datetimes(timezones=st.none() | st.just(UTC) | OFFSETS | ZONES) | st.datetimes(
    timezones=ZONES
).map(lambda value: value.replace(fold=1))
TIMES = st.times(timezones=st.none() | OFFSETS | ZONES) | st.times().map(
    lambda value: value.replace(fold=1)
)
TEXT = st.text(max_size=12)
KEYS = TEXT.filter(lambda key: key != "$pb")

HASHABLE_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | TEXT
    | st.binary(max_size=8)
    | DATETIMES
    | st.dates()
    | TIMES
    | st.timedeltas()
    | st.decimals(allow_nan=False)
    | st.uuids()
    | st.sampled_from(Colour)
    | st.sampled_from(JobStatus)
    | st.sampled_from(Priority)
    | st.sampled_from(FrameDirection)
    | st.builds(Slot, st.dates(), st.integers(0, 23))
)
HASHABLES = st.recursive(
    HASHABLE_LEAVES,
    lambda children: st.tuples(children, children) | st.frozensets(children, max_size=3),
    max_leaves=4,
)
LEAVES = (
    HASHABLE_LEAVES
    | st.floats()  # NaN and the infinities too
    | st.decimals()  # NaN, sNaN and the infinities too
    | st.binary(max_size=8).map(bytearray)
    | st.builds(Point, st.integers(), st.integers(), st.none() | TEXT)
)
VALUES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=3)
        | st.lists(children, max_size=3).map(tuple)
        | st.sets(HASHABLES, max_size=3)
        | st.frozensets(HASHABLES, max_size=3)
        | st.dictionaries(KEYS, children, max_size=3)
        | st.dictionaries(HASHABLES, children, max_size=3)
    ),
    max_leaves=10,
)
PAYLOADS = st.dictionaries(KEYS, VALUES, max_size=4)


# --- comparing -------------------------------------------------------------------------


def assert_same(decoded: Any, original: Any, path: str = "value") -> None:
    """Equal and of the same types all the way down: sets, keys, zones and folds too."""
    assert type(decoded) is type(original), f"{path}: {type(decoded)} != {type(original)}"
    if isinstance(original, dict):
        assert len(decoded) == len(original), path
        for (key, item), (back_key, back_item) in zip(
            original.items(), decoded.items(), strict=True
        ):
            assert_same(back_key, key, f"{path} key {key!r}")
            assert_same(back_item, item, f"{path}[{key!r}]")
    elif isinstance(original, list | tuple):
        assert len(decoded) == len(original), path
        for index, (a, b) in enumerate(zip(decoded, original, strict=True)):
            assert_same(a, b, f"{path}[{index}]")
    elif isinstance(original, set | frozenset):
        assert decoded == original, path
        back = {item: item for item in decoded}
        for item in original:
            assert_same(back[item], item, f"{path} item {item!r}")
    elif isinstance(original, float):
        assert repr(decoded) == repr(original), path  # NaN, -0.0 and the infinities too
    elif isinstance(original, Decimal):
        assert str(decoded) == str(original), path  # NaN compares unequal to itself
    elif isinstance(original, datetime | time):
        assert decoded == original and decoded.fold == original.fold, path
        assert type(decoded.tzinfo) is type(original.tzinfo), path
        assert str(decoded.tzinfo) == str(original.tzinfo), path  # the ZoneInfo key
        if isinstance(original, datetime):
            assert decoded.utcoffset() == original.utcoffset(), path
    elif isinstance(original, Enum):
        assert decoded is original, path
    elif dataclasses.is_dataclass(original):
        for f in dataclasses.fields(original):
            assert_same(getattr(decoded, f.name), getattr(original, f.name), f"{path}.{f.name}")
    else:
        assert decoded == original, path


def strict_json(text: str | bytes) -> Any:
    """Parse as JSON proper: NaN and Infinity are not JSON (issue #14)."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def round_trips(message: BusMessage) -> None:
    name = wire_name(type(message))
    text = encode_message(message)
    strict_json(text)
    for written in (text, text.encode(), json.loads(text)):
        assert_same(decode_message(name, written), message, "message")
    envelope = Envelope(message, "m", "s", 1, 2, "r", 3, 4)
    data = encode_envelope(envelope)
    strict_json(data)
    received = decode_envelope(data)
    assert_same(received.message, message, "message")
    assert received.fields_json == text


# --- round trips -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(payload=PAYLOADS)
def test_every_listed_type_round_trips_nested_in_a_payload(payload: dict[str, Any]) -> None:
    round_trips(BusJobRequestMessage(source="a", target="b", job_id="j", payload=payload))


@settings(max_examples=100, deadline=None)
@given(metadata=PAYLOADS, direction=st.sampled_from(FrameDirection))
def test_every_listed_type_round_trips_in_a_frames_metadata(
    metadata: dict[str, Any], direction: FrameDirection
) -> None:
    frame = Caption("hi")
    frame.metadata = metadata
    round_trips(BusFrameMessage(source="a", frame=frame, direction=direction))


@settings(max_examples=100, deadline=None)
@given(value=VALUES)
def test_free_values_round_trip(value: Any) -> None:
    text = encode_value(value)
    strict_json(text)
    assert_same(decode_value(text), value)


@settings(max_examples=100, deadline=None)
@given(
    when=DATETIMES,
    amount=st.decimals(),
    ref=st.uuids(),
    window=st.tuples(st.integers(), st.integers()),
    tags=st.sets(TEXT, max_size=3),
    seats=st.dictionaries(st.integers(), TEXT, max_size=3),
    lasts=st.none() | st.timedeltas(),
)
def test_fields_declared_with_those_types_round_trip(**fields: Any) -> None:
    round_trips(Booking(source="a", **fields))


def test_declared_enum_fields_are_written_plainly_and_read_back_as_the_enum() -> None:
    message = Declared(
        source="a", status=JobStatus.FAILED, priority=Priority.HIGH, colour=Colour.GREEN
    )
    round_trips(message)
    assert json.loads(encode_message(message))["status"] == "failed"
    assert json.loads(encode_message(message))["priority"] == 2
    given_a_str = decode_message("test.Declared", '{"source":"a","status":"failed"}')
    assert given_a_str == Declared(source="a", status=JobStatus.FAILED)
    assert given_a_str.status is JobStatus.FAILED  # type: ignore[attr-defined]


def test_the_issues_payload_round_trips_and_reads_well() -> None:
    payload = {
        "when": datetime(2024, 5, 17, 19, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Lisbon")),
        "day": date(2024, 5, 17),
        "at": time(19, 30, tzinfo=timezone(timedelta(hours=2))),
        "budget": Decimal("120.50"),
        "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "window": (18, 21),
        "tags": {"vip"},
        "by_hour": {18: "full", 19: "free"},
        "status": JobStatus.COMPLETED,
        "priority": Priority.HIGH,
        "ratio": math.nan,
    }
    message = BusJobRequestMessage(source="a", job_id="j", payload=payload)
    round_trips(message)
    written = json.loads(encode_message(message))["payload"]
    assert written["when"] == {"$pb": "dt", "v": "2024-05-17T19:30:00+01:00", "z": "Europe/Lisbon"}
    assert written["at"] == {"$pb": "time", "v": "19:30:00+02:00"}
    assert written["budget"] == {"$pb": "dec", "v": "120.50"}
    assert written["window"] == {"$pb": "tuple", "v": [18, 21]}
    assert written["by_hour"] == {"$pb": "map", "v": [[18, "full"], [19, "free"]]}
    assert written["status"] == {"$pb": "enum", "t": "JobStatus", "v": "completed"}
    assert written["ratio"] == {"$pb": "float", "v": "nan"}


def test_an_ambiguous_local_time_keeps_its_fold() -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    for fold in (0, 1):
        value = datetime(2024, 10, 27, 2, 30, tzinfo=paris, fold=fold)  # the hour comes twice
        back = decode_value(encode_value(value))
        assert (back.fold, back.utcoffset()) == (fold, value.utcoffset())


def test_a_dict_keyed_by_the_tag_among_other_keys_is_written_as_pairs() -> None:
    value = {"$pb": "b", 1: "one"}
    assert_same(decode_value(encode_value(value)), value)


def test_what_json_holds_is_written_as_version_1_wrote_it() -> None:
    """Nothing changes for messages today's codec wrote without loss (see the old texts)."""
    frame = Caption("hi", language="fr")
    frame.metadata = {"speaker": "ann", "raw": b"\x00\xff"}
    message = BusFrameMessage(source="vad", frame=frame, direction=FrameDirection.UPSTREAM)
    assert encode_message(message) == (
        '{"source":"vad","target":null,"frame":{"$pb":"dc","t":"test.Caption","f":{'
        f'"id":{frame.id},"name":"Caption#{frame.id}","metadata":{{"speaker":"ann","raw":'
        '{"$pb":"b","v":"AP8="}},"text":"hi","language":"fr","pts":null}},'
        '"direction":{"$pb":"enum","t":"FrameDirection","v":2},"bridge":null}'
    )
    point = BusJobResponseMessage(
        source="w", job_id="j", status=JobStatus.FAILED, response={"p": Point(1, 2)}
    )
    assert encode_message(point) == (
        '{"source":"w","target":null,"job_id":"j","status":"failed","response":{"p":'
        '{"$pb":"dc","t":"test.Point","f":{"x":1,"y":2,"label":null,"status":"completed"}}}}'
    )


# --- texts written by version 1 (today's logs and envelopes) ----------------------------

V1_REQUEST = (
    '{"source":"a","target":"b","job_id":"j","job_name":"n","payload":{"raw":{"$pb":"b",'
    '"v":"AP9oaQ=="},"colour":{"$pb":"enum","t":"test.Colour","v":"red"},"point":{"$pb":"dc",'
    '"t":"test.Point","f":{"x":1,"y":-2,"label":"p","status":"failed"}},"status":"completed",'
    '"by_id":{"1":"one","2":"two"},"pair":[1,2],"nan":NaN,"inf":-Infinity,"nested":[{"deep":'
    "[null,true,1180591620717411303424]}]}}"
)
"""What the version 1 codec wrote for a payload of everything it took: int keys became
strings, tuples lists, a str enum its value, NaN the non-JSON token."""

V1_FRAME = (
    '{"source":"vad","target":"stt","frame":{"$pb":"dc","t":"test.Caption","f":{"metadata":'
    '{"speaker":"ann"},"text":"hi","language":"fr","id":1,"name":"Caption#1","pts":5}},'
    '"direction":{"$pb":"enum","t":"FrameDirection","v":2},"bridge":null}'
)
V1_WORKER = (
    '{"source":"runner","target":null,"worker":{"$pb":"worker","name":"ann","class":"Greeter"}}'
)


def check_v1_request(message: BusMessage) -> None:
    assert isinstance(message, BusJobRequestMessage)
    payload = message.payload
    assert payload is not None
    nan, inf = payload.pop("nan"), payload.pop("inf")
    assert math.isnan(nan) and inf == -math.inf
    assert_same(
        payload,
        {
            "raw": b"\x00\xffhi",
            "colour": Colour.RED,
            "point": Point(1, -2, label="p", status=JobStatus.FAILED),
            "status": "completed",
            "by_id": {"1": "one", "2": "two"},
            "pair": [1, 2],
            "nested": [{"deep": [None, True, 2**70]}],
        },
    )


def check_v1_frame(message: BusMessage) -> None:
    assert isinstance(message, BusFrameMessage)
    frame = message.frame
    assert isinstance(frame, Caption)
    assert (frame.text, frame.language, frame.id, frame.name, frame.pts) == (
        "hi",
        "fr",
        1,
        "Caption#1",
        5,
    )
    assert frame.metadata == {"speaker": "ann"}
    assert message.direction is FrameDirection.UPSTREAM


def test_fields_written_by_version_1_read_as_they_always_did() -> None:
    check_v1_request(decode_message("BusJobRequestMessage", V1_REQUEST))
    check_v1_frame(decode_message("BusFrameMessage", V1_FRAME))
    worker = decode_message("BusAddWorkerMessage", V1_WORKER)
    assert isinstance(worker, BusAddWorkerMessage)
    assert worker.worker == WorkerRef(name="ann", class_name="Greeter")  # type: ignore[comparison-overlap]


def test_an_envelope_written_by_version_1_reads_as_it_always_did() -> None:
    header = (
        '{"v":1,"type":"BusFrameMessage","id":"m-1","session":"s-1","seq":7,'
        '"time":1700000000,"runner":"r1","trace":"00000000000000000000000000000003",'
        '"span":"0000000000000004","parent":"0000000000000005","cause":"m-0","msg":'
    )
    received = decode_envelope((header + V1_FRAME + "}").encode())
    check_v1_frame(received.message)
    assert received.fields_json == V1_FRAME  # kept as it came: the log stores it unchanged
    request = decode_envelope(
        (header.replace("BusFrameMessage", "BusJobRequestMessage") + V1_REQUEST + "}").encode()
    )
    check_v1_request(request.message)


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (
            {"when": [1, 2, Foo()]},
            "payload['when'][2]: cannot encode a value of type Foo: send JSON values",
        ),
        (
            {"a": {"b": (1, {"c": {Foo()}})}},
            "payload['a']['b'][1]['c'][0]: cannot encode a value of type Foo",
        ),
        ({"n": {1: Foo()}}, "payload['n'][1]: cannot encode a value of type Foo"),
        ({"n": {Pair(1, 2): 1}}, "payload['n'] (the key Pair(a=1, b=2)): cannot encode a value"),
        (
            {"p": Pair(1, 2)},
            "payload['p']: cannot encode a value of type Pair (a tuple subclass): it would "
            "come back as a plain tuple",
        ),
        (
            {"d": collections.OrderedDict(a=1)},
            "payload['d']: cannot encode a value of type OrderedDict (a dict subclass)",
        ),
        (
            {"u": [Unregistered(1)]},
            "payload['u'][0]: dataclass Unregistered is not registered with the codec: "
            "subclass Frame or call pipebus.register_type() on it",
        ),
        (
            {"e": Loose.A},
            "payload['e']: enum Loose is not registered with the codec: "
            "call pipebus.register_type() on it",
        ),
        (
            {"t": datetime(2024, 1, 1, tzinfo=ForeignZone())},
            "payload['t']: cannot encode a datetime whose tzinfo is a ForeignZone: "
            "use datetime.timezone or zoneinfo.ZoneInfo",
        ),
        (
            {"t": time(1, tzinfo=ForeignZone())},
            "payload['t']: cannot encode a time whose tzinfo is a ForeignZone",
        ),
        (
            {"m": BusJobRequestMessage(source="x", job_id="y")},
            "payload['m']: a BusJobRequestMessage message cannot be sent inside another message",
        ),
        (
            {"point": Point(Foo(), 2)},  # type: ignore[arg-type]
            "payload['point'].x: cannot encode a value of type Foo",
        ),
        ({"k": [{"$pb": "b", "v": ""}]}, "payload['k'][0]: the dict key '$pb' is reserved"),
        (
            {"said": ["ok", {"text": "half \ud800 pair"}]},
            "payload['said'][1]['text']: a string holds the lone surrogate '\\ud800', "
            "which UTF-8 cannot hold",
        ),
    ],
    ids=lambda value: str(value)[:30],
)
def test_what_cannot_round_trip_is_refused_naming_where_and_what(
    payload: dict[str, Any], problem: str
) -> None:
    message = BusJobRequestMessage(source="a", job_id="j", payload=payload)
    pattern = "^BusJobRequestMessage: " + re.escape(problem)
    with pytest.raises(EncodeError, match=pattern):
        encode_message(message)
    with pytest.raises(EncodeError, match=pattern):
        encode_envelope(Envelope(message, "m", "s", 1, 2, "r", 3, 4))


def test_a_zoneinfo_made_without_a_key_is_refused(tmp_path: Any) -> None:
    with open(zoneinfo.TZPATH[0] + "/Europe/Paris", "rb") as source:
        zone = zoneinfo.ZoneInfo.from_file(source)
    message = BusJobRequestMessage(
        source="a", job_id="j", payload={"t": datetime(2024, 1, 1, tzinfo=zone)}
    )
    with pytest.raises(EncodeError, match="a datetime in a ZoneInfo made without a key"):
        encode_message(message)


def test_a_field_declared_with_a_listed_type_refuses_what_is_not_one() -> None:
    booking = Booking(
        source="a",
        when=datetime(2024, 1, 1),
        amount=Decimal(1),
        ref=uuid.uuid4(),
        window=(1, 2),
        tags={"x"},
        seats={1: "a"},
        lasts=Foo(),  # type: ignore[arg-type]
    )
    with pytest.raises(EncodeError, match=r"^Booking: lasts: cannot encode a value of type Foo"):
        encode_message(booking)


def test_a_worker_comes_back_as_its_reference() -> None:
    """The one value that does not come back as itself, by design: the worker object."""
    message = BusAddWorkerMessage(source="runner", worker=Greeter("ann"))
    back = decode_message("BusAddWorkerMessage", encode_message(message))
    assert back.worker == WorkerRef(name="ann", class_name="Greeter")  # type: ignore[attr-defined]


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tagged", "problem"),
    [
        ({"$pb": "dt", "v": "yesterday"}, "bad datetime value: Invalid isoformat string"),
        ({"$pb": "dt", "v": 5}, "bad datetime value"),
        ({"$pb": "dt", "v": "2024-01-01T00:00:00", "z": "Nowhere/Atlantis"}, "bad datetime"),
        ({"$pb": "dt", "v": "2024-01-01T00:00:00", "z": "../../etc/passwd"}, "bad datetime"),
        ({"$pb": "dt", "v": "2024-01-01T00:00:00", "z": "America"}, "bad datetime"),
        ({"$pb": "dt", "v": "2024-01-01T00:00:00", "fold": 2}, "fold must be 0 or 1"),
        ({"$pb": "date", "v": "2024-13-01"}, "bad date value"),
        ({"$pb": "time", "v": "25:00"}, "bad time value"),
        ({"$pb": "td", "v": [1, 2]}, "bad timedelta value: expected [days, seconds"),
        ({"$pb": "td", "v": [10**10, 0, 0]}, "bad timedelta value"),
        ({"$pb": "td", "v": [1.5, 0, 0]}, "bad timedelta value: expected an integer"),
        ({"$pb": "dec", "v": "twelve"}, "bad Decimal value"),
        ({"$pb": "dec", "v": 1.5}, "bad Decimal value: expected a string, got float"),
        ({"$pb": "uuid", "v": "nope"}, "bad UUID value"),
        ({"$pb": "uuid", "v": 7}, "bad UUID value: expected a string, got int"),
        ({"$pb": "tuple", "v": "abc"}, "bad tuple value: expected a list, got str"),
        ({"$pb": "tuple"}, "bad tuple value"),
        ({"$pb": "set", "v": [[1]]}, "bad set value: unhashable type"),
        ({"$pb": "fset", "v": {"a": 1}}, "bad frozenset value: expected a list, got dict"),
        ({"$pb": "map", "v": [[1, 2, 3]]}, "bad map value: each item must be a [key, value]"),
        ({"$pb": "map", "v": [[[1], 2]]}, "bad map value: unhashable type"),
        ({"$pb": "float", "v": "1.5"}, "bad float value: '1.5' is not nan, inf or -inf"),
        ({"$pb": "ba", "v": "***"}, "bad bytearray value"),
        ({"$pb": ["dt"], "v": 1}, "unknown tagged value ['dt']"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_a_bad_tagged_value_raises_decode_error_naming_it(
    tagged: dict[str, Any], problem: str
) -> None:
    fields = {"source": "a", "job_id": "j", "payload": {"x": [tagged]}}
    with pytest.raises(DecodeError, match=re.escape(problem)):
        decode_message("BusJobRequestMessage", json.dumps(fields))
    with pytest.raises(DecodeError, match=re.escape(problem)):
        decode_message("BusJobRequestMessage", fields)


TAGS = ["b", "ba", "dt", "date", "time", "td", "dec", "uuid", "tuple", "set", "fset", "map"]
TAGS += ["float", "enum", "dc", "worker", "?"]
JUNK_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["2024-05-17T19:30:00+01:00", "19:30", "2024-05-17", "Europe/Paris"])
    | st.sampled_from(["nan", "inf", "1e999", "12345678-1234-5678-1234-567812345678", "AP8="])
)
JUNK = st.recursive(
    JUNK_LEAVES,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=4), children, max_size=3)
        | st.fixed_dictionaries(
            {"$pb": st.sampled_from(TAGS)},
            optional={
                "v": children,
                "z": children,
                "us": children,
                "fold": children,
                "t": st.sampled_from(["test.Colour", "test.Slot", "JobStatus", "Nope"]) | children,
                "f": children,
            },
        )
    ),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None)
@given(junk=JUNK)
def test_junk_in_any_tag_decodes_or_raises_only_decode_error(junk: Any) -> None:
    fields = {"source": "a", "job_id": "j", "payload": {"x": junk}}
    for written in (json.dumps(fields), fields):
        try:
            decode_message("BusJobRequestMessage", written)
        except DecodeError:
            pass


@dataclass
class Reading(BusDataMessage, wire_name="test.Reading"):
    """A message with a field declared ``float``, which the engine would write NaN into as null."""

    score: float
    best: float | None = None


class Float64(float):
    """A float subclass, as numpy's float64 is."""


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.5])
def test_a_float_field_keeps_nan_and_the_infinities(value: float) -> None:
    back = decode_message(
        "test.Reading", encode_message(Reading(source="s", score=value, best=value))
    )
    assert isinstance(back, Reading)
    for got in (back.score, back.best):
        assert type(got) is float
        assert (math.isnan(got) and math.isnan(value)) or got == value
    json.loads(encode_message(Reading(source="s", score=value)))  # still valid JSON


def test_a_float_subclass_comes_back_a_float_nan_included() -> None:
    payload = {"x": Float64(1.5), "y": [Float64("nan")]}
    back = decode_message(
        "BusJobRequestMessage",
        encode_message(BusJobRequestMessage(source="a", job_id="j", payload=payload)),
    )
    assert isinstance(back, BusJobRequestMessage)
    assert type(back.payload["x"]) is float and back.payload["x"] == 1.5
    assert type(back.payload["y"][0]) is float and math.isnan(back.payload["y"][0])
