"""The one codec: message fields and values to JSON and back (envelopes: ``wire``).

The event log stores a message as its type's wire name plus the JSON of its fields;
Redis carries the whole envelope (:mod:`pipebus.core.wire`), built on this module.

Only registered types decode (see :mod:`pipebus.core.catalog`); nothing is imported
because data named it. Field values may be JSON values, dicts and lists of them,
``bytes``, enums and registered dataclasses (frames). Values JSON cannot hold are
written as small tagged objects: ``{"$pb": "dc", "t": "TextFrame", "f": {...}}``,
``{"$pb": "enum", "t": "FrameDirection", "v": 1}``, ``{"$pb": "b", "v": "<base64>"}``.
Enum fields declared on a message (``status: JobStatus``) come back as the enum.
Anything else raises :class:`~pipebus.core.errors.EncodeError` or
:class:`~pipebus.core.errors.DecodeError`, naming the problem.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
from collections.abc import Callable
from enum import Enum
from typing import Any

from pipebus.core.catalog import CATALOG
from pipebus.core.errors import DecodeError, EncodeError
from pipebus.core.messages import BusMessage, WorkerHandle

TAG = "$pb"
_TAG_BYTES = TAG.encode()


# --- values -------------------------------------------------------------------------


def _encode_value(value: Any) -> Any:
    """``json.dumps(default=...)``: the tagged form of a value JSON cannot hold."""
    if isinstance(value, Enum):
        entry = CATALOG.by_class(type(value))
        if entry is None:
            raise EncodeError(f"enum {type(value).__qualname__} is not registered with the codec")
        return {TAG: "enum", "t": entry.wire_name, "v": value.value}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {TAG: "b", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, WorkerRef):
        return {TAG: "worker", "name": value.name, "class": value.class_name}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        entry = CATALOG.by_class(type(value))
        if entry is None:
            raise EncodeError(
                f"dataclass {type(value).__qualname__} is not registered with the codec: "
                "subclass Frame or call pipebus.register_type() on it"
            )
        return {TAG: "dc", "t": entry.wire_name, "f": field_values(value)}
    if isinstance(value, WorkerHandle):
        return {TAG: "worker", "name": value.name, "class": type(value).__qualname__}
    raise EncodeError(f"cannot encode a value of type {type(value).__qualname__}")


_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=_encode_value, check_circular=False
)
"""Built once: ``json.dumps`` with these options would build an encoder on every call.
Without the circularity check a cycle ends in RecursionError, which becomes an EncodeError."""


def dumps_tagged(value: Any, what: str) -> str:
    """The JSON text of ``value``, or an EncodeError that starts with ``what``."""
    try:
        text = _ENCODER.encode(value)
        if TAG in text:
            _refuse_tag_keys(value)
    except (EncodeError, TypeError, ValueError, RecursionError) as exc:
        raise EncodeError(f"{what}: {exc}") from None
    return text


def _refuse_tag_keys(value: Any) -> None:
    """A dict keyed by the tag would read back as a tagged value, so it cannot be written."""
    if isinstance(value, dict):
        if TAG in value:
            raise EncodeError(f"the dict key {TAG!r} is reserved by the codec")
        for item in value.values():
            _refuse_tag_keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_tag_keys(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _refuse_tag_keys(field_values(value))


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


def _decode_tagged(obj: dict[str, Any]) -> Any:
    """``json.loads(object_hook=...)``: turn tagged objects back into values."""
    tag = obj.get(TAG)
    if tag is None:
        return obj
    if tag == "b":
        try:
            return base64.b64decode(obj["v"], validate=True)
        except (KeyError, ValueError, TypeError) as exc:
            raise DecodeError(f"bad bytes value: {exc}") from None
    if tag == "enum":
        cls = registered_type(obj.get("t"), "enum")
        try:
            return cls(obj.get("v"))
        except (ValueError, TypeError):
            raise DecodeError(f"{obj.get('v')!r} is not a value of enum {obj.get('t')}") from None
    if tag == "dc":
        return build_value(registered_type(obj.get("t"), "value"), obj.get("f"), str(obj.get("t")))
    if tag == "worker":
        return WorkerRef(name=str(obj.get("name")), class_name=str(obj.get("class")))
    raise DecodeError(f"unknown tagged value {tag!r}")


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
        EncodeError: If the message's type is not registered or a field cannot be written.
    """
    cls = type(message)
    if CATALOG.by_class(cls) is None:
        raise EncodeError(f"message type {cls.__qualname__} is not registered")
    values = getattr(message, "__dict__", None)  # read as it is: encoding copies nothing
    if values is None or len(values) != len(_field_names(cls)):
        values = field_values(message)
    return dumps_tagged(values, cls.__name__)


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

    def build(values: dict[str, Any], type_name: str) -> Any:
        keys = values.keys()
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
                try:
                    kwargs[name] = enum_cls(raw)
                except ValueError:
                    raise DecodeError(
                        f"{type_name}: field {name} = {raw!r} is not a {enum_cls.__name__}"
                    ) from None
        try:
            instance = cls(**kwargs)
        except Exception as exc:  # the class's own checks (__post_init__) may raise anything
            raise DecodeError(f"{type_name}: {type(exc).__name__}: {exc}") from None
        if later:
            for name in later & values.keys():
                object.__setattr__(instance, name, values[name])
        return instance

    return build


def _enum_fields(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> dict[str, type[Enum]]:
    """Fields declared as an enum (``status: JobStatus``), resolved without importing."""
    namespace = vars(sys.modules.get(cls.__module__, sys))
    found: dict[str, type[Enum]] = {}
    for field in fields:
        annotation = field.type
        if isinstance(annotation, str):
            annotation = namespace.get(annotation.split("|")[0].strip())
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            found[field.name] = annotation
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
