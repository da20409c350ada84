"""The one codec: message fields and values to JSON and back (envelopes: ``wire``).

The event log stores a message as its type's wire name plus the JSON of its fields;
Redis carries the whole envelope (:mod:`pipebus.core.wire`), built on this module.

Only registered types decode (see :mod:`pipebus.core.catalog`); nothing is imported
because data named it. A value comes back as the type it was sent as. JSON holds
``str``, ``int`` (any size), ``float``, ``bool``, ``None``, lists and dicts keyed by
strings as themselves; every other supported value is written as a small tagged
object, ``{"$pb": <tag>, ...}``:

============================  =========================================================
``b``, ``ba``                 ``bytes`` (``memoryview`` too), ``bytearray``: base64
``dt``, ``date``, ``time``    ISO 8601; ``z``: a ``zoneinfo.ZoneInfo``'s key, ``fold``: 1
``td``                        ``timedelta`` as ``[days, seconds, microseconds]``
``dec``, ``uuid``             ``Decimal``, ``UUID``, as their strings
``tuple``, ``set``, ``fset``  ``tuple``, ``set``, ``frozenset``: their items as a list
``map``                       a dict with keys that are not all strings: ``[[k, v], ...]``
``float``                     NaN and the infinities (``"nan"``, ``"inf"``, ``"-inf"``),
                              which JSON has no number for
``enum``                      a registered enum: wire name ``t`` and value ``v``
``dc``                        a registered dataclass: wire name ``t`` and fields ``f``
``worker``                    a worker (``WorkerHandle``), read back as a ``WorkerRef``
============================  =========================================================

A ``memoryview`` comes back as ``bytes``, a worker as a ``WorkerRef``, a subclass of
``str``, ``int`` or ``float`` that is not an enum (``numpy.float64``) as the base
type. Anything else (an unregistered dataclass or enum, a ``NamedTuple``, an
``OrderedDict``, a datetime in a pytz zone, an arbitrary object, a dict keyed by
``"$pb"``) raises :class:`~pipebus.core.errors.EncodeError` naming the field path and
the type; malformed input raises :class:`~pipebus.core.errors.DecodeError` naming the
problem.

Encoding walks the fields once in Python, building tagged copies only of the
containers that need them, and leaves the text to msgspec's JSON encoder (in C,
:data:`_engine`), which writes it about 2.7 times as fast as the standard library's
(``python -m benchmarks.codec_candidates``). The walk skips the fields a dataclass
declares as scalars (``str``, ``int | None``...) or enums: the engine writes those as
they are (an enum as its value, which the builder reads back as the declared enum) and
hands what it cannot write itself to the walk. A value of another type than declared is
written as the engine writes it natively (a tuple in a ``str`` field comes back a list,
a datetime an ISO string).

Decoding uses the standard library's C scanner (:func:`_scan`, :func:`_scan_tagged`):
its object hook reads a tagged value back as the scanner meets it. Measured on
pipebus's message mix, msgspec's untyped decoder made decoding 8% faster on the texts
without tags and none faster on the whole mix once tags are read back in Python (the
builder, not the parser, is most of a decode); msgspec's typed decoding of dataclasses
ignores unexpected fields, which this codec must refuse.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
import types
import typing
import uuid
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

import msgspec

from pipebus.core.catalog import CATALOG
from pipebus.core.errors import DecodeError, EncodeError
from pipebus.core.frames import Frame
from pipebus.core.messages import BusMessage, WorkerHandle

TAG = "$pb"
_TAG_BYTES = TAG.encode()

SCALARS = frozenset({str, int, float, bool, type(None)})
"""The types JSON holds as themselves (exactly these: subclasses are walked)."""

_AS_IS = frozenset({str, int, bool, type(None)})
"""What the walk passes over: JSON holds every value of these types as itself. A float
is looked at, because JSON has no number for NaN and the infinities."""


# --- encoding: one walk that tags what JSON cannot hold --------------------------------


def _tag(value: Any) -> Any:
    """``value`` as JSON data: itself if JSON holds it as it is, else a tagged copy.

    Raises:
        EncodeError: Naming the type that cannot be written (the caller adds where).
    """
    kind = type(value)
    if kind is dict:
        return _tag_dict(value)
    if kind is list:
        return _tag_list(value)
    if kind in _AS_IS:
        return value
    tagger = _TAGGERS.get(kind)
    if tagger is None:
        tagger = _tagger_for(kind)
    return tagger(value)


def _tag_dict(value: dict[Any, Any]) -> Any:
    copy = None
    for key, item in value.items():
        if type(key) is not str:
            return _tag_map(value)
        kind = type(item)
        if kind in _AS_IS or (kind is float and item - item == 0.0):  # 0.0 unless NaN or inf
            continue
        new = _tag_dict(item) if kind is dict else _tag(item)
        if new is not item:
            if copy is None:
                copy = value.copy()
            copy[key] = new
    if TAG in value:
        raise EncodeError(f"the dict key {TAG!r} is reserved by the codec")
    return value if copy is None else copy


def _tag_list(value: list[Any]) -> list[Any]:
    for item in value:
        kind = type(item)
        if kind not in _AS_IS and (kind is not float or item - item != 0.0):
            break
    else:
        return value  # the common case: a list of plain values, nothing to copy
    return [item if type(item) in _AS_IS else _tag(item) for item in value]


def _items(value: Any) -> list[Any]:
    return [item if type(item) in _AS_IS else _tag(item) for item in value]


def _tag_map(value: dict[Any, Any]) -> dict[str, Any]:
    return {
        TAG: "map",
        "v": [
            [
                key if type(key) in _AS_IS else _tag(key),
                item if type(item) in _AS_IS else _tag(item),
            ]
            for key, item in value.items()
        ],
    }


def _tag_fields(values: dict[str, Any], walked: tuple[str, ...], owned: bool) -> dict[str, Any]:
    """A dataclass's field values as JSON data: the fields in ``walked`` walked.

    The other fields are declared as scalars or enums; what they hold is written by the
    JSON engine (through :func:`_tag` for what it cannot write itself). ``owned``:
    ``values`` is the caller's copy, which may be changed in place.
    """
    copy = values if owned else None
    for name in walked:
        item = values[name]
        if type(item) not in _AS_IS:
            new = _tag(item)
            if new is not item:
                if copy is None:
                    copy = values.copy()
                copy[name] = new
    return values if copy is None else copy


def _tag_bytes(value: bytes | memoryview) -> dict[str, Any]:
    return {TAG: "b", "v": base64.b64encode(value).decode("ascii")}


def _tag_bytearray(value: bytearray) -> dict[str, Any]:
    return {TAG: "ba", "v": base64.b64encode(value).decode("ascii")}


def _tag_clock(tag: str, value: datetime | time) -> dict[str, Any]:
    """A datetime or time: its ISO text, and what that text cannot say of its zone."""
    tagged: dict[str, Any] = {TAG: tag, "v": value.isoformat()}
    zone = value.tzinfo
    if zone is not None:
        kind = type(zone)
        if kind is zoneinfo.ZoneInfo:
            key: str | None = zone.key  # type: ignore[attr-defined]
            if key is None:
                raise EncodeError(
                    f"cannot encode a {_CLOCKS[tag]} in a ZoneInfo made without a key"
                )
            tagged["z"] = key
        elif kind is not timezone:
            raise EncodeError(
                f"cannot encode a {_CLOCKS[tag]} whose tzinfo is a {kind.__qualname__}: "
                "use datetime.timezone or zoneinfo.ZoneInfo"
            )
        else:
            offset = zone.utcoffset(None)
            if offset is not None and offset % _SECOND:  # fromisoformat would drop them
                tagged["us"] = offset // _MICROSECOND
    if value.fold:
        tagged["fold"] = 1
    return tagged


_CLOCKS = {"dt": "datetime", "time": "time"}
_SECOND = timedelta(seconds=1)
_MICROSECOND = timedelta(microseconds=1)


def _tag_enum(value: Enum) -> dict[str, Any]:
    entry = CATALOG.by_class(type(value))
    if entry is None or entry.kind != "enum":
        raise EncodeError(
            f"enum {type(value).__qualname__} is not registered with the codec: "
            "call pipebus.register_type() on it"
        )
    raw = value._value_
    return {TAG: "enum", "t": entry.wire_name, "v": raw if type(raw) in _AS_IS else _tag(raw)}


def _tag_dataclass(value: Any) -> dict[str, Any]:
    cls = type(value)
    entry = CATALOG.by_class(cls)
    if entry is None:
        raise EncodeError(
            f"dataclass {cls.__qualname__} is not registered with the codec: "
            "subclass Frame or call pipebus.register_type() on it"
        )
    if entry.kind != "value":
        raise EncodeError(f"a {cls.__qualname__} message cannot be sent inside another message")
    walked = _walked.get(cls)
    if walked is None:
        walked = _walked_fields(cls)
    return {TAG: "dc", "t": entry.wire_name, "f": _tag_fields(field_values(value), walked, True)}


def _tag_worker(value: Any) -> dict[str, Any]:
    if type(value) is WorkerRef:
        return {TAG: "worker", "name": value.name, "class": value.class_name}
    return {TAG: "worker", "name": value.name, "class": type(value).__qualname__}


def _refuse(value: Any) -> Any:
    kind = type(value)
    for base in (dict, list, tuple, set, frozenset):
        if isinstance(value, base):
            raise EncodeError(
                f"cannot encode a value of type {kind.__qualname__} (a {base.__name__} "
                f"subclass): it would come back as a plain {base.__name__}; send a "
                f"{base.__name__} or a registered dataclass"
            )
    raise EncodeError(
        f"cannot encode a value of type {kind.__qualname__}: send JSON values, bytes, "
        "dates and times, Decimal, UUID, tuples, sets, or a dataclass or enum "
        "registered with pipebus.register_type()"
    )


def _tag_float(value: float) -> Any:
    """A float as itself, or tagged if it is NaN or infinite (JSON has no number for them)."""
    if value - value == 0.0:  # false for NaN and both infinities only
        return value
    return {TAG: "float", "v": "nan" if value != value else ("inf" if value > 0 else "-inf")}


_TAGGERS: dict[type, Callable[[Any], Any]] = {
    float: _tag_float,
    bytes: _tag_bytes,
    bytearray: _tag_bytearray,
    memoryview: _tag_bytes,
    datetime: lambda v: _tag_clock("dt", v),
    date: lambda v: {TAG: "date", "v": v.isoformat()},
    time: lambda v: _tag_clock("time", v),
    timedelta: lambda v: {TAG: "td", "v": [v.days, v.seconds, v.microseconds]},
    Decimal: lambda v: {TAG: "dec", "v": str(v)},
    uuid.UUID: lambda v: {TAG: "uuid", "v": str(v)},
    tuple: lambda v: {TAG: "tuple", "v": _items(v)},
    set: lambda v: {TAG: "set", "v": _items(v)},
    frozenset: lambda v: {TAG: "fset", "v": _items(v)},
}
"""How to tag a value, by its exact type; filled in for other types as they are met."""


def _tagger_for(kind: type) -> Callable[[Any], Any]:
    """How to tag a value of a type met for the first time (kept once it is known)."""
    tagger: Callable[[Any], Any]
    if issubclass(kind, Enum):
        tagger = _tag_enum
    elif issubclass(kind, WorkerHandle) or kind is WorkerRef:
        tagger = _tag_worker
    elif dataclasses.is_dataclass(kind):
        tagger = _tag_dataclass
    elif issubclass(kind, float):
        tagger = lambda value: _tag_float(float(value))  # noqa: E731
    elif issubclass(kind, (str, int)):
        tagger = str if issubclass(kind, str) else int
    else:
        return _refuse  # not kept: the type may be registered later
    _TAGGERS[kind] = tagger
    return tagger


_engine = msgspec.json.Encoder(enc_hook=_tag)
"""The JSON engine: msgspec's encoder, in C. The walk has tagged what the fields a
dataclass does not declare as scalars hold; in a field declared as a scalar or enum,
the engine writes a value as it is (an enum as its value) and hands what it cannot
write itself to :func:`_tag` (``enc_hook``)."""


def _dump(data: Any) -> str:
    """The text of JSON data (what the walk made).

    Raises:
        EncodeError: If a string holds a lone surrogate, which UTF-8 cannot hold (the
            event log and Redis could not store the text).
    """
    try:
        return _engine.encode(data).decode()
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise EncodeError(
            f"a string holds the lone surrogate {bad!r}, which UTF-8 cannot hold "
            "(surrogates not allowed)"
        ) from None


def dumps_tagged(value: Any, what: str) -> str:
    """The JSON text of ``value``, or an EncodeError that starts with ``what``."""
    try:
        return _dump(_tag(value))
    except EncodeError as exc:
        where = _where(value, "")
        raise EncodeError(f"{what}: {where}: {exc}" if where else f"{what}: {exc}") from None
    except RecursionError as exc:
        raise EncodeError(f"{what}: {exc}") from None


def _where(value: Any, path: str) -> str:
    """The path in ``value`` to what cannot be written (the error's rare path: walks again)."""
    for label, child in _children(value):
        if _refused(child):
            return _where(child, path + label)
    return path


def _refused(value: Any) -> bool:
    try:
        _dump(_tag(value))  # the walk, and the JSON engine for fields declared as scalars
    except (EncodeError, RecursionError):
        return True
    return False


def _children(value: Any) -> list[tuple[str, Any]]:
    """The parts of a value the walk tags one by one, each with its label in a path."""
    kind = type(value)
    if kind is dict:
        if all(type(key) is str for key in value):
            return [(f"[{key!r}]", item) for key, item in value.items()]
        keys = [(f" (the key {key!r})", key) for key in value]
        return keys + [(f"[{key!r}]", item) for key, item in value.items()]
    if kind in (list, tuple, set, frozenset):
        return [(f"[{index}]", item) for index, item in enumerate(value)]
    if isinstance(value, Enum):
        return [(".value", value.value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f".{name}", item) for name, item in field_values(value).items()]
    return []


def field_values(value: Any) -> dict[str, Any]:
    """A dataclass instance's fields as a dict (its ``__dict__`` when that is just them)."""
    names = _field_names(type(value))
    values = getattr(value, "__dict__", None)
    if values is not None and len(values) == len(names):
        return dict(values)
    return {name: getattr(value, name) for name in names}


_names_cache: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _names_cache.get(cls)
    if names is None:
        names = _names_cache[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


_walked: dict[type, tuple[str, ...]] = {}


def _walked_fields(cls: type) -> tuple[str, ...]:
    """The fields of dataclass ``cls`` that the walk must look into, found once.

    Every field but those declared as scalars (``str``, ``int | None``...) or as an
    enum of strs or ints: JSON writes those as they are, and the builder reads a declared
    enum back. A field declared ``float`` is walked: it may hold a NaN, which JSON has
    no number for.
    """
    namespace = vars(sys.modules.get(cls.__module__, sys))
    walked = _walked[cls] = tuple(
        f.name for f in dataclasses.fields(cls) if not _written_as_is(f.type, namespace)
    )
    return walked


def _written_as_is(annotation: Any, namespace: dict[str, Any]) -> bool:
    """Whether the engine writes a value of this declared type as the codec would.

    Scalars, and enums whose members are strs or ints (written as their value, which
    the builder reads back as the declared enum). A plain ``Enum`` is walked: it is
    written tagged, as it always was, so the text of a message does not change.
    """
    plain, enum = _declared(annotation, namespace)
    return plain and (enum is None or issubclass(enum, (str, int)))


def _declared(annotation: Any, namespace: dict[str, Any]) -> tuple[bool, type[Enum] | None]:
    """Whether a declared type is plain (scalars and one enum at most), and its enum.

    Names in a string annotation resolve in the class's module, never by importing.
    """
    parts = _union_parts(annotation, namespace)
    enums = [part for part in parts if isinstance(part, type) and issubclass(part, Enum)]
    plain = len(enums) <= 1 and all(part in _SCALAR_TYPES or part in enums for part in parts)
    return plain, enums[0] if enums else None


_SCALAR_TYPES = (str, int, bool, type(None), None)
_SCALAR_NAMES = {"str": str, "int": int, "float": float, "bool": bool, "None": type(None)}


def _union_parts(annotation: Any, namespace: dict[str, Any]) -> list[Any]:
    if isinstance(annotation, str):
        names = [name.strip() for name in annotation.split("|")]
        return [_SCALAR_NAMES.get(name) or namespace.get(name, name) for name in names]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [part for arg in typing.get_args(annotation) for part in _union_parts(arg, {})]
    return [annotation]


# --- decoding ---------------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _zoned(value: Any, obj: dict[str, Any]) -> Any:
    """A parsed datetime or time with the zone, offset and fold its tag carries."""
    key, micros, fold = obj.get("z"), obj.get("us"), obj.get("fold", 0)
    if fold not in (0, 1) or type(fold) is bool:
        raise ValueError(f"fold must be 0 or 1, got {fold!r}")
    if key is not None:
        value = value.replace(tzinfo=zoneinfo.ZoneInfo(_text(key)))
    elif micros is not None:
        value = value.replace(tzinfo=timezone(_int(micros) * _MICROSECOND))
    return value.replace(fold=1) if fold else value


def _untag_float(obj: dict[str, Any]) -> float:
    value = obj["v"]
    if value not in ("nan", "inf", "-inf"):
        raise ValueError(f"{value!r} is not nan, inf or -inf")
    return float(value)


def _untag_timedelta(obj: dict[str, Any]) -> timedelta:
    parts = _list(obj["v"])
    if len(parts) != 3:
        raise ValueError("expected [days, seconds, microseconds]")
    days, seconds, microseconds = map(_int, parts)
    return timedelta(days, seconds, microseconds)


def _untag_map(obj: dict[str, Any]) -> dict[Any, Any]:
    out = {}
    for pair in _list(obj["v"]):
        if type(pair) is not list or len(pair) != 2:
            raise ValueError("each item must be a [key, value] pair")
        out[pair[0]] = pair[1]
    return out


_UNTAGGERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "ba": lambda o: bytearray(base64.b64decode(o["v"], validate=True)),
    "dt": lambda o: _zoned(datetime.fromisoformat(o["v"]), o),
    "date": lambda o: date.fromisoformat(o["v"]),
    "time": lambda o: _zoned(time.fromisoformat(o["v"]), o),
    "td": _untag_timedelta,
    "dec": lambda o: Decimal(_text(o["v"])),
    "uuid": lambda o: uuid.UUID(_text(o["v"])),
    "tuple": lambda o: tuple(_list(o["v"])),
    "set": lambda o: set(_list(o["v"])),
    "fset": lambda o: frozenset(_list(o["v"])),
    "map": _untag_map,
    "float": _untag_float,
    "worker": lambda o: WorkerRef(name=str(o.get("name")), class_name=str(o.get("class"))),
}
"""How to read each tag back but the three :func:`_decode_tagged` reads itself (``b``,
``dc``, ``enum``); nothing else is ever read."""

_TAG_NOUNS = {"b": "bytes", "dc": "dataclass", "ba": "bytearray", "dt": "datetime"}
_TAG_NOUNS |= {"td": "timedelta", "dec": "Decimal", "uuid": "UUID", "fset": "frozenset"}


def _decode_tagged(obj: dict[str, Any]) -> Any:
    """``json.loads(object_hook=...)``: turn tagged objects back into values."""
    tag = obj.get(TAG)
    if tag is None:
        return obj
    try:
        # The tags of frames (their bytes, direction and class) first, without a lookup.
        if tag == "b":
            return base64.b64decode(obj["v"], validate=True)
        if tag == "dc":
            name = obj.get("t")
            return build_value(registered_type(name, "value"), obj.get("f"), str(name))
        if tag == "enum":
            cls = registered_type(obj.get("t"), "enum")
            try:
                return cls(obj.get("v"))
            except (ValueError, TypeError):
                raise DecodeError(
                    f"{obj.get('v')!r} is not a value of enum {obj.get('t')}"
                ) from None
        untag = _UNTAGGERS.get(tag) if type(tag) is str else None
        if untag is None:
            raise DecodeError(f"unknown tagged value {tag!r}")
        return untag(obj)
    except DecodeError:
        raise
    except (KeyError, ValueError, TypeError, ArithmeticError, OSError) as exc:
        raise DecodeError(f"bad {_TAG_NOUNS.get(tag, tag)} value: {exc}") from None


def registered_type(name: object, kind: str) -> type:
    """The class registered under wire name ``name`` as a ``kind``.

    Raises:
        DecodeError: If no such type is registered (nothing is ever imported).
    """
    entry = CATALOG.by_name(name) if isinstance(name, str) else None
    if entry is None or entry.kind != kind:
        raise DecodeError(f"unknown {kind} type {name!r}: it is not registered with the codec")
    return entry.cls


# --- messages -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerRef:
    """What a decoded ``BusAddWorkerMessage`` holds instead of the worker object."""

    name: str
    class_name: str


def encode_message(message: BusMessage) -> str:
    """The JSON text of a message's fields.

    Raises:
        EncodeError: If the message's type is not registered or a field cannot be
            written (the error names the field's path and the value's type).
    """
    cls = type(message)
    plan = _message_plans.get(cls)
    if plan is None:
        plan = _message_plan(cls)
    walked, count = plan
    values = getattr(message, "__dict__", None)  # read as it is: the walk copies on change
    if values is None or len(values) != count:
        values = field_values(message)
    try:
        # _tag_fields and _dump, inlined: this is the send path.
        copy = None
        for name in walked:
            item = values[name]
            kind = type(item)
            if kind is dict:
                new = _tag_dict(item)
            elif kind in _AS_IS or (kind is float and item - item == 0.0):
                continue
            else:
                new = _tag(item)
            if new is not item:
                if copy is None:
                    copy = values.copy()
                copy[name] = new
        return _dump(values if copy is None else copy)
    except EncodeError as exc:
        raise EncodeError(f"{cls.__name__}: {_where_in_fields(values)}: {exc}") from None
    except RecursionError as exc:
        raise EncodeError(f"{cls.__name__}: {exc}") from None


_message_plans: dict[type, tuple[tuple[str, ...], int]] = {}


def _message_plan(cls: type) -> tuple[tuple[str, ...], int]:
    """A registered message type's walked fields and number of fields, found once."""
    if CATALOG.by_class(cls) is None:
        raise EncodeError(f"message type {cls.__qualname__} is not registered")
    plan = _message_plans[cls] = (_walked_fields(cls), len(_field_names(cls)))
    return plan


def _where_in_fields(values: dict[str, Any]) -> str:
    for name, item in values.items():
        if _refused(item):
            return _where(item, name)
    return "fields"


def wire_name(message_type: type) -> str:
    """The stable wire name of a registered message type."""
    entry = CATALOG.by_class(message_type)
    if entry is None:
        raise EncodeError(f"message type {message_type.__qualname__} is not registered")
    return entry.wire_name


def decode_message(type_name: str, fields_json: str | bytes | dict[str, Any]) -> BusMessage:
    """Rebuild a message from its wire type name and the JSON of its fields.

    ``fields_json`` is the text :func:`encode_message` wrote, or that text already
    parsed into a dict (as a JSON column hands it back); tagged values decode either way.

    Raises:
        DecodeError: For an unknown type, malformed JSON, or missing or unexpected fields.
    """
    entry = CATALOG.by_name(type_name) if type(type_name) is str else None
    if entry is not None and entry.kind == "message" and type(fields_json) is str:
        # The replay's hot path, inlined: the JSON text of a registered type's fields.
        values = _scan_whole(fields_json)
        if type(values) is dict:
            message = (_builders.get(entry.cls) or _builder(entry.cls))(values, type_name)
            assert isinstance(message, BusMessage)
            return message
    cls = registered_type(type_name, "message")
    if isinstance(fields_json, dict):
        try:
            values = _untag(fields_json)
        except RecursionError:
            raise DecodeError(f"{type_name} fields are nested too deeply") from None
    else:
        values = loads_tagged(fields_json, f"{type_name} fields")
    message = build_value(cls, values, type_name)
    assert isinstance(message, BusMessage)
    return message


def _untag(value: Any) -> Any:
    """What ``json.loads(object_hook=...)`` makes of JSON that was parsed without it."""
    if isinstance(value, dict):
        return _decode_tagged({key: _untag(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_untag(item) for item in value]
    return value


def loads_tagged(text: str | bytes, what: str) -> Any:
    """Parse JSON, turning tagged objects back into values.

    Raises:
        DecodeError: If the text is not JSON (``what`` names it in the message).
    """
    if type(text) is str:
        value = _scan_whole(text)
        if value is not _UNSCANNED:
            return value
    tagged = (TAG in text) if isinstance(text, str) else (_TAG_BYTES in text)
    try:
        # Most payloads hold no tagged value: parse them without a Python hook per dict.
        return json.loads(text, object_hook=_decode_tagged) if tagged else json.loads(text)
    except DecodeError:
        raise
    except (ValueError, TypeError, RecursionError) as exc:
        raise DecodeError(f"{what} are not valid JSON: {exc}") from None


_Scanner = Callable[[str, int], tuple[Any, int]]
_scan: _Scanner = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_scan_tagged: _Scanner = json.JSONDecoder(object_hook=_decode_tagged).scan_once  # type: ignore[attr-defined]
_UNSCANNED = object()


def _scan_whole(text: str) -> Any:
    """``text`` parsed by the C scanner, or ``_UNSCANNED`` if it is not exactly one value.

    ``json.loads`` costs three Python calls and two regex scans more per text; what
    this cannot parse (surrounding whitespace, errors) is left to it, to say why.

    Raises:
        DecodeError: If a tagged value inside is bad.
    """
    scanned = scan_json(text, 0)
    return scanned[0] if scanned is not None and scanned[1] == len(text) else _UNSCANNED


def scan_json(text: str, start: int) -> tuple[Any, int] | None:
    """The JSON value at ``start`` of ``text`` and where it ends, or None.

    Tagged values are turned back into values; None if no valid value starts there.

    Raises:
        DecodeError: If a tagged value inside is bad.
    """
    try:
        scanned: tuple[Any, int] = (_scan_tagged if TAG in text else _scan)(text, start)
    except DecodeError:
        raise
    except (StopIteration, ValueError, RecursionError):
        return None
    return scanned


_builders: dict[type, Callable[[dict[str, Any], str], Any]] = {}


def build_value(cls: type, values: object, type_name: str) -> Any:
    """Build dataclass ``cls`` from a dict of field values, checking the names.

    ``values`` is the caller's to give away (a dict the parser just made): the instance
    may keep it as its ``__dict__``, and a declared enum's value is replaced in it.

    Raises:
        DecodeError: For a non-dict, unexpected or missing fields, or a bad enum value.
    """
    if not isinstance(values, dict):
        raise DecodeError(f"{type_name}: fields must be a JSON object, got {type(values).__name__}")
    return (_builders.get(cls) or _builder(cls))(values, type_name)


def _builder(cls: type) -> Callable[[dict[str, Any], str], Any]:
    builder = _builders[cls] = _make_builder(cls)
    return builder


def _make_builder(cls: type) -> Callable[[dict[str, Any], str], Any]:
    """A function that builds ``cls`` from a dict of field values, checking the names."""
    fields = dataclasses.fields(cls)
    init = {f.name for f in fields if f.init}
    later = {f.name for f in fields if not f.init}
    required = {
        f.name
        for f in fields
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    enums = _enum_fields(cls, fields)
    exact = frozenset(init) if not later else None
    every = frozenset(init | later)
    restorable = _restorable(cls)
    new = object.__new__
    set_attribute = object.__setattr__

    def build(values: dict[str, Any], type_name: str) -> Any:
        keys = values.keys()
        if restorable and keys == every:
            # Every field recorded: the instance is its state, as pickle restores one
            # (1.4 times as fast a decode over the message mix as calling __init__).
            for name, enum_cls in enums.items():
                raw = values[name]
                if raw is not None and not isinstance(raw, enum_cls):
                    values[name] = _enum_member(enum_cls, raw, name, type_name)
            instance: Any = new(cls)
            set_attribute(instance, "__dict__", values)
            return instance
        if keys == exact:
            kwargs = values  # the common case: exactly the fields, nothing to check or copy
        elif keys == every:  # every field, the ones set after __init__ too (a frame's id)
            kwargs = {k: v for k, v in values.items() if k in init}
        else:
            unknown = values.keys() - init - later
            if unknown:
                names = ", ".join(sorted(map(str, unknown)))
                raise DecodeError(f"{type_name}: unexpected field(s) {names}")
            missing = required - values.keys()
            if missing:
                raise DecodeError(f"{type_name}: missing field(s) {', '.join(sorted(missing))}")
            kwargs = {k: v for k, v in values.items() if k in init}
        for name, enum_cls in enums.items():
            raw = kwargs.get(name)
            if raw is not None and not isinstance(raw, enum_cls):
                kwargs[name] = _enum_member(enum_cls, raw, name, type_name)
        try:
            instance = cls(**kwargs)
        except Exception as exc:  # the class's own checks (__post_init__) may raise anything
            raise DecodeError(f"{type_name}: {type(exc).__name__}: {exc}") from None
        if later:
            for name in later & values.keys():
                object.__setattr__(instance, name, values[name])
        return instance

    return build


def _enum_member(enum_cls: type[Enum], raw: Any, name: str, type_name: str) -> Enum:
    try:
        return enum_cls(raw)
    except ValueError:
        raise DecodeError(
            f"{type_name}: field {name} = {raw!r} is not a {enum_cls.__name__}"
        ) from None


def _restorable(cls: type) -> bool:
    """Whether an instance of ``cls`` with every field given is just its ``__dict__``.

    True when its ``__init__`` is the one ``@dataclass`` wrote (it only stores the
    fields), its instances have a ``__dict__``, and it has no ``__post_init__`` but
    :class:`~pipebus.core.frames.Frame`'s, which sets ``id`` and ``name``, fields the
    record holds. A class of its own making is built by calling it, checks and all.
    """
    init = getattr(getattr(cls, "__init__", None), "__code__", None)
    written_by_dataclass = init is not None and init.co_filename == "<string>"
    post_init = getattr(cls, "__post_init__", None)
    return (
        written_by_dataclass
        and cls.__dictoffset__ != 0
        and post_init in (None, Frame.__post_init__)
    )


def _enum_fields(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> dict[str, type[Enum]]:
    """Fields declared as an enum (``status: JobStatus``), resolved without importing."""
    namespace = vars(sys.modules.get(cls.__module__, sys))
    found: dict[str, type[Enum]] = {}
    for field in fields:
        enum = _declared(field.type, namespace)[1]
        if enum is not None:
            found[field.name] = enum
    return found


# --- free values ----------------------------------------------------------------------


def encode_value(value: Any) -> str:
    """JSON text of any value the codec supports (snapshots use it).

    Raises:
        EncodeError: If the value holds something the codec cannot write.
    """
    return dumps_tagged(value, "value")


def decode_value(text: str | bytes) -> Any:
    """The value :func:`encode_value` wrote.

    Raises:
        DecodeError: If the text is not JSON or holds an unknown tagged value.
    """
    return loads_tagged(text, "value")
