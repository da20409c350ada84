"""What one step changed in a session's state, field by field: before -> after for each leaf.

:func:`diff` walks two :class:`~pipebus.projections.SessionState` values (the registry
and the jobs projections) side by side and lists every leaf that differs, with its
path: ``("registry", "workers", "translator", "status")`` went ``"ready"`` ->
``"failed"``. A worker or job that appears is listed leaf by leaf as added (its
``before`` is :data:`MISSING`), one that is forgotten as removed. The states share
every part a step did not touch (immutable maps), so the walk skips those by
identity and costs what the step changed plus one look at each known worker and job.

Pure: the inspector's diff panel and tree draw from it (the Diff tab of Redux DevTools).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from immutables import Map

from pipebus.projections import SessionState

Path = tuple[str | int, ...]
"""Where a value sits: the projection, then field names and map keys, outermost first."""


class _Missing:
    """The value on the side of a change where the field did not exist."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""``before`` of an added field, ``after`` of a removed one."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One leaf of the state that a step changed.

    Attributes:
        path: Where it sits (:data:`Path`).
        before: Its value before, or :data:`MISSING` if it did not exist.
        after: Its value after, or :data:`MISSING` if it no longer exists.
    """

    path: Path
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        """``"added"``, ``"removed"`` or ``"changed"``."""
        if self.before is MISSING:
            return "added"
        if self.after is MISSING:
            return "removed"
        return "changed"


PROJECTIONS = ("registry", "jobs")
"""The parts of a session state that are diffed (``events`` only counts folds)."""


def diff(before: SessionState, after: SessionState) -> list[FieldChange]:
    """Every leaf of the registry and jobs that differs from ``before`` to ``after``.

    In path order within each container (map keys sorted), registry first.
    """
    found: list[FieldChange] = []
    for name in PROJECTIONS:
        _walk((name,), getattr(before, name), getattr(after, name), found)
    return found


def is_record(value: object) -> bool:
    """Whether ``value`` is one of the state's records (a ``NamedTuple``): walked field by field."""
    return isinstance(value, tuple) and hasattr(value, "_fields")


def is_mapping(value: object) -> bool:
    """Whether ``value`` is one of the state's maps: walked key by key.

    A dict is a value from a message (a payload, an update, a response): a leaf, shown
    whole, as the application wrote it.
    """
    return isinstance(value, Map)


def children(value: Any) -> Iterator[tuple[str | int, Any]]:
    """The fields of a record, or the items of a map by sorted key (the tree's order)."""
    if is_record(value):
        yield from zip(value._fields, value, strict=True)
    else:
        for key in sorted(value.keys(), key=_order):
            yield key, value[key]


def _order(key: object) -> tuple[int, str, int]:
    """Numbers in numeric order, before names in text order (keys of one map are one kind)."""
    return (0, "", key) if isinstance(key, int) else (1, str(key), 0)


def _walk(path: Path, old: Any, new: Any, found: list[FieldChange]) -> None:
    if old is new:
        return
    if is_record(old) and type(old) is type(new):
        for name, was, now in zip(old._fields, old, new, strict=True):
            _walk((*path, name), was, now, found)
    elif is_mapping(old) and is_mapping(new) and (old or new):
        _walk_maps(path, old, new, found)
    elif old != new:
        found.append(FieldChange(path, old, new))


def _walk_maps(
    path: Path, old: Mapping[Any, Any], new: Mapping[Any, Any], found: list[FieldChange]
) -> None:
    if not old:  # an empty map is a leaf of its own (``{}``): it gives way to the entries
        found.append(FieldChange(path, old, MISSING))
    keys = sorted({*old.keys(), *new.keys()}, key=_order)
    for key in keys:
        at = (*path, key)
        if key not in old:
            found += (FieldChange(p, MISSING, v) for p, v in leaves(at, new[key]))
        elif key not in new:
            found += (FieldChange(p, v, MISSING) for p, v in leaves(at, old[key]))
        else:
            _walk(at, old[key], new[key], found)
    if not new:
        found.append(FieldChange(path, MISSING, new))


def leaves(path: Path, value: Any) -> Iterator[tuple[Path, Any]]:
    """Every leaf under ``value`` with its path (an empty map or a plain value is one)."""
    if is_record(value) or (is_mapping(value) and value):
        for key, item in children(value):
            yield from leaves((*path, key), item)
    else:
        yield path, value


__all__ = ["MISSING", "PROJECTIONS", "FieldChange", "Path", "children", "diff", "leaves"]
