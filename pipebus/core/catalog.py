"""The allow-list of types the codec may build: stable wire names mapped to classes.

Nothing is ever imported because data named it. A type decodes only if it was
registered here: every pipebus message and value type registers itself when its
module loads, user message and frame subclasses register when their class is
defined, and other dataclasses or enums register explicitly with
:func:`register_type`.

A wire name is stable on purpose: it is the class name unless the class says
otherwise (``class Greeting(BusDataMessage, wire_name="myapp.Greeting")``), never
a module path, and old names stay readable through ``aliases``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

TypeKind = Literal["message", "value", "enum"]


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One registered type."""

    wire_name: str
    cls: type
    kind: TypeKind


class TypeCatalog:
    """Wire names to classes and back, for one family of registered types."""

    def __init__(self) -> None:
        self._by_name: dict[str, CatalogEntry] = {}
        self._by_class: dict[type, CatalogEntry] = {}

    def register(
        self,
        cls: type,
        *,
        wire_name: str | None = None,
        aliases: tuple[str, ...] = (),
        kind: TypeKind | None = None,
    ) -> CatalogEntry:
        """Register ``cls`` under ``wire_name`` (default: its class name) and ``aliases``.

        Re-defining a class with the same module and qualified name (a reloaded module,
        a class built inside a test function) replaces the earlier registration.

        Raises:
            ValueError: If another class already owns one of the names.
        """
        name = wire_name or cls.__qualname__
        entry = CatalogEntry(name, cls, kind or _kind_of(cls))
        for candidate in (name, *aliases):
            owner = self._by_name.get(candidate)
            if owner is not None and owner.cls is not cls and not _same_definition(owner.cls, cls):
                raise ValueError(
                    f"wire name {candidate!r} is already registered by "
                    f"{owner.cls.__module__}.{owner.cls.__qualname__}; give "
                    f"{cls.__module__}.{cls.__qualname__} its own with wire_name=..."
                )
        for candidate in (name, *aliases):
            self._by_name[candidate] = entry
        self._by_class[cls] = entry
        return entry

    def by_name(self, wire_name: str) -> CatalogEntry | None:
        """The entry registered under ``wire_name``, or None."""
        return self._by_name.get(wire_name)

    def by_class(self, cls: type) -> CatalogEntry | None:
        """The entry for exactly ``cls``, or None if it was never registered."""
        return self._by_class.get(cls)

    def names(self) -> list[str]:
        """Every registered wire name, aliases included, sorted."""
        return sorted(self._by_name)


def _kind_of(cls: type) -> TypeKind:
    if issubclass(cls, Enum):
        return "enum"
    # BusMessage carries this marker; reading it avoids importing the messages module.
    return "message" if getattr(cls, "_pipebus_message", False) else "value"


def _same_definition(a: type, b: type) -> bool:
    return a.__module__ == b.__module__ and a.__qualname__ == b.__qualname__


CATALOG = TypeCatalog()
"""The process-wide catalog the codec reads."""


def register_type(
    cls: type, *, wire_name: str | None = None, aliases: tuple[str, ...] = ()
) -> type:
    """Allow the codec to write and read ``cls`` (a dataclass or an enum).

    Usable as a decorator. Message and frame subclasses register themselves; call this
    for other dataclasses or enums that travel inside messages.
    """
    CATALOG.register(cls, wire_name=wire_name, aliases=aliases)
    return cls
