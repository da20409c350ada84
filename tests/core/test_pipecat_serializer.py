"""The Pipecat-compatible serializer: Pipecat's wire shape both ways, and no import by name."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import pydantic
import pytest

import pipebus.core.messages
from pipebus import (
    BusActivateWorkerMessage,
    BusAddWorkerMessage,
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusDataMessage,
    BusDeactivateWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusFrameMessage,
    BusJobCancelMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobResponseUrgentMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobStreamStartMessage,
    BusJobUpdateMessage,
    BusJobUpdateRequestMessage,
    BusJobUpdateUrgentMessage,
    BusMessage,
    BusSystemMessage,
    BusTTSSpeakMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerReadyMessage,
    BusWorkerRegistryMessage,
    EncodeError,
    Frame,
    FrameDirection,
    JobStatus,
    WorkerRegistryEntry,
    register_type,
)
from pipebus.core.messages import (
    BusDecodeErrorMessage,
    BusHandlerErrorMessage,
    BusJobGroupFinishedMessage,
    BusLoopBlockedMessage,
    BusRunnerHeartbeatMessage,
    BusRunnerLeftMessage,
    BusSpansLostMessage,
    BusTracingStartedMessage,
    BusTransportGapMessage,
    BusWorkerStoppedMessage,
)
from pipebus.core.serializers import JSONMessageSerializer, MessageSerializer, TypeAdapter

PIPECAT_PYTHON = Path(__file__).resolve().parents[2] / ".venv-pipecat" / "bin" / "python"
LOGGER = "pipebus.core.serializers"

# --- user types -------------------------------------------------------------------------


class Address(pydantic.BaseModel):
    city: str
    zip_code: str


class UserInfo(pydantic.BaseModel):
    name: str
    age: int
    address: Address | None = None


class Shade(Enum):
    LIGHT = "light"
    DARK = 2


register_type(Shade, wire_name="sertest.Shade")


@dataclass
class InteropFrame(Frame):
    text: str


@dataclass
class SerGreeting(BusDataMessage):
    """A user message with a frame, an enum, nested data and a field set after __init__."""

    text: str
    shade: Shade | None = None
    frame: InteropFrame | None = None
    extra: dict[str, Any] | None = None
    tag: str = field(init=False, default="default")


@dataclass
class SerChecked(BusDataMessage):
    count: int = 0

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("count must not be negative")


def greeting() -> SerGreeting:
    message = SerGreeting(
        source="greeter",
        target="listener",
        text="hello",
        shade=Shade.DARK,
        frame=InteropFrame(text="framed"),
        extra={"nested": [{"deep": [1, 2.5, None, True]}], "raw": b"\x00\xff"},
    )
    message.tag = "custom"
    return message


def response(user: Any) -> BusJobResponseMessage:
    return BusJobResponseMessage(
        source="worker",
        target="parent",
        job_id="job-1",
        status=JobStatus.COMPLETED,
        response={"user": user, "items": [1, "two", {"three": 3.0}], "blob": b"\x01\x02"},
    )


REGISTRY = BusWorkerRegistryMessage(
    source="runner",
    runner="runner",
    workers=[WorkerRegistryEntry(name="w", parent="p", active=True, started_at=1.5)],
)
ACTIVATE = BusActivateWorkerMessage(source="p", target="c", args={"messages": [{"role": "user"}]})
REQUEST = BusJobRequestMessage(source="p", target="w", job_id="j", job_name="n", payload={"k": [1]})
FRAMED = BusFrameMessage(
    source="a", frame=InteropFrame(text="hi"), direction=FrameDirection.UPSTREAM
)

SAMPLES: list[BusMessage] = [
    BusMessage(source="a"),
    BusDataMessage(source="a"),
    BusSystemMessage(source="a", target="b"),
    FRAMED,
    BusFrameMessage(
        source="a", frame=InteropFrame(text="x"), direction=FrameDirection.DOWNSTREAM, bridge="b"
    ),
    greeting(),
    BusTTSSpeakMessage(source="a", text="say this", append_to_context=True),
    ACTIVATE,
    BusDeactivateWorkerMessage(source="p", target="c"),
    BusEndMessage(source="a", reason="done"),
    BusEndWorkerMessage(source="a", target="w", reason="bye"),
    BusCancelMessage(source="a", reason="abort"),
    BusCancelWorkerMessage(source="a", target="w"),
    REGISTRY,
    BusWorkerReadyMessage(source="w", runner="r", parent="p", active=True, started_at=2.0),
    BusWorkerErrorMessage(source="w", error="boom"),
    BusWorkerLocalErrorMessage(source="w", target="p", error="local boom"),
    REQUEST,
    response({"plain": "dict"}),
    BusJobResponseUrgentMessage(source="w", job_id="j", status=JobStatus.ERROR),
    BusJobUpdateMessage(source="w", job_id="j", update={"progress": 0.5}),
    BusJobUpdateUrgentMessage(source="w", job_id="j", update={"stage": "x"}),
    BusJobUpdateRequestMessage(source="p", target="w", job_id="j"),
    BusJobCancelMessage(source="p", target="w", job_id="j", reason="late"),
    BusJobStreamStartMessage(source="w", job_id="j", data={"kind": "text"}),
    BusJobStreamDataMessage(source="w", job_id="j", data={"chunk": b"bytes"}),
    BusJobStreamEndMessage(source="w", job_id="j"),
    BusWorkerStoppedMessage(source="w", runner="r", status="failed", reason="crash"),
    BusHandlerErrorMessage(
        source="w", message_id=None, handler="run", error_type="ValueError", error="bad"
    ),
    BusJobGroupFinishedMessage(source="p", job_id="j", status="timeout", reason="slow"),
    BusRunnerHeartbeatMessage(source="r", runner="r", interval=5.0),
    BusRunnerLeftMessage(source="r", runner="r", status="lost"),
    BusDecodeErrorMessage(source="r", kind="not_json", error="x", size=3, channel="c"),
    BusTransportGapMessage(source="r", channel="c", seconds=1.5, error="gone", replayed=True),
    BusLoopBlockedMessage(source="r", blocked_ms=2004.5, threshold_ms=100.0, handler="W.run"),
    BusTracingStartedMessage(source="r", resource={"service.name": "s", "n": 1}),
    BusSpansLostMessage(source="r", span_ids=["00f067aa0ba902b7"], reason="the export raised"),
]


def round_trip(message: BusMessage, serializer: JSONMessageSerializer | None = None) -> Any:
    serializer = serializer or JSONMessageSerializer()
    return serializer.deserialize(serializer.serialize(message))


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_kind_of_message_round_trips(message: BusMessage) -> None:
    restored = round_trip(message)
    assert type(restored) is type(message)
    assert restored == message


def test_the_samples_cover_every_message_type_but_the_local_one_holding_a_worker() -> None:
    every = {
        value
        for value in vars(pipebus.core.messages).values()
        if isinstance(value, type) and issubclass(value, BusMessage)
    }
    assert every - {type(m) for m in SAMPLES} == {BusAddWorkerMessage}


def test_values_come_back_as_their_types() -> None:
    restored = round_trip(FRAMED)
    assert isinstance(restored, BusFrameMessage)
    assert isinstance(restored.frame, InteropFrame)
    assert restored.frame.text == "hi"
    assert (restored.frame.id, restored.frame.name) == (FRAMED.frame.id, FRAMED.frame.name)
    assert restored.direction is FrameDirection.UPSTREAM

    restored = round_trip(REGISTRY)
    assert restored.workers == [
        WorkerRegistryEntry(name="w", parent="p", active=True, started_at=1.5)
    ]
    assert isinstance(restored.workers[0], WorkerRegistryEntry)

    restored = round_trip(BusJobResponseMessage(source="w", job_id="j", status=JobStatus.FAILED))
    assert restored.status is JobStatus.FAILED
    assert restored.response is None


def test_a_user_message_round_trips_with_its_non_init_field() -> None:
    message = greeting()
    restored = round_trip(message)
    assert isinstance(restored, SerGreeting)
    assert restored == message
    assert restored.tag == "custom"
    assert restored.shade is Shade.DARK
    assert isinstance(restored.frame, InteropFrame)
    assert restored.extra == {"nested": [{"deep": [1, 2.5, None, True]}], "raw": b"\x00\xff"}


def test_pydantic_models_round_trip_nested() -> None:
    user = UserInfo(name="Alice", age=30, address=Address(city="NYC", zip_code="10001"))
    restored = round_trip(response(user))
    assert isinstance(restored.response["user"], UserInfo)
    assert isinstance(restored.response["user"].address, Address)
    assert restored.response["user"] == user
    assert restored.response["blob"] == b"\x01\x02"
    assert restored.response["items"] == [1, "two", {"three": 3.0}]
    assert restored.status is JobStatus.COMPLETED


def test_a_model_written_by_one_serializer_is_read_by_another() -> None:
    data = JSONMessageSerializer().serialize(response(UserInfo(name="Bo", age=3)))
    restored = JSONMessageSerializer().deserialize(data)
    assert isinstance(restored, BusJobResponseMessage)
    assert restored.response == {
        "user": UserInfo(name="Bo", age=3),
        "items": [1, "two", {"three": 3.0}],
        "blob": b"\x01\x02",
    }


def test_a_model_only_received_reads_once_registered(caplog: pytest.LogCaptureFixture) -> None:
    class Receipt(pydantic.BaseModel):
        total: float

    data = (
        b'{"__type__":"pipecat.bus.messages.BusJobResponseMessage","__data__":{"source":"w",'
        b'"job_id":"j","status":"completed","response":{"r":{"__type__":"'
        + f"{__name__}.Receipt".encode()
        + b'","__data__":{"total":9.5}}}}}'
    )
    serializer = JSONMessageSerializer()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        unknown = serializer.deserialize(data)
    assert isinstance(unknown, BusJobResponseMessage)
    assert unknown.response == {"r": {"total": 9.5}}  # kept as plain data
    assert f"unknown type '{__name__}.Receipt'" in caplog.text

    serializer.register_model(Receipt)
    known = serializer.deserialize(data)
    assert isinstance(known, BusJobResponseMessage)
    assert known.response == {"r": Receipt(total=9.5)}


def test_only_models_register() -> None:
    with pytest.raises(TypeError, match="not a pydantic model"):
        JSONMessageSerializer().register_model(Address(city="a", zip_code="b"))
    with pytest.raises(TypeError, match="not a pydantic model"):
        JSONMessageSerializer().register_model(SerGreeting)


def test_the_output_is_compact_json_bytes_in_pipecats_shape() -> None:
    data = JSONMessageSerializer().serialize(
        BusJobResponseMessage(
            source="w",
            target="p",
            job_id="j",
            status=JobStatus.COMPLETED,
            response={"a": [1, b"x", None], "d": FrameDirection.UPSTREAM},
        )
    )
    assert isinstance(data, bytes)
    assert data == (
        b'{"__type__":"pipecat.bus.messages.BusJobResponseMessage","__data__":{"source":"w",'
        b'"target":"p","job_id":"j","status":"completed","response":{"a":[1,'
        b'{"__type__":"bytes","__data__":"eA=="},null],"d":{"__type__":'
        b'"pipecat.processors.frame_processor.FrameDirection","__data__":"UPSTREAM"}}}}'
    )


def test_fields_that_cannot_be_written_are_left_out(caplog: pytest.LogCaptureFixture) -> None:
    message = BusJobRequestMessage(
        source="p", job_id="j", payload={"thing": object(), "fn": len, "ok": 1}
    )
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        restored = round_trip(message)
    assert restored.payload == {"thing": None, "fn": None, "ok": 1}
    assert "unserializable type object" in caplog.text


def test_json_that_cannot_hold_the_message_raises_encode_error() -> None:
    with pytest.raises(EncodeError, match="BusJobRequestMessage"):
        JSONMessageSerializer().serialize(
            BusJobRequestMessage(source="p", job_id="j", payload={(1, 2): "tuple key"})  # type: ignore[dict-item]
        )


def test_json_message_serializer_is_a_message_serializer() -> None:
    assert isinstance(JSONMessageSerializer(), MessageSerializer)


# --- adapters ---------------------------------------------------------------------------


@dataclass
class SerPoint(Frame):
    x: int
    y: int


@dataclass
class SerPoint3(SerPoint):
    z: int = 0


class PointAdapter(TypeAdapter):
    def serialize(self, obj: Any, serialize_value: Any) -> dict[str, Any]:
        return {"xy": f"{obj.x},{obj.y}", "more": serialize_value(vars(obj).get("z"))}

    def deserialize(
        self, data: dict[str, Any], deserialize_value: Any, target_type: type | None = None
    ) -> Any:
        x, y = (int(n) for n in data["xy"].split(","))
        assert target_type is not None
        return target_type(x=x, y=y)


def test_a_frame_adapter_writes_and_reads_its_type_and_subclasses() -> None:
    serializer = JSONMessageSerializer()
    serializer.register_adapter(SerPoint, PointAdapter())
    for frame in (SerPoint(x=1, y=2), SerPoint3(x=3, y=4, z=5)):
        message = BusFrameMessage(source="a", frame=frame, direction=FrameDirection.DOWNSTREAM)
        data = serializer.serialize(message)
        assert b'"xy":"' in data
        restored = serializer.deserialize(data)
        assert isinstance(restored, BusFrameMessage)
        assert type(restored.frame) is type(frame)
        assert isinstance(restored.frame, SerPoint)
        assert (restored.frame.x, restored.frame.y) == (frame.x, frame.y)


def test_an_adapter_that_raises_drops_the_message(caplog: pytest.LogCaptureFixture) -> None:
    serializer = JSONMessageSerializer()
    serializer.register_adapter(SerPoint, PointAdapter())
    data = b'{"__type__":"x.BusFrameMessage","__data__":{"source":"a","direction":null,'
    data += b'"frame":{"__type__":"x.SerPoint","__data__":{"xy":"not numbers"}}}}'
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert serializer.deserialize(data) is None
    assert "its adapter raised ValueError" in caplog.text


# --- reading Pipecat's JSON -------------------------------------------------------------


def test_json_as_pipecat_writes_it_decodes(caplog: pytest.LogCaptureFixture) -> None:
    """Literal output of Pipecat 1.14's JSONMessageSerializer (ids, names and all)."""
    serializer = JSONMessageSerializer()
    restored = serializer.deserialize(
        b'{"__type__":"pipecat.bus.messages.BusJobResponseMessage","__data__":{"id":0,'
        b'"name":"BusJobResponseMessage#0","source":"w","target":"p","job_id":"j",'
        b'"status":"completed","response":{"a":[1,{"__type__":"bytes","__data__":"eA=="},'
        b"null]}}}"
    )
    assert restored == BusJobResponseMessage(
        source="w",
        target="p",
        job_id="j",
        status=JobStatus.COMPLETED,
        response={"a": [1, b"x", None]},
    )
    assert restored is not None
    assert restored.status is JobStatus.COMPLETED

    restored = serializer.deserialize(
        b'{"__type__":"pipecat.bus.messages.BusWorkerRegistryMessage","__data__":{"id":3,'
        b'"name":"BusWorkerRegistryMessage#0","source":"w","runner":"r","workers":[{"__type__":'
        b'"pipecat.registry.types.WorkerRegistryEntry","__data__":{"name":"a","active":false,'
        b'"bridged":false}}]}}'
    )
    assert restored == BusWorkerRegistryMessage(
        source="w", runner="r", workers=[WorkerRegistryEntry(name="a")]
    )

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        restored = serializer.deserialize(
            b'{"__type__":"pipecat.bus.messages.BusFrameMessage","__data__":{"id":2,'
            b'"name":"BusFrameMessage#0","source":"w","frame":{"__type__":"myapp.frames.'
            b'InteropFrame","__data__":{"id":1,"name":"InteropFrame#0","metadata":{"k":"v"},'
            b'"interruptible":true,"text":"hi"}},"direction":{"__type__":'
            b'"pipecat.processors.frame_processor.FrameDirection","__data__":"UPSTREAM"}}}'
        )
    assert caplog.text == ""  # Pipecat's own fields (id, name, interruptible) drop silently
    assert isinstance(restored, BusFrameMessage)
    assert isinstance(restored.frame, InteropFrame)
    assert (restored.frame.text, restored.frame.id, restored.frame.name) == (
        "hi",
        1,
        "InteropFrame#0",
    )
    assert restored.frame.metadata == {"k": "v"}
    assert restored.direction is FrameDirection.UPSTREAM


def test_a_nested_value_of_unknown_type_is_kept_as_plain_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = (
        b'{"__type__":"pipecat.bus.messages.BusFrameMessage","__data__":{"source":"w",'
        b'"frame":{"__type__":"pipecat.frames.frames.TranscriptionFrame","__data__":'
        b'{"text":"hi","user_id":"u"}},"direction":{"__type__":'
        b'"pipecat.processors.frame_processor.FrameDirection","__data__":"DOWNSTREAM"}}}'
    )
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        restored = JSONMessageSerializer().deserialize(data)
    assert isinstance(restored, BusFrameMessage)
    assert vars(restored)["frame"] == {"text": "hi", "user_id": "u"}
    assert "unknown type 'pipecat.frames.frames.TranscriptionFrame'" in caplog.text


def test_missing_fields_are_none_and_unknown_ones_dropped(caplog: pytest.LogCaptureFixture) -> None:
    data = b'{"__type__":"x.BusHandlerErrorMessage","__data__":{"source":"w","handler":"run",'
    data += b'"error_type":"E","error":"e","surprise":1}}'
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        restored = JSONMessageSerializer().deserialize(data)
    assert restored == BusHandlerErrorMessage(
        source="w", message_id=None, handler="run", error_type="E", error="e"
    )
    assert "has no field(s) surprise" in caplog.text


# --- refusing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b'{"__type__":"bogus.BogusMessage","__data__":{"source":"a"}}', "unknown type"),
        (b'{"__type__":"pipebus.core.types.JobStatus","__data__":{}}', "unknown type"),
        (b'{"__type__":"x.InteropFrame","__data__":{"text":"a frame, not a message"}}', "unknown"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[1, 2]", "not a"),
        (b'{"__type__":"x.BusEndMessage"}', "not a"),
        (b'{"__type__":"x.BusEndMessage","__data__":[1]}', "not a"),
        (b'{"__type__":["x"],"__data__":{}}', "not a"),
        (
            b'{"__type__":"x.BusEndMessage","__data__":{"source":"a","reason":'
            b'{"__type__":"bytes","__data__":"not base64!"}}}',
            "not base64",
        ),
        (
            b'{"__type__":"x.BusEndMessage","__data__":{"source":"a","reason":'
            b'{"__type__":"bytes","__data__":5}}}',
            "not base64",
        ),
        (
            b'{"__type__":"x.BusFrameMessage","__data__":{"source":"a","frame":null,"direction":'
            b'{"__type__":"x.FrameDirection","__data__":"SIDEWAYS"}}}',
            "not a member",
        ),
        (
            b'{"__type__":"x.BusJobResponseMessage","__data__":{"source":"a","job_id":"j",'
            b'"status":"bogus"}}',
            "is not a JobStatus",
        ),
        (
            b'{"__type__":"x.BusEndMessage","__data__":{"source":"a","reason":'
            b'{"__type__":5,"__data__":{}}}}',
            "not a type name",
        ),
        (
            b'{"__type__":"x.SerChecked","__data__":{"source":"a","count":-1}}',
            "must not be negative",
        ),
        (
            b'{"__type__":"x.BusEndMessage","__data__":{"source":"a","reason":'
            b'{"__type__":"x.WorkerRegistryEntry","__data__":"not an object"}}}',
            "must be an object",
        ),
        (
            b'{"__type__":"x.BusEndMessage","__data__":{"source":"a","reason":'
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}}",
            "not JSON",
        ),
        (
            b'{"__type__":"x.BusEndMessage","__data__":{"source":"a","reason":'
            + b'{"a":' * 600
            + b"1"
            + b"}" * 600
            + b"}}",
            "",  # too deep for the decoder, or for the parser on a deeper stack
        ),
    ],
    ids=lambda value: f"{value[:60]!r}/{len(value)}" if isinstance(value, bytes) else None,
)
def test_bad_input_is_dropped_with_a_warning(
    data: bytes, complaint: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert JSONMessageSerializer().deserialize(data) is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert caplog.records[0].name == LOGGER
    assert complaint in caplog.text


def test_a_type_named_by_the_data_is_never_imported(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    sys.modules.pop("tabnanny", None)
    serializer = JSONMessageSerializer()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for name in ("tabnanny.NannyNag", "subprocess.Popen", "os.system", "builtins.eval"):
            data = json.dumps({"__type__": name, "__data__": {"source": "a"}}).encode()
            assert serializer.deserialize(data) is None
            assert f"unknown type {name!r}" in caplog.text
        # nested, it stays data: Popen is neither looked up nor called
        marker = tmp_path / "created"
        nested = {"__type__": "subprocess.Popen", "__data__": {"args": ["touch", str(marker)]}}
        data = json.dumps(
            {"__type__": "tabnanny.BusEndMessage", "__data__": {"source": "a", "reason": nested}}
        ).encode()
        restored = serializer.deserialize(data)
    assert restored == BusEndMessage(source="a", reason={"args": ["touch", str(marker)]})  # type: ignore[arg-type]
    assert not marker.exists()
    assert "tabnanny" not in sys.modules


def test_importing_the_serializer_does_not_import_pydantic() -> None:
    code = "import sys, pipebus.core.serializers; assert 'pydantic' not in sys.modules, sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=20)


# --- against Pipecat itself ---------------------------------------------------------------

PIPECAT_SCRIPT = r"""
import base64, dataclasses, json, sys, types
from dataclasses import dataclass, field
from enum import Enum

from pydantic import BaseModel

from pipecat.bus.messages import (
    BusActivateWorkerMessage, BusCancelWorkerMessage, BusDataMessage, BusFrameMessage,
    BusJobRequestMessage, BusJobResponseMessage, BusWorkerRegistryMessage,
)
from pipecat.bus.serializers import JSONMessageSerializer
from pipecat.frames.frames import DataFrame, TranscriptionFrame
from pipecat.pipeline.job_context import JobStatus
from pipecat.processors.frame_processor import FrameDirection
from pipecat.registry.types import WorkerRegistryEntry

# The test's own types, under the test module's name, where Pipecat's import finds them.
MODULE = sys.argv[1]
shared = sys.modules[MODULE] = types.ModuleType(MODULE)


class Address(BaseModel):
    city: str
    zip_code: str


class UserInfo(BaseModel):
    name: str
    age: int
    address: Address | None = None


@dataclass
class InteropFrame(DataFrame):
    text: str


class Shade(Enum):
    LIGHT = "light"
    DARK = 2


@dataclass
class SerGreeting(BusDataMessage):
    text: str
    shade: Shade | None = None
    frame: InteropFrame | None = None
    extra: dict | None = None
    tag: str = field(init=False, default="default")


for cls in (Address, UserInfo, InteropFrame, Shade, SerGreeting):
    cls.__module__ = MODULE
    setattr(shared, cls.__name__, cls)

SKIP = {"id", "name", "pts", "broadcast_sibling_id", "transport_source",
        "transport_destination", "interruptible"}


def describe(value):
    if isinstance(value, Enum):
        if isinstance(value, (str, int)):
            return value.value
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, BaseModel):
        return {"model": type(value).__name__, **{k: describe(v) for k, v in vars(value).items()}}
    if dataclasses.is_dataclass(value):
        return {"class": type(value).__name__, **{
            f.name: describe(getattr(value, f.name, None))
            for f in dataclasses.fields(value) if f.name not in SKIP
        }}
    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [describe(v) for v in value]
    return value


greeting = SerGreeting(source="greeter", target="listener", text="hello", shade=Shade.DARK,
                       frame=InteropFrame(text="framed"),
                       extra={"nested": [{"deep": [1, 2.5, None, True]}], "raw": b"\x00\xff"})
greeting.tag = "custom"
samples = [
    BusJobResponseMessage(
        source="worker", target="parent", job_id="job-1", status=JobStatus.COMPLETED,
        response={
            "user": UserInfo(name="Alice", age=30, address=Address(city="NYC", zip_code="10001")),
            "items": [1, "two", {"three": 3.0}],
            "blob": b"\x01\x02",
        },
    ),
    BusFrameMessage(source="a", frame=InteropFrame(text="hi"), direction=FrameDirection.UPSTREAM,
                    bridge="b"),
    BusWorkerRegistryMessage(source="runner", runner="runner", workers=[
        WorkerRegistryEntry(name="w", parent="p", active=True, started_at=1.5)]),
    greeting,
    BusActivateWorkerMessage(source="p", target="c", args={"messages": [{"role": "user"}]}),
    BusJobRequestMessage(source="p", target="w", job_id="j", job_name="n", payload={"k": [1]}),
    BusCancelWorkerMessage(source="p", target="w", reason="stop"),
]
serializer = JSONMessageSerializer()
transcription = BusFrameMessage(
    source="a", frame=TranscriptionFrame(text="heard", user_id="u", timestamp="t"),
    direction=FrameDirection.DOWNSTREAM)
from_pipebus = [serializer.deserialize(line.encode()) for line in sys.stdin.read().splitlines()]
print(json.dumps({
    "wrote": [serializer.serialize(m).decode() for m in samples],
    "described": [describe(m) for m in samples],
    "transcription": serializer.serialize(transcription).decode(),
    "read": [describe(m) for m in from_pipebus],
}))
"""

SKIP = {
    "id",
    "name",
    "pts",
    "broadcast_sibling_id",
    "transport_source",
    "transport_destination",
    "interruptible",
}


def describe(value: Any) -> Any:
    """What PIPECAT_SCRIPT's ``describe`` says of the same value (frameworks' fields aside)."""
    if isinstance(value, Enum):
        if isinstance(value, (str, int)):
            return value.value
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, pydantic.BaseModel):
        return {"model": type(value).__name__, **{k: describe(v) for k, v in vars(value).items()}}
    if dataclasses.is_dataclass(value):
        return {
            "class": type(value).__name__,
            **{
                f.name: describe(getattr(value, f.name, None))
                for f in dataclasses.fields(value)
                if f.name not in SKIP
            },
        }
    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [describe(v) for v in value]
    return value


def interop_samples() -> list[BusMessage]:
    """The same messages PIPECAT_SCRIPT builds, built from pipebus's classes."""
    return [
        response(UserInfo(name="Alice", age=30, address=Address(city="NYC", zip_code="10001"))),
        BusFrameMessage(
            source="a", frame=InteropFrame(text="hi"), direction=FrameDirection.UPSTREAM, bridge="b"
        ),
        REGISTRY,
        greeting(),
        ACTIVATE,
        REQUEST,
        BusCancelWorkerMessage(source="p", target="w", reason="stop"),
    ]


@pytest.fixture(scope="module")
def pipecat() -> dict[str, Any]:
    """What Pipecat 1.14's own serializer writes, and what it reads of pipebus's output."""
    if not PIPECAT_PYTHON.exists():
        pytest.skip(f"no Pipecat venv at {PIPECAT_PYTHON} to run Pipecat's serializer")
    serializer = JSONMessageSerializer()
    lines = "\n".join(serializer.serialize(m).decode() for m in interop_samples())
    done = subprocess.run(
        [str(PIPECAT_PYTHON), "-c", PIPECAT_SCRIPT, __name__],
        input=lines,
        capture_output=True,
        text=True,
        timeout=25,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_pipebus_reads_what_pipecat_writes(pipecat: dict[str, Any]) -> None:
    serializer = JSONMessageSerializer()
    restored = [serializer.deserialize(text.encode()) for text in pipecat["wrote"]]
    assert [describe(m) for m in restored] == pipecat["described"]
    assert [describe(m) for m in restored] == [describe(m) for m in interop_samples()]
    assert restored[0].status is JobStatus.COMPLETED  # type: ignore[union-attr]
    assert isinstance(restored[0].response["user"].address, Address)  # type: ignore[union-attr]
    assert isinstance(restored[1].frame, InteropFrame)  # type: ignore[union-attr]
    assert restored[3].tag == "custom"  # type: ignore[union-attr]


def test_pipecat_reads_what_pipebus_writes(pipecat: dict[str, Any]) -> None:
    assert pipecat["read"] == [describe(m) for m in interop_samples()]


def test_a_pipecat_frame_pipebus_lacks_arrives_as_data(
    pipecat: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        restored = JSONMessageSerializer().deserialize(pipecat["transcription"].encode())
    assert isinstance(restored, BusFrameMessage)
    assert isinstance(restored.frame, dict)
    assert restored.frame["text"] == "heard"
    assert restored.direction is FrameDirection.DOWNSTREAM
    assert "unknown type 'pipecat.frames.frames.TranscriptionFrame'" in caplog.text
