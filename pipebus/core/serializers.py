"""Pipecat-compatible message serializers: Pipecat's JSON wire shape, without its imports.

Pipecat's network buses turn a message into bytes with a ``MessageSerializer``. Its
``JSONMessageSerializer`` writes a message, and every value JSON cannot hold, as
``{"__type__": "<module>.<Class>", "__data__": ...}``: a dataclass or a pydantic model
as an object of its fields that are not None, an enum as its member's name, ``bytes``
as base64 under the type ``"bytes"``. A str or int enum (``JobStatus``) is already a
JSON value and is written as one. :class:`JSONMessageSerializer` writes and reads that
same shape, so a pipebus runner and a Pipecat runner can share a Redis channel.

The difference is on reading. Pipecat imports whatever module ``__type__`` names;
pipebus never imports a module or looks up a type because the data named it: a name
resolves only to a class this process already holds (:mod:`pipebus.core.pipecat_names`
says which, in what order). Input that names no such class, or is not what its type
expects, never raises: the message comes back as None and a warning on the
``pipebus.core.serializers`` logger says why. A value *nested* in a message whose type is
unknown (a pydantic model never registered here) is kept as its plain data, a dict of
its fields, with a warning: Pipecat would put None there, but the data is harmless and
the receiver can validate it with its own model.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import Enum
from typing import Any

from pipebus.core.errors import DecodeError, EncodeError
from pipebus.core.messages import BusMessage
from pipebus.core.pipecat_names import (
    is_model,
    is_pipecat_only_field,
    qualified,
    remember_model,
    resolve,
    type_name,
)

logger = logging.getLogger(__name__)

SerializeFunc = Callable[[Any], Any]
"""What an adapter calls to write a nested value."""

DeserializeFunc = Callable[[Any], Any]
"""What an adapter calls to read a nested value back."""


class TypeAdapter(ABC):
    """Writes instances of one type (and its subclasses) as JSON-ready dicts, and back.

    Register one on a :class:`JSONMessageSerializer` for a value it cannot write by
    itself, or to choose how a frame type travels. Both methods get the serializer's
    own function for nested values, so an adapter needs no serializer of its own.
    """

    @abstractmethod
    def serialize(self, obj: Any, serialize_value: SerializeFunc) -> dict[str, Any]:
        """The JSON-ready dict for ``obj``.

        Args:
            obj: The value to write.
            serialize_value: Writes a nested value.
        """

    @abstractmethod
    def deserialize(
        self,
        data: dict[str, Any],
        deserialize_value: DeserializeFunc,
        target_type: type | None = None,
    ) -> Any:
        """The value :meth:`serialize` wrote as ``data``.

        Args:
            data: The dict :meth:`serialize` returned.
            deserialize_value: Reads a nested value back.
            target_type: The class ``__type__`` resolved to (a subclass of the
                adapter's type, perhaps).
        """


class MessageSerializer(ABC):
    """Turns bus messages into bytes for a network transport, and back."""

    @abstractmethod
    def serialize(self, message: BusMessage) -> bytes:
        """The bytes that carry ``message``.

        Args:
            message: The message to write.
        """

    @abstractmethod
    def deserialize(self, data: bytes) -> BusMessage | None:
        """The message ``data`` carries, or None if it carries none.

        Args:
            data: Bytes written by :meth:`serialize` (here or in another process).
        """


class JSONMessageSerializer(MessageSerializer):
    """Messages as Pipecat's JSON, read back through pipebus's allow-list.

    See the module's docstring for the wire shape and for which type names resolve.
    Fields of a known type that are missing from the data are passed as None (Pipecat
    leaves out every field whose value is None); fields the class lacks are dropped
    with a warning (silently for the fields of Pipecat's base classes that pipebus's
    lack, such as a message's ``id``); fields declared with ``init=False`` are set
    after construction. An adapter takes precedence over the built-in handling of
    its type.

    Example::

        serializer = JSONMessageSerializer()
        serializer.register_model(UserInfo)  # a pydantic model this process receives
        data = serializer.serialize(message)
        restored = serializer.deserialize(data)
    """

    def __init__(self) -> None:
        self._adapters: dict[type, TypeAdapter] = {}
        self._models: dict[str, type] = {}

    def register_adapter(self, type_: type, adapter: TypeAdapter) -> None:
        """Write and read ``type_`` and its subclasses with ``adapter``.

        Args:
            type_: The type to handle; data naming it resolves to it from now on.
            adapter: The adapter that writes and reads its instances.
        """
        self._adapters[type_] = adapter

    def register_model(self, model: type) -> None:
        """Let data name the pydantic model ``model`` (pipebus addition).

        A model this process has written is known already; register the ones it only
        receives.

        Args:
            model: A subclass of pydantic's ``BaseModel``.

        Raises:
            TypeError: If ``model`` is not a pydantic model class.
        """
        if not (isinstance(model, type) and is_model(model)):
            raise TypeError(f"{model!r} is not a pydantic model class")
        self._models[qualified(model)] = model

    def serialize(self, message: BusMessage) -> bytes:
        """The message as compact UTF-8 JSON, in Pipecat's shape.

        A field of a type that cannot be written is left out, with a warning, as
        Pipecat does; callables are left out silently.

        Args:
            message: The message to write.

        Raises:
            EncodeError: If JSON cannot hold the result (a dict keyed by tuples, a cycle).
        """
        try:
            return json.dumps(self._encode(message), separators=(",", ":")).encode()
        except EncodeError:
            raise
        except (TypeError, ValueError, RecursionError) as exc:
            raise EncodeError(f"{type(message).__name__}: {exc}") from exc

    def deserialize(self, data: bytes) -> BusMessage | None:
        """The message ``data`` carries, or None with a warning; never raises.

        Args:
            data: JSON written by this serializer or by Pipecat's.
        """
        try:
            payload = json.loads(data)
        except (TypeError, ValueError, RecursionError) as exc:
            logger.warning("JSONMessageSerializer: dropped input that is not JSON: %s", exc)
            return None
        if not (
            isinstance(payload, dict)
            and isinstance(payload.get("__type__"), str)
            and isinstance(payload.get("__data__"), dict)
        ):
            logger.warning(
                "JSONMessageSerializer: dropped JSON that is not a "
                '{"__type__": <name>, "__data__": {...}} object'
            )
            return None
        name: str = payload["__type__"]
        cls = resolve(name, models=self._models, extra=self._adapters)
        if cls is None or not issubclass(cls, BusMessage):
            logger.warning(
                "JSONMessageSerializer: dropped a message of unknown type %r: no message "
                "class of that name is registered here (nothing is imported)",
                name,
            )
            return None
        try:
            message = self._decode_typed(cls, payload["__data__"], name)
        except RecursionError:
            logger.warning("JSONMessageSerializer: dropped %s: nested too deeply", name)
            return None
        except DecodeError as exc:
            logger.warning("JSONMessageSerializer: dropped a malformed message: %s", exc)
            return None
        if not isinstance(message, BusMessage):
            logger.warning("JSONMessageSerializer: dropped %s: its adapter built no message", name)
            return None
        return message

    # --- writing --------------------------------------------------------------------

    def _encode(self, value: Any) -> Any:
        """The JSON-ready form of ``value``, tagged as Pipecat tags it."""
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        if isinstance(value, dict):
            return {key: self._encode(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._encode(item) for item in value]
        if isinstance(value, (bytes, bytearray, memoryview)):
            return _tagged("bytes", base64.b64encode(value).decode("ascii"))
        cls = type(value)
        adapter = self._find_adapter(cls)
        if adapter is not None:
            return _tagged(type_name(cls), adapter.serialize(value, self._encode))
        if isinstance(value, Enum):
            return _tagged(type_name(cls), value.name)
        if is_model(cls):
            remember_model(cls)
            fields = {k: self._encode(v) for k, v in vars(value).items() if v is not None}
            return _tagged(type_name(cls), fields)
        if callable(value):
            return None
        if dataclasses.is_dataclass(value):
            fields = {}
            for field in dataclasses.fields(value):
                item = getattr(value, field.name, None)
                encoded = None if item is None else self._encode(item)
                if encoded is not None:
                    fields[field.name] = encoded
            return _tagged(type_name(cls), fields)
        logger.warning(
            "JSONMessageSerializer: left out a value of unserializable type %s", cls.__qualname__
        )
        return None

    # --- reading --------------------------------------------------------------------

    def _decode(self, value: Any) -> Any:
        """The value that the JSON-ready ``value`` stands for."""
        if isinstance(value, list):
            return [self._decode(item) for item in value]
        if isinstance(value, dict):
            if "__type__" in value and "__data__" in value:
                return self._decode_tagged(value["__type__"], value["__data__"])
            return {key: self._decode(item) for key, item in value.items()}
        return value

    def _decode_tagged(self, name: object, data: Any) -> Any:
        if name == "bytes":
            if not isinstance(data, str):
                raise DecodeError(f"a bytes value holds {type(data).__name__}, not base64 text")
            try:
                return base64.b64decode(data, validate=True)
            except ValueError as exc:
                raise DecodeError(f"a bytes value is not base64: {exc}") from None
        if not isinstance(name, str):
            raise DecodeError(f"a __type__ is {type(name).__name__}, not a type name")
        cls = resolve(name, models=self._models, extra=self._adapters)
        if cls is None:
            logger.warning(
                "JSONMessageSerializer: unknown type %r (not registered here; nothing is "
                "imported): its value is kept as plain data",
                name,
            )
            return self._decode(data)
        return self._decode_typed(cls, data, name)

    def _decode_typed(self, cls: type[Any], data: Any, name: str) -> Any:
        """An instance of the resolved class ``cls`` from its ``__data__``."""
        adapter = self._find_adapter(cls)
        if adapter is not None:
            try:
                return adapter.deserialize(data, self._decode, target_type=cls)
            except (DecodeError, RecursionError):
                raise
            except Exception as exc:  # an adapter is user code, and deserialize never raises
                raise DecodeError(
                    f"{name}: its adapter raised {type(exc).__name__}: {exc}"
                ) from exc
        if issubclass(cls, Enum):
            member = cls.__members__.get(data) if isinstance(data, str) else None
            if member is None:
                raise DecodeError(f"{data!r} is not a member of {name}")
            return member
        if not isinstance(data, dict):
            raise DecodeError(f"{name}: its data must be an object, not {type(data).__name__}")
        if is_model(cls):
            model: Any = cls
            try:
                return model.model_validate(self._decode(data))
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise DecodeError(f"{name}: {exc}") from None
        if dataclasses.is_dataclass(cls):
            return self._build(cls, data, name)
        logger.warning(
            "JSONMessageSerializer: %r is neither a dataclass, an enum nor a pydantic model, "
            "and has no adapter: its value is kept as plain data",
            name,
        )
        return self._decode(data)

    def _build(self, cls: type[Any], data: dict[str, Any], name: str) -> Any:
        """Dataclass ``cls`` from its fields: init fields to the constructor, then the rest."""
        fields = dataclasses.fields(cls)
        init = {f.name: f for f in fields if f.init}
        later = {f.name for f in fields if not f.init}
        kwargs: dict[str, Any] = {}
        after: dict[str, Any] = {}
        unknown: list[str] = []
        for key, raw in data.items():
            if key in init:
                kwargs[key] = self._decode(raw)
            elif key in later:
                after[key] = self._decode(raw)
            elif not is_pipecat_only_field(cls, key):
                unknown.append(key)
        if unknown:
            logger.warning(
                "JSONMessageSerializer: %s has no field(s) %s: dropped", name, ", ".join(unknown)
            )
        for field_name, field in init.items():
            if field_name not in kwargs and (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                kwargs[field_name] = None
        for field_name, enum_cls in _enum_fields(cls).items():
            raw = kwargs.get(field_name)
            if raw is not None and not isinstance(raw, enum_cls):
                try:
                    kwargs[field_name] = enum_cls(raw)
                except ValueError:
                    raise DecodeError(
                        f"{name}: {field_name} = {raw!r} is not a {enum_cls.__name__}"
                    ) from None
        try:
            instance = cls(**kwargs)
        except Exception as exc:  # the class's own checks (__post_init__) may raise anything
            raise DecodeError(f"{name}: {type(exc).__name__}: {exc}") from exc
        for key, value in after.items():
            object.__setattr__(instance, key, value)  # frozen dataclasses too
        return instance

    def _find_adapter(self, cls: type) -> TypeAdapter | None:
        """The adapter registered for ``cls`` or the nearest of its bases."""
        if self._adapters:
            for base in cls.__mro__:
                adapter = self._adapters.get(base)
                if adapter is not None:
                    return adapter
        return None


def _tagged(name: str, data: Any) -> dict[str, Any]:
    return {"__type__": name, "__data__": data}


_enum_fields_of: dict[type, dict[str, type[Enum]]] = {}


def _enum_fields(cls: type) -> dict[str, type[Enum]]:
    """Fields declared as an enum (``status: JobStatus``), found in the class's own module.

    Pipecat writes a str enum as its plain value; these fields get the enum back.
    """
    found = _enum_fields_of.get(cls)
    if found is not None:
        return found
    namespace = vars(sys.modules[cls.__module__]) if cls.__module__ in sys.modules else {}
    found = _enum_fields_of[cls] = {}
    for field in dataclasses.fields(cls):
        parts = field.type.split("|") if isinstance(field.type, str) else [field.type]
        for part in parts:
            candidate = namespace.get(part.strip()) if isinstance(part, str) else part
            if isinstance(candidate, type) and issubclass(candidate, Enum):
                found[field.name] = candidate
                break
    return found
