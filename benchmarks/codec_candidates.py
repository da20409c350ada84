"""Codec candidates for issue #13: pipebus's codec beside msgspec (JSON, MessagePack) and orjson.

Measures, on pipebus's own messages and envelopes, what each candidate costs to encode
and decode, how many bytes it writes, and which payload values come back as the same
type; then the rebuild's path: decoding 100,000 stored rows (type name + fields) into
messages. Nothing in pipebus changes: the candidates are prototypes in this file.

The candidates:

- **pipebus**: ``pipebus.core.codec.encode_message``/``decode_message`` for a message's
  fields, ``pipebus.core.wire.encode_envelope``/``decode_envelope`` for an envelope: the
  codec as it is. Until #13 it kept bytes and registered plain enums only (the saved
  results, measured then, call it "today"); since, it is "stdlib + tags" made real.
- **stdlib + tags**: the standard library's json (C encoder and scanner, as today) with
  the tagging below, so that every listed payload type round-trips. Fields only.
- **msgspec JSON + tags**: ``msgspec.json.Encoder``/``Decoder``, typed: a decoder per
  registered message type, built from the catalog the first time the type is read
  (an unknown type name is a DecodeError; nothing is imported). Messages whose only
  untyped fields are ``dict[str, Any]`` payloads decode straight into their dataclass;
  others (a ``Frame`` field, whose subclass only a tag can name; a list of registered
  dataclasses) decode into a dict that today's builder (``codec.build_value``) checks
  and builds. The envelope is a ``msgspec.Struct`` whose ``msg`` is ``msgspec.Raw``:
  the header decodes typed, the fields by their type's decoder, without a copy.
- **msgspec MessagePack + ext**: the same with ``msgspec.msgpack``; values MessagePack
  cannot hold as themselves travel as ``msgspec.msgpack.Ext`` (bytes and int keys need
  nothing), which the decoder's ``ext_hook`` turns back into values in C's stride.
- **orjson + tags**: ``orjson.dumps``/``loads`` and today's builder; the envelope puts
  the encoded fields in with ``orjson.Fragment``.
- **msgspec JSON, no tags** (reference only): msgspec with pipebus's dataclasses as
  they are. It loses types (see the round-trip table): the ceiling, not a candidate.

Tagging (the requirement of issue #13): the library's native forms lose types in a
``dict[str, Any]`` payload (a datetime, Decimal or UUID comes back a str, a tuple or
set a list, an int key a str), and none of the three lets a hook see the types it
writes natively. So every candidate walks the untyped fields in Python before encoding
(``{"$pb": "dt", "v": "..."}`` and the like, as today's codec writes bytes and enums),
and walks them back after decoding when the text holds a tag. The walk is the price
of the requirement, paid by every candidate alike; the "no tags" row shows it.

Timing: every figure is the median of ``--repeat`` rounds; in each round every
candidate takes its turn (A B C, A B C), each turn a loop of a fixed number of calls
with the garbage collector paused (the rebuild keeps it running, as a rebuild does).
Times are this process's CPU time (``time.process_time``), not the wall clock: on the
shared machine, time the process spends waiting for a core is not the codec's.
Prints a Markdown table and saves ``benchmarks/results/codec_candidates.{json,md}``.

    python -m benchmarks.codec_candidates [--repeat 9] [--rows 100000]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import functools
import gc
import json
import platform
import random
import re
import statistics
import time
import types
import typing
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as clock_time
from decimal import Decimal, InvalidOperation
from enum import Enum, IntEnum
from itertools import repeat
from typing import Any

import msgspec
import orjson

from benchmarks import session_mix
from benchmarks.common import markdown, save, speed_probe_us
from pipebus.bus.message_ids import sorted_message_id
from pipebus.core import codec, wire
from pipebus.core.catalog import CATALOG, register_type
from pipebus.core.codec import WorkerRef, build_value, field_values, registered_type
from pipebus.core.envelope import ENVELOPE_VERSION, Envelope
from pipebus.core.errors import DecodeError, EncodeError
from pipebus.core.frames import FrameDirection
from pipebus.core.messages import (
    BusDataMessage,
    BusFrameMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobStreamDataMessage,
    BusJobUpdateMessage,
    BusMessage,
    BusWorkerReadyMessage,
    WorkerHandle,
)
from pipebus.core.routing import job_id_of
from pipebus.core.types import JobStatus

TAG = codec.TAG
TAG_BYTES = TAG.encode()
SCALARS = frozenset({str, int, float, bool, type(None)})


@register_type
class Priority(IntEnum):
    """A user's IntEnum, registered (for the round-trip table)."""

    LOW = 1
    HIGH = 2


# --- tagging for JSON ------------------------------------------------------------------


def tag_json(value: Any) -> Any:
    """``value`` with everything JSON cannot hold as itself replaced by a tagged object."""
    kind = type(value)
    if kind in SCALARS:
        return value
    if kind is dict:
        return _tag_dict(value)
    if kind is list:
        return [item if type(item) in SCALARS else tag_json(item) for item in value]
    return (_JSON_TAGGERS.get(kind) or _json_tagger(kind))(value)


def _tag_dict(value: dict[Any, Any]) -> dict[str, Any]:
    out = {}
    for key, item in value.items():
        if type(key) is not str:
            return {TAG: "map", "v": [[tag_json(k), tag_json(v)] for k, v in value.items()]}
        out[key] = item if type(item) in SCALARS else tag_json(item)
    if TAG in out:
        raise EncodeError(f"the dict key {TAG!r} is reserved by the codec")
    return out


def _tag_enum(value: Enum) -> dict[str, Any]:
    entry = CATALOG.by_class(type(value))
    if entry is None:
        raise EncodeError(f"enum {type(value).__qualname__} is not registered with the codec")
    return {TAG: "enum", "t": entry.wire_name, "v": value.value}


def _tag_dataclass(value: Any) -> dict[str, Any]:
    entry = CATALOG.by_class(type(value))
    if entry is None:
        raise EncodeError(f"dataclass {type(value).__qualname__} is not registered")
    return {TAG: "dc", "t": entry.wire_name, "f": _tag_dict(field_values(value))}


def _tag_worker(value: Any) -> dict[str, Any]:
    if isinstance(value, WorkerRef):
        return {TAG: "worker", "name": value.name, "class": value.class_name}
    return {TAG: "worker", "name": value.name, "class": type(value).__qualname__}


_JSON_TAGGERS: dict[type, Callable[[Any], Any]] = {
    bytes: lambda v: {TAG: "b", "v": base64.b64encode(v).decode("ascii")},
    bytearray: lambda v: {TAG: "b", "v": base64.b64encode(v).decode("ascii")},
    datetime: lambda v: {TAG: "dt", "v": v.isoformat()},
    date: lambda v: {TAG: "date", "v": v.isoformat()},
    clock_time: lambda v: {TAG: "time", "v": v.isoformat()},
    Decimal: lambda v: {TAG: "dec", "v": str(v)},
    uuid.UUID: lambda v: {TAG: "uuid", "v": str(v)},
    tuple: lambda v: {TAG: "tuple", "v": [tag_json(item) for item in v]},
    set: lambda v: {TAG: "set", "v": [tag_json(item) for item in v]},
    frozenset: lambda v: {TAG: "fset", "v": [tag_json(item) for item in v]},
    WorkerRef: _tag_worker,
}


def _json_tagger(kind: type) -> Callable[[Any], Any]:
    """How to tag a value of a type met for the first time (cached once it is known)."""
    tagger: Callable[[Any], Any]
    if issubclass(kind, Enum):
        tagger = _tag_enum
    elif dataclasses.is_dataclass(kind):
        tagger = _tag_dataclass
    elif issubclass(kind, WorkerHandle):
        tagger = _tag_worker
    elif issubclass(kind, (str, int, float)):
        tagger = next(base for base in (str, int, float) if issubclass(kind, base))
    else:
        raise EncodeError(f"cannot encode a value of type {kind.__qualname__}")
    _JSON_TAGGERS[kind] = tagger
    return tagger


def _untag_enum(obj: dict[str, Any]) -> Any:
    return registered_type(obj.get("t"), "enum")(obj["v"])


def _untag_dataclass(obj: dict[str, Any]) -> Any:
    return build_value(registered_type(obj.get("t"), "value"), obj.get("f"), str(obj.get("t")))


_JSON_UNTAGGERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "b": lambda o: base64.b64decode(o["v"], validate=True),
    "dt": lambda o: datetime.fromisoformat(o["v"]),
    "date": lambda o: date.fromisoformat(o["v"]),
    "time": lambda o: clock_time.fromisoformat(o["v"]),
    "dec": lambda o: Decimal(o["v"]),
    "uuid": lambda o: uuid.UUID(o["v"]),
    "tuple": lambda o: tuple(o["v"]),
    "set": lambda o: set(o["v"]),
    "fset": lambda o: frozenset(o["v"]),
    "map": lambda o: {key: item for key, item in o["v"]},
    "enum": _untag_enum,
    "dc": _untag_dataclass,
    "worker": lambda o: WorkerRef(name=str(o["name"]), class_name=str(o["class"])),
}


def untag_object(obj: dict[str, Any]) -> Any:
    """``object_hook``: a tagged object back into its value (its insides already are)."""
    kind = obj.get(TAG)
    if kind is None:
        return obj
    untagger = _JSON_UNTAGGERS.get(kind) if type(kind) is str else None
    if untagger is None:
        raise DecodeError(f"unknown tagged value {kind!r}")
    try:
        return untagger(obj)
    except DecodeError:
        raise
    except (KeyError, ValueError, TypeError, InvalidOperation) as exc:
        raise DecodeError(f"bad {kind} value: {exc!r}") from None


def untag_json(value: Any) -> Any:
    """What ``object_hook=untag_object`` would have made of freshly parsed JSON (in place)."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                new = untag_json(item)
                if new is not item:
                    value[key] = new
        return untag_object(value) if TAG in value else value
    if kind is list:
        for index, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                new = untag_json(item)
                if new is not item:
                    value[index] = new
    return value


# --- tagging for MessagePack ----------------------------------------------------------

EXT_DATETIME, EXT_DATE, EXT_TIME, EXT_DECIMAL, EXT_UUID = 1, 2, 3, 4, 5
EXT_ENUM, EXT_TUPLE, EXT_SET, EXT_FROZENSET, EXT_DATACLASS, EXT_WORKER = 6, 7, 8, 9, 10, 11
MP_NATIVE = SCALARS | {bytes}
_mp_encode = msgspec.msgpack.Encoder().encode
Ext = msgspec.msgpack.Ext


def tag_msgpack(value: Any) -> Any:
    """``value`` with everything MessagePack cannot hold as itself replaced by an Ext."""
    kind = type(value)
    if kind in MP_NATIVE:
        return value
    if kind is dict:
        return {
            key if type(key) in SCALARS else tag_msgpack(key): item
            if type(item) in MP_NATIVE
            else tag_msgpack(item)
            for key, item in value.items()
        }
    if kind is list:
        return [item if type(item) in MP_NATIVE else tag_msgpack(item) for item in value]
    return (_MP_TAGGERS.get(kind) or _mp_tagger(kind))(value)


def _mp_items(value: Any) -> bytes:
    return _mp_encode([tag_msgpack(item) for item in value])


def _mp_enum(value: Enum) -> Ext:
    entry = CATALOG.by_class(type(value))
    if entry is None:
        raise EncodeError(f"enum {type(value).__qualname__} is not registered with the codec")
    return Ext(EXT_ENUM, _mp_encode((entry.wire_name, value.value)))


def _mp_dataclass(value: Any) -> Ext:
    entry = CATALOG.by_class(type(value))
    if entry is None:
        raise EncodeError(f"dataclass {type(value).__qualname__} is not registered")
    return Ext(EXT_DATACLASS, _mp_encode((entry.wire_name, tag_msgpack(field_values(value)))))


def _mp_worker(value: Any) -> Ext:
    class_name = value.class_name if isinstance(value, WorkerRef) else type(value).__qualname__
    return Ext(EXT_WORKER, _mp_encode((value.name, class_name)))


_MP_TAGGERS: dict[type, Callable[[Any], Any]] = {
    bytearray: bytes,
    datetime: lambda v: Ext(EXT_DATETIME, v.isoformat().encode()),
    date: lambda v: Ext(EXT_DATE, v.isoformat().encode()),
    clock_time: lambda v: Ext(EXT_TIME, v.isoformat().encode()),
    Decimal: lambda v: Ext(EXT_DECIMAL, str(v).encode()),
    uuid.UUID: lambda v: Ext(EXT_UUID, v.bytes),
    tuple: lambda v: Ext(EXT_TUPLE, _mp_items(v)),
    set: lambda v: Ext(EXT_SET, _mp_items(v)),
    frozenset: lambda v: Ext(EXT_FROZENSET, _mp_items(v)),
    WorkerRef: _mp_worker,
}


def _mp_tagger(kind: type) -> Callable[[Any], Any]:
    tagger: Callable[[Any], Any]
    if issubclass(kind, Enum):
        tagger = _mp_enum
    elif dataclasses.is_dataclass(kind):
        tagger = _mp_dataclass
    elif issubclass(kind, WorkerHandle):
        tagger = _mp_worker
    elif issubclass(kind, (str, int, float)):
        tagger = next(base for base in (str, int, float) if issubclass(kind, base))
    else:
        raise EncodeError(f"cannot encode a value of type {kind.__qualname__}")
    _MP_TAGGERS[kind] = tagger
    return tagger


def _ext_hook(code: int, data: memoryview) -> Any:
    """The decoder's ``ext_hook``: an Ext back into its value (only registered types)."""
    try:
        if code == EXT_DATETIME:
            return datetime.fromisoformat(bytes(data).decode())
        if code == EXT_DATE:
            return date.fromisoformat(bytes(data).decode())
        if code == EXT_TIME:
            return clock_time.fromisoformat(bytes(data).decode())
        if code == EXT_DECIMAL:
            return Decimal(bytes(data).decode())
        if code == EXT_UUID:
            return uuid.UUID(bytes=bytes(data))
        if code == EXT_TUPLE:
            return tuple(MP_ANY.decode(data))
        if code == EXT_SET:
            return set(MP_ANY.decode(data))
        if code == EXT_FROZENSET:
            return frozenset(MP_ANY.decode(data))
        if code == EXT_ENUM:
            name, raw = MP_ANY.decode(data)
            return registered_type(name, "enum")(raw)
        if code == EXT_DATACLASS:
            name, fields = MP_ANY.decode(data)
            return build_value(registered_type(name, "value"), fields, str(name))
        if code == EXT_WORKER:
            name, class_name = MP_ANY.decode(data)
            return WorkerRef(name=str(name), class_name=str(class_name))
    except DecodeError:
        raise
    except (ValueError, TypeError, InvalidOperation, msgspec.MsgspecError) as exc:
        raise DecodeError(f"bad ext {code} value: {exc!r}") from None
    raise DecodeError(f"unknown ext type {code}")


MP_ANY = msgspec.msgpack.Decoder(ext_hook=_ext_hook)


# --- candidates -------------------------------------------------------------------------

Fields = str | bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """How a candidate writes one message type: which fields need the tag walk.

    A field is *plain* when its declared type is a scalar or an enum (the decoder
    knows it from the type); every other field is walked. ``direct``: every walked
    field is a ``dict[str, Any]`` (or ``Any``), so msgspec can decode into the dataclass.
    """

    wire_name: str
    walked: tuple[str, ...]
    direct: bool


def _is_plain(hint: Any) -> bool:
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return all(_is_plain(arg) for arg in args)
    if hint in (str, int, float, bool, type(None)):
        return True
    return isinstance(hint, type) and issubclass(hint, Enum)


def _is_untyped_dict(hint: Any) -> bool:
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return len(args) == 1 and _is_untyped_dict(args[0])
    if hint is Any or hint is dict:
        return True
    return typing.get_origin(hint) is dict and typing.get_args(hint) == (str, Any)


_plans: dict[type, Plan] = {}


def plan_of(cls: type) -> Plan:
    """The plan of a registered message type, made once."""
    plan = _plans.get(cls)
    if plan is None:
        plan = _plans[cls] = _make_plan(cls)
    return plan


def _make_plan(cls: type) -> Plan:
    entry = CATALOG.by_class(cls)
    if entry is None or entry.kind != "message":
        raise EncodeError(f"message type {cls.__qualname__} is not registered")
    hints = typing.get_type_hints(cls)
    walked = tuple(
        f.name for f in dataclasses.fields(cls) if f.init and not _is_plain(hints[f.name])
    )
    direct = all(_is_untyped_dict(hints[name]) for name in walked)
    return Plan(entry.wire_name, walked, direct)


def _message_class(type_name: Any) -> type:
    """The registered message class of ``type_name``: the allow-list, nothing imported."""
    return registered_type(type_name, "message")


def _tagged_values(message: BusMessage, plan: Plan, tag: Callable[[Any], Any]) -> dict[str, Any]:
    values = field_values(message)
    for name in plan.walked:
        item = values[name]
        if type(item) not in SCALARS:
            values[name] = tag(item)
    return values


class Candidate:
    """A codec under test: fields to text and back, envelopes to bytes and back."""

    name = ""
    envelopes = True
    meets_requirement = True

    def encode_fields(self, message: BusMessage) -> Fields:
        raise NotImplementedError

    def decode_fields(self, type_name: str, data: Fields) -> BusMessage:
        raise NotImplementedError

    def encode_envelope(self, envelope: Envelope) -> bytes:
        raise NotImplementedError

    def decode_envelope(self, data: bytes) -> Envelope:
        raise NotImplementedError


class Today(Candidate):
    name = "pipebus (codec + wire)"

    def encode_fields(self, message: BusMessage) -> Fields:
        return codec.encode_message(message)

    def decode_fields(self, type_name: str, data: Fields) -> BusMessage:
        return codec.decode_message(type_name, data)

    def encode_envelope(self, envelope: Envelope) -> bytes:
        envelope.fields_json = None  # the fields are encoded as part of the envelope
        return wire.encode_envelope(envelope)

    def decode_envelope(self, data: bytes) -> Envelope:
        return wire.decode_envelope(data)


class StdlibTags(Candidate):
    name = "stdlib json + tags"
    envelopes = False

    def __init__(self) -> None:
        self._encode = json.JSONEncoder(
            separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_enum_value
        ).encode
        self._scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
        self._scan_tagged = json.JSONDecoder(object_hook=untag_object).scan_once  # type: ignore[attr-defined]

    def encode_fields(self, message: BusMessage) -> Fields:
        plan = plan_of(type(message))
        return self._encode(_tagged_values(message, plan, tag_json))

    def decode_fields(self, type_name: str, data: Fields) -> BusMessage:
        text = data.decode() if isinstance(data, bytes) else data
        try:
            values, end = (self._scan_tagged if TAG in text else self._scan)(text, 0)
        except (StopIteration, ValueError) as exc:
            raise DecodeError(f"{type_name} fields are not valid JSON: {exc}") from None
        if end != len(text):
            raise DecodeError(f"{type_name} fields are not one JSON value")
        message: BusMessage = build_value(_message_class(type_name), values, type_name)
        return message


def _enum_value(value: Any) -> Any:
    """``default=``: an enum-typed field (a plain ``Enum``, not a str) as its value."""
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot encode a value of type {type(value).__qualname__}")


class WireHeader(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An envelope's header for msgspec, with its fields as they were written (``Raw``)."""

    v: int
    type: str
    id: str
    session: str
    seq: int
    time: int
    runner: str
    trace: str
    span: str
    parent: str | None = None
    cause: str | None = None
    tracestate: str | None = None
    msg: msgspec.Raw


_HEX_ID = re.compile(r"[0-9a-fA-F]{1,32}")


def _hex(value: str, key: str) -> int:
    if _HEX_ID.fullmatch(value) is None:
        raise DecodeError(f"envelope header {key} is not a hex id: {value[:40]!r}")
    return int(value, 16)


def _checked_version(version: Any) -> None:
    if type(version) is not int or version < 1:
        raise DecodeError(f"envelope version {version!r} is not a version number")
    if version > ENVELOPE_VERSION:
        raise DecodeError(f"envelope version {version!r} is newer than this reads")


class MsgspecCandidate(Candidate):
    """msgspec, JSON or MessagePack, typed by the catalog; with or without the tag walk."""

    def __init__(self, protocol: str, tags: bool) -> None:
        module: Any = msgspec.json if protocol == "json" else msgspec.msgpack
        self.name = f"msgspec {'JSON' if protocol == 'json' else 'MessagePack'}" + (
            (" + tags" if protocol == "json" else " + ext") if tags else ", no tags (lossy)"
        )
        self.envelopes = tags
        self.meets_requirement = tags
        self._tags = tags
        self._module = module
        self._tag = tag_json if protocol == "json" else tag_msgpack
        self._json = protocol == "json"
        hook = {"ext_hook": _ext_hook} if protocol == "msgpack" else {}
        self._hook = hook
        self._encode = module.Encoder().encode
        self._any = module.Decoder(dict[str, Any], **hook).decode
        self._header = module.Decoder(WireHeader).decode
        self._decoders: dict[str, Callable[[Fields], BusMessage]] = {}

    def encode_fields(self, message: BusMessage) -> Fields:
        plan = plan_of(type(message))
        if not plan.walked or not self._tags:
            out: bytes = self._encode(message)
            return out
        out = self._encode(_tagged_values(message, plan, self._tag))
        return out

    def decode_fields(self, type_name: str, data: Fields) -> BusMessage:
        decode = self._decoders.get(type_name) if type(type_name) is str else None
        if decode is None:
            decode = self._decoder(type_name)
        try:
            return decode(data)
        except msgspec.MsgspecError as exc:
            raise DecodeError(f"{type_name}: {exc}") from None

    def _decoder(self, type_name: str) -> Callable[[Fields], BusMessage]:
        """The decoder of one registered message type, built once (the allow-list)."""
        cls = _message_class(type_name)
        plan = plan_of(cls)
        if plan.direct or not self._tags:
            typed = self._module.Decoder(cls, **self._hook).decode
            if not self._json or not plan.walked or not self._tags:
                decode: Callable[[Fields], BusMessage] = typed
            else:
                walked = plan.walked

                def decode(data: Fields) -> BusMessage:
                    message: BusMessage = typed(data)
                    if (TAG in data) if type(data) is str else (TAG_BYTES in data):
                        for name in walked:
                            value = getattr(message, name)
                            if type(value) is dict or type(value) is list:
                                setattr(message, name, untag_json(value))
                    return message

        else:
            parse = self._any
            untag = self._json
            walked = plan.walked

            def decode(data: Fields) -> BusMessage:
                values = parse(data)
                if untag and ((TAG in data) if type(data) is str else (TAG_BYTES in data)):
                    for name in walked:
                        item = values.get(name)
                        if type(item) is dict or type(item) is list:
                            values[name] = untag_json(item)
                message: BusMessage = build_value(cls, values, type_name)
                return message

        self._decoders[type_name] = decode
        return decode

    def encode_envelope(self, envelope: Envelope) -> bytes:
        message = envelope.message
        fields = self.encode_fields(message)
        envelope.fields_json = fields  # type: ignore[assignment]  # kept for the log, as today
        parent = envelope.parent_span_id
        header = WireHeader(
            v=ENVELOPE_VERSION,
            type=plan_of(type(message)).wire_name,
            id=envelope.message_id,
            session=envelope.session_id,
            seq=envelope.seq,
            time=envelope.time_ns,
            runner=envelope.runner,
            trace=f"{envelope.trace_id:032x}",
            span=f"{envelope.span_id:016x}",
            parent=f"{parent:016x}" if parent else None,
            cause=envelope.causation_id,
            tracestate=envelope.trace_state,
            msg=msgspec.Raw(fields),
        )
        out: bytes = self._encode(header)
        return out

    def decode_envelope(self, data: bytes) -> Envelope:
        if len(data) > wire.MAX_ENVELOPE_BYTES:
            raise DecodeError("envelope over the size limit")
        try:
            header: WireHeader = self._header(data)
        except msgspec.MsgspecError as exc:
            raise DecodeError(f"bad envelope: {exc}") from None
        _checked_version(header.v)
        fields = bytes(header.msg)
        message = self.decode_fields(header.type, fields)
        parent = header.parent
        return Envelope(
            message,
            header.id,
            header.session,
            header.seq,
            header.time,
            header.runner,
            _hex(header.trace, "trace"),
            _hex(header.span, "span"),
            _hex(parent, "parent") if parent is not None else 0,
            header.cause,
            False,
            job_id_of(message),
            header.tracestate or None,
            fields,  # type: ignore[arg-type]
        )


class OrjsonTags(Candidate):
    name = "orjson + tags"

    def encode_fields(self, message: BusMessage) -> Fields:
        plan = plan_of(type(message))
        if not plan.walked:
            return orjson.dumps(message)
        return orjson.dumps(_tagged_values(message, plan, tag_json))

    def decode_fields(self, type_name: str, data: Fields) -> BusMessage:
        cls = _message_class(type_name)
        try:
            values = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"{type_name} fields are not valid JSON: {exc}") from None
        if (TAG in data) if type(data) is str else (TAG_BYTES in data):
            untag_json(values)
        message: BusMessage = build_value(cls, values, type_name)
        return message

    def encode_envelope(self, envelope: Envelope) -> bytes:
        message = envelope.message
        fields = self.encode_fields(message)
        envelope.fields_json = fields  # type: ignore[assignment]
        parent = envelope.parent_span_id
        header: dict[str, Any] = {
            "v": ENVELOPE_VERSION,
            "type": plan_of(type(message)).wire_name,
            "id": envelope.message_id,
            "session": envelope.session_id,
            "seq": envelope.seq,
            "time": envelope.time_ns,
            "runner": envelope.runner,
            "trace": f"{envelope.trace_id:032x}",
            "span": f"{envelope.span_id:016x}",
            "parent": f"{parent:016x}" if parent else None,
            "cause": envelope.causation_id,
        }
        if envelope.trace_state:
            header["tracestate"] = envelope.trace_state
        header["msg"] = orjson.Fragment(fields)
        return orjson.dumps(header)

    def decode_envelope(self, data: bytes) -> Envelope:
        if len(data) > wire.MAX_ENVELOPE_BYTES:
            raise DecodeError("envelope over the size limit")
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"envelope is not valid JSON: {exc}") from None
        if type(document) is not dict:
            raise DecodeError("an envelope must be a JSON object")
        try:
            version, type_name, fields = document["v"], document["type"], document["msg"]
            ids = (document["id"], document["session"], document["runner"])
            seq, time_ns = document["seq"], document["time"]
            trace, span = document["trace"], document["span"]
        except KeyError as exc:
            raise DecodeError(f"envelope is missing {exc}") from None
        _checked_version(version)
        if any(type(value) is not str for value in (*ids, trace, span)):
            raise DecodeError("envelope header ids must be strings")
        if type(seq) is not int or type(time_ns) is not int:
            raise DecodeError("envelope header seq and time must be integers")
        fields_json = orjson.dumps(fields)
        if TAG_BYTES in fields_json:
            untag_json(fields)
        message: BusMessage = build_value(_message_class(type_name), fields, str(type_name))
        parent, cause = document.get("parent"), document.get("cause")
        return Envelope(
            message,
            ids[0],
            ids[1],
            seq,
            time_ns,
            ids[2],
            _hex(trace, "trace"),
            _hex(span, "span"),
            _hex(parent, "parent") if parent is not None else 0,
            cause if type(cause) is str else None,
            False,
            job_id_of(message),
            document.get("tracestate") or None,
            fields_json,  # type: ignore[arg-type]
        )


def candidates() -> list[Candidate]:
    return [
        Today(),
        StdlibTags(),
        MsgspecCandidate("json", tags=True),
        MsgspecCandidate("msgpack", tags=True),
        OrjsonTags(),
        MsgspecCandidate("json", tags=False),
    ]


# --- messages ---------------------------------------------------------------------------


def rich_payload() -> dict[str, Any]:
    """A job payload holding every value type issue #13 lists."""
    return {
        "query": "book a table",
        "when": datetime(2024, 5, 17, 19, 30, tzinfo=UTC),
        "day": date(2024, 5, 17),
        "at": clock_time(19, 30),
        "budget": Decimal("120.50"),
        "request_id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "audio": b"\x00\x01" * 40,
        "status": JobStatus.COMPLETED,
        "priority": Priority.HIGH,
        "window": (18, 21),
        "tags": {"vip", "terrace"},
        "by_hour": {18: "full", 19: "free", 20: "free"},
        "options": {"seats": 4, "notes": ["window", "quiet"], "nested": {"deep": [1, 2.5]}},
    }


def sample_messages() -> dict[str, BusMessage]:
    """One message of each kind the table shows, with realistic payloads."""
    payload = {
        "text": "what's the weather like in Lisbon tomorrow?",
        "lang": "en",
        "turn": 12,
        "context": {"user": "u-81", "history": ["hi", "hello, how can I help?"]},
    }
    frame = session_mix.AudioFrame(audio=random.Random(1).randbytes(160))
    return {
        "job request": BusJobRequestMessage(
            source="agent", target="llm", job_id="job-3f9c2a", job_name="answer", payload=payload
        ),
        "job response": BusJobResponseMessage(
            source="llm",
            target="agent",
            job_id="job-3f9c2a",
            status=JobStatus.COMPLETED,
            response={"text": "Sunny, 24 degrees.", "tokens": 7, "cached": False},
        ),
        "job update": BusJobUpdateMessage(
            source="llm", target="agent", job_id="job-3f9c2a", update={"progress": 40}
        ),
        "stream data": BusJobStreamDataMessage(
            source="tts", target="agent", job_id="job-3f9c2a", data={"chunk": 3, "text": "Sunny,"}
        ),
        "broadcast data": session_mix.Transcript(
            source="stt", payload={"text": "and then we could", "final": False}
        ),
        "worker ready": BusWorkerReadyMessage(
            source="tts", runner="runner-a", started_at=1715960000.25
        ),
        "frame (audio)": BusFrameMessage(
            source="vad", target="stt", frame=frame, direction=FrameDirection.DOWNSTREAM
        ),
        "job request, rich payload": BusJobRequestMessage(
            source="agent",
            target="booking",
            job_id="job-77",
            job_name="book",
            payload=rich_payload(),
        ),
    }


def mix_messages(count: int, seed: int = 7) -> list[BusMessage]:
    """``count`` messages of the voice-agent-like mix of :mod:`benchmarks.session_mix`."""
    rng = random.Random(seed)
    out: list[BusMessage] = [
        BusWorkerReadyMessage(source=name, runner="runner-a", started_at=0.0)
        for name in session_mix.WORKERS
    ]
    jobs: list[Iterator[BusMessage | str]] = []
    stopped: set[str] = set()
    n = 0
    while len(out) < count:
        n += 1
        pick = rng.random()
        if pick < 0.1:
            out.append(session_mix.lifecycle_message(rng, "runner-a", stopped))
        elif pick < 0.5:
            out.append(session_mix.data_message(rng, n))
        elif len(jobs) < session_mix.MAX_OPEN_JOBS and (not jobs or rng.random() < 0.15):
            jobs.append(session_mix.job_script(rng, f"job-{n}", n))
        else:
            index = rng.randrange(len(jobs))
            message = next(jobs[index], None)
            if message is None:
                jobs[index] = jobs[-1]
                jobs.pop()
            elif isinstance(message, BusMessage):
                out.append(message)
    return out[:count]


def envelope_of(message: BusMessage, seq: int, rng: random.Random) -> Envelope:
    return Envelope(
        message,
        sorted_message_id("a1b2c3d4e5f6-", seq),
        "5f0e2b7c9d314a6e8b1f0c2d3e4a5b6c",
        seq,
        1_715_960_000_000_000_000 + seq * 1000,
        "runner-a",
        rng.getrandbits(128) or 1,
        rng.getrandbits(64) or 1,
        rng.getrandbits(64) if seq % 3 else 0,
        sorted_message_id("a1b2c3d4e5f6-", seq - 1) if seq % 3 else None,
        False,
        job_id_of(message),
    )


# --- round trips ----------------------------------------------------------------------


def round_trip_values() -> list[tuple[str, Any, Any]]:
    """(label, value, the type a message field would declare for it)."""
    values: list[tuple[str, Any, Any]] = [
        ("datetime, naive", datetime(2024, 5, 17, 13, 45, 30, 123456), datetime),
        (
            "datetime, +02:00",
            datetime(2024, 5, 17, 13, 45, 30, tzinfo=timezone(timedelta(hours=2))),
            datetime,
        ),
        ("date", date(2024, 5, 17), date),
        ("time", clock_time(13, 45, 30), clock_time),
        ("Decimal", Decimal("12.50"), Decimal),
        ("UUID", uuid.UUID("12345678-1234-5678-1234-567812345678"), uuid.UUID),
        ("bytes", b"\x00\xffaudio", bytes),
        ("Enum (registered)", FrameDirection.UPSTREAM, FrameDirection),
        ("StrEnum (JobStatus)", JobStatus.FAILED, JobStatus),
        ("IntEnum (registered)", Priority.HIGH, Priority),
        ("tuple", (1, "a"), tuple[int, str]),
        ("set", {1, 2, 3}, set[int]),
        ("frozenset", frozenset({"x"}), frozenset[str]),
        ("dict with int keys", {1: "a", 2: "b"}, dict[int, str]),
        (
            "tuple in list in dict",
            {"a": [{"t": (1, 2)}]},
            dict[str, list[dict[str, tuple[int, int]]]],
        ),
        ("int over 64 bits", 2**70, int),
        ("float", 0.1, float),
    ]
    try:
        from zoneinfo import ZoneInfo

        lisbon = datetime(2024, 5, 17, 13, 45, tzinfo=ZoneInfo("Europe/Lisbon"))
        values.insert(2, ("datetime, ZoneInfo", lisbon, datetime))
    except Exception:  # no tz database on this machine: the row is left out
        pass
    return values


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (and the same time zone)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(
            same(k, next(x for x in b if x == k)) and same(v, b[k]) for k, v in a.items()
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (datetime, clock_time)):
        return bool(a == b and a.tzinfo == b.tzinfo)
    return bool(a == b)


def describe(value: Any, original: Any) -> str:
    if same(original, value):
        return "yes"
    if type(value) is type(original) and isinstance(value, datetime):
        return f"no: tz {value.tzinfo}"
    if isinstance(original, dict) and isinstance(value, dict):
        inner = [type(k).__name__ for k in value]
        if inner and inner[0] != type(next(iter(original))).__name__:
            return f"no: {inner[0]} keys"
        return "no: " + _inner_types(value)
    return f"no: {type(value).__name__}"


def _inner_types(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(_inner_types(v) for v in value.values()) + "}"
    if isinstance(value, (list, tuple)):
        return type(value).__name__ + "[" + ", ".join(_inner_types(v) for v in value) + "]"
    return type(value).__name__


def _error(exc: Exception) -> str:
    return f"error ({type(exc).__name__})"


def round_trip_cell(encode: Callable[[Any], Any], decode: Callable[[Any], Any], value: Any) -> str:
    try:
        data = encode(value)
    except Exception as exc:
        return "encode " + _error(exc)
    try:
        back = decode(data)
    except Exception as exc:
        return "decode " + _error(exc)
    return describe(back, value)


def _in_payload(value: Any) -> BusJobRequestMessage:
    return BusJobRequestMessage(source="a", target="b", job_id="j", payload={"value": value})


def _out_of(message: BusMessage) -> Any:
    assert isinstance(message, BusJobRequestMessage) and message.payload is not None
    return message.payload["value"]


def _candidate_encode(candidate: Candidate, value: Any) -> Fields:
    return candidate.encode_fields(_in_payload(value))


def _candidate_decode(candidate: Candidate, data: Fields) -> Any:
    return _out_of(candidate.decode_fields("BusJobRequestMessage", data))


def _native_encode(encode: Callable[[Any], bytes], value: Any) -> bytes:
    return encode(_in_payload(value))


def _native_decode(decode: Callable[[bytes], BusMessage], data: bytes) -> Any:
    return _out_of(decode(data))


def _orjson_native_decode(data: bytes) -> BusMessage:
    message: BusMessage = build_value(BusJobRequestMessage, orjson.loads(data), "")
    return message


def _declared_encode(encode: Callable[[Any], bytes], typed: type, value: Any) -> bytes:
    return encode(typed(source="a", value=value))


def _declared_decode(decode: Callable[[bytes], Any], data: bytes) -> Any:
    return decode(data).value


def round_trips() -> tuple[list[str], list[list[str]]]:
    """The round-trip table: each value in a payload (``dict[str, Any]``), and declared."""

    sides: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {}
    for candidate in candidates():
        if not candidate.name.startswith("msgspec JSON, no tags"):
            sides[candidate.name] = (
                functools.partial(_candidate_encode, candidate),
                functools.partial(_candidate_decode, candidate),
            )
    for label, module in (("JSON", msgspec.json), ("MessagePack", msgspec.msgpack)):
        sides[f"msgspec {label}, native"] = (
            functools.partial(_native_encode, module.encode),
            functools.partial(_native_decode, module.Decoder(BusJobRequestMessage).decode),
        )
    sides["orjson, native"] = (
        functools.partial(_native_encode, orjson.dumps),
        functools.partial(_native_decode, _orjson_native_decode),
    )
    header = [
        "value in a payload",
        *sides,
        "msgspec JSON, declared type",
        "msgspec MsgPack, declared",
    ]
    rows = []
    for index, (label, value, declared) in enumerate(round_trip_values()):
        row = [label] + [round_trip_cell(enc, dec, value) for enc, dec in sides.values()]
        typed = dataclasses.make_dataclass(
            f"RoundTrip{index}", [("value", declared)], bases=(BusDataMessage,), kw_only=True
        )
        for module in (msgspec.json, msgspec.msgpack):
            row.append(
                round_trip_cell(
                    functools.partial(_declared_encode, module.encode, typed),
                    functools.partial(_declared_decode, module.Decoder(typed).decode),
                    value,
                )
            )
        rows.append(row)
    return header, rows


def allow_list_checks() -> tuple[list[str], list[list[str]]]:
    """Whether each candidate refuses what is not registered, with a DecodeError."""
    fields = {"source": "a", "target": None, "job_id": "j"}
    unknown_dc = {TAG: "dc", "t": "subprocess.Popen", "f": {"args": "sh"}}
    unknown_enum = {TAG: "enum", "t": "os.EX_OK", "v": 0}
    json_cases = {
        "unknown message type": ("subprocess.Popen", {**fields, "payload": None}),
        "tag names an unregistered dataclass": (
            "BusJobRequestMessage",
            {**fields, "payload": {"x": unknown_dc}},
        ),
        "tag names an unregistered enum": (
            "BusJobRequestMessage",
            {**fields, "payload": {"x": unknown_enum}},
        ),
        "unexpected field": ("BusJobUpdateRequestMessage", {**fields, "evil": 1}),
        "missing field": ("BusJobUpdateRequestMessage", {"source": "a"}),
    }
    mp_cases = {
        "unknown message type": ("subprocess.Popen", {**fields, "payload": None}),
        "tag names an unregistered dataclass": (
            "BusJobRequestMessage",
            {**fields, "payload": {"x": Ext(EXT_DATACLASS, _mp_encode(("subprocess.Popen", {})))}},
        ),
        "tag names an unregistered enum": (
            "BusJobRequestMessage",
            {**fields, "payload": {"x": Ext(EXT_ENUM, _mp_encode(("os.EX_OK", 0)))}},
        ),
        "unexpected field": json_cases["unexpected field"],
        "missing field": json_cases["missing field"],
    }
    header = ["data that must be refused", *(c.name for c in candidates())]
    rows = []
    for case in json_cases:
        row = [case]
        for cand in candidates():
            msgpack = "MessagePack" in cand.name
            type_name, values = (mp_cases if msgpack else json_cases)[case]
            data = _mp_encode(values) if msgpack else json.dumps(values)
            try:
                back = cand.decode_fields(type_name, data)
            except DecodeError:
                row.append("DecodeError")
                continue
            except Exception as exc:
                row.append(f"{type(exc).__name__} (not a DecodeError)")
                continue
            row.append(f"accepted: {type(back).__name__}")
        rows.append(row)
    return header, rows


# --- timing -----------------------------------------------------------------------------


def per_call_ns(function: Callable[[Any], Any], argument: Any, count: int) -> float:
    """Nanoseconds a call, over ``count`` calls with the garbage collector paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.process_time_ns()
        for _ in repeat(None, count):
            function(argument)
        return (time.process_time_ns() - start) / count
    finally:
        if enabled:
            gc.enable()


def over_list_ns(function: Callable[[Any], Any], items: list[Any]) -> float:
    """Nanoseconds a call, calling ``function`` on every item (collector paused)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.process_time_ns()
        for item in items:
            function(item)
        return (time.process_time_ns() - start) / len(items)
    finally:
        if enabled:
            gc.enable()


Op = tuple[Callable[[Any], Any], Any]


def interleaved(ops: dict[str, Op], rounds: int, target_ms: float = 8.0) -> dict[str, float]:
    """Median ns a call of each op, the ops taking turns in every round (A B C, A B C)."""
    counts = {}
    for name, (function, argument) in ops.items():
        once = per_call_ns(function, argument, 50)
        counts[name] = max(50, min(50_000, int(target_ms * 1e6 / max(once, 1.0))))
    samples: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(rounds):
        for name, (function, argument) in ops.items():
            samples[name].append(per_call_ns(function, argument, counts[name]))
    return {name: statistics.median(values) for name, values in samples.items()}


def works(function: Callable[[Any], Any], argument: Any) -> bool:
    try:
        function(argument)
    except (EncodeError, DecodeError, msgspec.MsgspecError, TypeError, ValueError):
        return False
    return True


def measure_messages(cands: list[Candidate], rounds: int) -> list[dict[str, Any]]:
    """Per message kind and candidate: ns a fields encode/decode, envelope encode/decode, bytes.

    Every round times every op of every message kind once, so a slow spell of the
    machine is spread over all of them instead of landing on one message kind.
    """
    rng = random.Random(3)
    ops: dict[str, Op] = {}
    rows: list[dict[str, Any]] = []
    for kind, message in sample_messages().items():
        envelope = envelope_of(message, 42, rng)
        type_name = codec.wire_name(type(message))
        for cand in cands:
            row: dict[str, Any] = {"message": kind, "candidate": cand.name, "works": False}
            rows.append(row)
            if not works(cand.encode_fields, message):
                continue
            fields = cand.encode_fields(message)
            decode = functools.partial(cand.decode_fields, type_name)
            if not works(decode, fields):
                continue
            key = f"{kind}|{cand.name}|"
            ops[key + "fields encode"] = (cand.encode_fields, message)
            ops[key + "fields decode"] = (decode, fields)
            row.update(works=True, fields_bytes=len(_bytes(fields)), envelope_bytes=None)
            row["round_trips"] = round_trips_whole(cand, type_name, fields, message)
            if cand.envelopes:
                data = cand.encode_envelope(envelope)
                ops[key + "envelope encode"] = (cand.encode_envelope, envelope)
                ops[key + "envelope decode"] = (cand.decode_envelope, data)
                row["envelope_bytes"] = len(data)
    timed = interleaved(ops, rounds)
    for row in rows:
        if row["works"]:
            key = f"{row['message']}|{row['candidate']}|"
            for op in ("fields encode", "fields decode", "envelope encode", "envelope decode"):
                row[op.replace(" ", "_") + "_ns"] = timed.get(key + op)
    return rows


def round_trips_whole(cand: Candidate, type_name: str, fields: Fields, message: BusMessage) -> bool:
    """Whether ``fields`` decode back into a message equal to ``message``, types and all."""
    try:
        back = cand.decode_fields(type_name, fields)
    except (DecodeError, msgspec.MsgspecError, TypeError, ValueError):
        return False
    return type(back) is type(message) and same(field_values(back), field_values(message))


def _bytes(data: Fields) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def _decode_row(decode: Callable[[str, Fields], BusMessage], row: tuple[str, Fields]) -> Any:
    return decode(*row)


def measure_mix(cands: list[Candidate], rounds: int, count: int) -> list[dict[str, Any]]:
    """The whole voice-agent-like mix: ns a message for each candidate, taking turns."""
    messages = mix_messages(count)
    rng = random.Random(5)
    envelopes = [envelope_of(m, i + 1, rng) for i, m in enumerate(messages)]
    names = [codec.wire_name(type(m)) for m in messages]
    prepared = {}
    for cand in cands:
        fields = [cand.encode_fields(m) for m in messages]
        rows = list(zip(names, fields, strict=True))
        data = [cand.encode_envelope(e) for e in envelopes] if cand.envelopes else []
        lossy = sum(
            not round_trips_whole(cand, t, f, m) for (t, f), m in zip(rows, messages, strict=True)
        )
        prepared[cand.name] = (rows, data, fields, lossy)
    samples: dict[str, dict[str, list[float]]] = {cand.name: {} for cand in cands}
    for _ in range(rounds):
        for cand in cands:
            rows, data, _, _ = prepared[cand.name]
            got = samples[cand.name]
            got.setdefault("fields encode", []).append(over_list_ns(cand.encode_fields, messages))
            got.setdefault("fields decode", []).append(
                over_list_ns(functools.partial(_decode_row, cand.decode_fields), rows)
            )
            if cand.envelopes:
                got.setdefault("envelope encode", []).append(
                    over_list_ns(cand.encode_envelope, envelopes)
                )
                got.setdefault("envelope decode", []).append(
                    over_list_ns(cand.decode_envelope, data)
                )
    results = []
    for cand in cands:
        rows, data, fields, lossy = prepared[cand.name]
        result: dict[str, Any] = {
            "candidate": cand.name,
            "meets_requirement": cand.meets_requirement,
            "messages": count,
            "lossy": lossy,
        }
        for op, values in samples[cand.name].items():
            result[op.replace(" ", "_") + "_ns"] = statistics.median(values)
        result["fields_bytes"] = sum(len(_bytes(f)) for f in fields) / count
        result["envelope_bytes"] = sum(map(len, data)) / count if data else None
        results.append(result)
    return results


def measure_rebuild(cands: list[Candidate], rounds: int, count: int) -> list[dict[str, Any]]:
    """Decoding ``count`` stored rows (type name, fields as the column returns them)."""
    messages = mix_messages(count, seed=11)
    names = [codec.wire_name(type(m)) for m in messages]
    stored = {}
    for cand in cands:
        encoded = [cand.encode_fields(m) for m in messages]
        if cand.name.startswith(("msgspec JSON", "orjson", "stdlib")):
            encoded = [f.decode() if isinstance(f, bytes) else f for f in encoded]  # TEXT
        stored[cand.name] = list(zip(names, encoded, strict=True))
    del messages
    gc.collect()
    samples: dict[str, list[float]] = {cand.name: [] for cand in cands}
    for _ in range(rounds):
        for cand in cands:
            decode, rows = cand.decode_fields, stored[cand.name]
            gc.collect()
            start = time.process_time()
            for type_name, fields in rows:
                decode(type_name, fields)
            samples[cand.name].append(time.process_time() - start)
    return [
        {
            "candidate": cand.name,
            "rows": count,
            "median_s": statistics.median(samples[cand.name]),
            "min_s": min(samples[cand.name]),
            "rows_per_s": count / statistics.median(samples[cand.name]),
            "stored_as": "bytes (BLOB)" if "MessagePack" in cand.name else "str (TEXT)",
        }
        for cand in cands
    ]


# --- report -----------------------------------------------------------------------------


def _rate(ns: float | None) -> str:
    return f"{1e9 / ns / 1000:,.0f}k" if ns else "-"


def _ratio(ns: float | None, base: float | None) -> str:
    return f"{base / ns:.2f}x" if ns and base else "-"


def report(
    mix: list[dict[str, Any]],
    per_message: list[dict[str, Any]],
    rebuild: list[dict[str, Any]],
    trips: tuple[list[str], list[list[str]]],
    allow: tuple[list[str], list[list[str]]],
    record: dict[str, Any],
) -> str:
    base = mix[0]
    rebuilt = {r["candidate"]: r for r in rebuild}
    summary = []
    for row in mix:
        re_row = rebuilt[row["candidate"]]
        lossy = row["lossy"]
        summary.append(
            [
                row["candidate"],
                "yes" if row["meets_requirement"] else "no",
                "yes" if not lossy else f"no ({lossy:,} of {row['messages']:,} differ)",
                _rate(row["fields_encode_ns"]),
                _ratio(row["fields_encode_ns"], base["fields_encode_ns"]),
                _rate(row["fields_decode_ns"]),
                _ratio(row["fields_decode_ns"], base["fields_decode_ns"]),
                f"{row['fields_bytes']:.0f}",
                _rate(row.get("envelope_encode_ns")),
                _rate(row.get("envelope_decode_ns")),
                f"{row['envelope_bytes']:.0f}" if row["envelope_bytes"] else "-",
                f"{re_row['median_s']:.3f} s ({re_row['rows_per_s'] / 1000:,.0f}k/s)",
                _ratio(re_row["median_s"], rebuilt[base["candidate"]]["median_s"]),
            ]
        )
    detail = []
    for row in per_message:
        if not row["works"]:
            detail.append([row["message"], row["candidate"], "cannot encode", *["-"] * 7])
            continue
        detail.append(
            [
                row["message"],
                row["candidate"],
                "yes" if row["round_trips"] else "no",
                _rate(row["fields_encode_ns"]),
                _rate(row["fields_decode_ns"]),
                str(row["fields_bytes"]),
                _rate(row["envelope_encode_ns"]),
                _rate(row["envelope_decode_ns"]),
                str(row["envelope_bytes"] or "-"),
                f"{row['fields_encode_ns'] / 1000:.2f} / {row['fields_decode_ns'] / 1000:.2f}",
            ]
        )
    header, rows = trips
    return "\n".join(
        [
            "### Codec candidates on pipebus's messages (issue #13)",
            "",
            f"CPU time of the process, medians of {record['repeat']} rounds, the candidates "
            "taking turns in each "
            f"round (the rebuild: {record['rebuild_rounds']} rounds). The mix: "
            f"{record['mix']:,} messages of benchmarks.session_mix's voice-agent mix (frames, "
            "transcripts, job traffic, lifecycle). Rebuild: decoding "
            f"{record['rows']:,} stored rows of that mix (type name + fields, as the "
            'column returns them) into messages, collector running. "+ tags": the '
            "untyped fields are walked in Python so that every value type of issue #13 "
            'round-trips (see the last table); "pipebus" is the codec as it is. '
            '"mix round-trips": every message of the mix decodes equal, '
            f"types and all. msgspec {msgspec.__version__}, orjson {orjson.__version__}, "
            f"Python {record['python']}. Speed probe at the start: "
            f"{record['speed_probe_start_us']:.0f} us.",
            "",
            markdown(
                [
                    "candidate",
                    "#13 types round-trip",
                    "mix round-trips",
                    "fields enc/s",
                    "vs pipebus",
                    "fields dec/s",
                    "vs pipebus",
                    "fields B",
                    "envelope enc/s",
                    "envelope dec/s",
                    "envelope B",
                    f"rebuild {record['rows'] // 1000}k rows",
                    "vs pipebus",
                ],
                summary,
            ),
            "",
            "Envelope encode includes encoding the fields; envelope decode includes "
            'building the message. "-": not built for that candidate.',
            "",
            "#### Per message",
            "",
            markdown(
                [
                    "message",
                    "candidate",
                    "round-trips",
                    "fields enc/s",
                    "fields dec/s",
                    "fields B",
                    "envelope enc/s",
                    "envelope dec/s",
                    "envelope B",
                    "fields us enc / dec",
                ],
                detail,
            ),
            "",
            "#### Which payload values come back as the same type",
            "",
            "Each value sent as `payload={'value': v}` of a `BusJobRequestMessage` "
            "(`dict[str, Any]`), except the two last columns: a message whose field is "
            "declared with the value's type (`value: datetime`), msgspec decoding by the "
            'type alone. "native": the library as it is, without tags (orjson then '
            "through today's builder).",
            "",
            markdown(header, rows),
            "",
            "#### The allow-list: what each candidate does with data it must refuse",
            "",
            markdown(*allow),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="rounds (medians are reported)")
    parser.add_argument("--rows", type=int, default=100_000, help="stored rows to decode")
    parser.add_argument("--mix", type=int, default=5_000, help="messages in the mix")
    args = parser.parse_args()
    probe = speed_probe_us()
    cands = candidates()
    trips = round_trips()
    allow = allow_list_checks()
    per_message = measure_messages(cands, args.repeat)
    mix = measure_mix(cands, args.repeat, args.mix)
    rebuild_rounds = max(3, args.repeat // 2 + 1)
    rebuild = measure_rebuild(cands, rebuild_rounds, args.rows)
    record: dict[str, Any] = {
        "repeat": args.repeat,
        "rebuild_rounds": rebuild_rounds,
        "python": platform.python_version(),
        "rows": args.rows,
        "mix": args.mix,
        "speed_probe_start_us": probe,
        "versions": {"msgspec": msgspec.__version__, "orjson": orjson.__version__},
    }
    text = report(mix, per_message, rebuild, trips, allow, record)
    print(text)
    save(
        "codec_candidates",
        {
            **record,
            "mix_results": mix,
            "per_message": per_message,
            "rebuild": rebuild,
            "round_trips": {"header": trips[0], "rows": trips[1]},
            "allow_list": {"header": allow[0], "rows": allow[1]},
        },
        text,
    )


if __name__ == "__main__":
    main()
