"""The state panel's lines: what the step at the cursor changed, or the whole state as a tree.

Pure functions from :func:`~pipebus.projections.diff.diff`'s changes and a session
state to :class:`~inspector.panels.Line` lists. The diff groups the changed leaves by
the worker or job they belong to and shows each as ``before → after``; the tree shows
every field of the registry and the jobs, indented, with the leaves the step changed
in the ``added`` / ``changed`` styles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from inspector.panels import Line
from pipebus.core.describe import compact, job_label
from pipebus.projections import SessionState
from pipebus.projections.diff import (
    MISSING,
    PROJECTIONS,
    FieldChange,
    Path,
    children,
    is_mapping,
    is_record,
)

VIEWS = ("diff", "tree")
"""What the state panel shows, in the order its key (``d``) goes through them."""

VALUE_WIDTH = 60
"""A value is cut to this many characters (the tree, the diff)."""

NAME_WIDTH = 16
"""A field's name is padded to this width (the values line up)."""

FIELD_WIDTH = 32
"""The most a diff's field column widens to (a worker's part in a job is a long name)."""


def next_view(view: str) -> str:
    """The view after ``view`` (``""``: the panel hidden): diff, tree, hidden, diff..."""
    order = ("", *VIEWS)
    return order[(order.index(view) + 1) % len(order)]


def value_text(value: Any, name: object = "", start_ns: int | None = None) -> str:
    """A leaf as the panels show values (strings quoted), cut to :data:`VALUE_WIDTH`.

    A time (a field named ``*_ns``) reads as milliseconds since ``start_ns``, the
    session's start, as the timeline's times do.
    """
    if value is MISSING:
        return "-"
    if is_mapping(value) and not value:
        return "{}"
    if start_ns is not None and isinstance(value, int) and str(name).endswith("_ns"):
        return f"{(value - start_ns) / 1e6:.3f} ms"
    return compact(value, VALUE_WIDTH)


def _key_text(path: Path, key: str | int, job_names: Mapping[str, str]) -> str:
    """A map key as shown: a job by its short id and name, anything else as it is."""
    if path[:2] == ("jobs", "jobs") and len(path) == 2 and isinstance(key, str):
        return job_label(key, job_names.get(key))
    return str(key)


def owner_of(path: Path) -> int:
    """How much of ``path`` names the worker or job the leaf belongs to (through its map key).

    ``("registry", "workers", "translator", "status")``: 3. A leaf of a projection's own
    (``("jobs", "next")``) belongs to the projection: 1.
    """
    if len(path) >= 3 and path[:2] in (("registry", "workers"), ("jobs", "jobs")):
        return 3
    return 1


def shown_path(path: Path, job_names: Mapping[str, str] | None = None) -> str:
    """``registry.workers[translator].status``: fields dotted, map keys bracketed."""
    names = job_names or {}
    text = ""
    for depth, part in enumerate(path):
        if isinstance(part, str) and depth < 2 and path[0] in PROJECTIONS:
            text += f"{'.' if text else ''}{part}"
        elif depth == 2 and path[:2] in (("registry", "workers"), ("jobs", "jobs")):
            text += f"[{_key_text(path[:2], part, names)}]"
        elif depth >= 4 and path[depth - 1] == "workers":  # a job's worker, by name
            text += f"[{part}]"
        elif isinstance(part, str) and not _in_message_value(path[:depth]):
            text += f".{part}"
        else:
            text += f"[{part!r}]" if isinstance(part, str) else f"[{part}]"
    return text


_MESSAGE_VALUES = frozenset({"payload", "last_update", "response"})
"""Fields holding a message's own values (dicts): their keys are the application's."""


def _in_message_value(path: Path) -> bool:
    return any(part in _MESSAGE_VALUES for part in path[3:])


def diff_lines(
    changed: Sequence[FieldChange],
    step: int,
    job_names: Mapping[str, str] | None = None,
    start_ns: int | None = None,
) -> list[Line]:
    """The changes of the step at ``step``, grouped by the worker or job they belong to.

    A group's head says whether it was added, removed or changed; each leaf under it
    reads ``field  before → after`` (an added one: ``+ value``; a removed one:
    ``- value``).
    """
    changed = [change for change in changed if not _emptiness(change)]
    if not changed:
        return [Line(f"step {step:,} changed nothing in the registry or the jobs", "dim")]
    names = job_names or {}
    lines = [Line(f"step {step:,} changed {len(changed)} field{'s' * (len(changed) != 1)}", "head")]
    owners = [change.path[: owner_of(change.path)] for change in changed]
    heads = {owner: shown_path(owner, names) for owner in owners}
    fields = [
        shown_path(change.path, names)[len(heads[owner]) :].lstrip(".") or "(value)"
        for change, owner in zip(changed, owners, strict=True)
    ]
    width = min(FIELD_WIDTH, max(NAME_WIDTH, *(len(field) for field in fields)))
    group: Path = ()
    for change, owner, field in zip(changed, owners, fields, strict=True):
        if owner != group:
            group = owner
            kinds = {c.kind for c, o in zip(changed, owners, strict=True) if o == owner}
            kind = kinds.pop() if len(kinds) == 1 else "changed"
            word = {"added": "  + added", "removed": "  - removed"}.get(kind, "")
            lines.append(Line(f"{heads[owner]}{word}", kind))
        text = _change_text(change, start_ns)
        lines.append(Line(f"  {field:<{width}} {text}", change.kind))
    return lines


def _emptiness(change: FieldChange) -> bool:
    """Whether ``change`` is an empty map giving way to its first entry (or back): not news."""
    empty = change.before if change.after is MISSING else change.after
    return is_mapping(empty) and not empty


def _change_text(change: FieldChange, start_ns: int | None) -> str:
    name = change.path[-1]
    before = value_text(change.before, name, start_ns)
    after = value_text(change.after, name, start_ns)
    if change.kind == "added":
        return f"+ {after}"
    if change.kind == "removed":
        return f"- {before}"
    return f"{before} → {after}"


def tree_lines(
    state: SessionState,
    changed: Sequence[FieldChange] = (),
    start_ns: int | None = None,
) -> list[Line]:
    """The whole state at the cursor as an indented tree; what the step changed is marked.

    A record or map is a head (with its count of entries, for a map) over its
    children; a leaf reads ``name  value``.
    """
    marks: dict[Path, str] = {}
    for change in changed:
        if _emptiness(change):
            continue
        marks[change.path] = change.kind
        for depth in range(1, len(change.path)):
            marks.setdefault(change.path[:depth], "changed")
    lines: list[Line] = []
    for name in PROJECTIONS:
        _tree(lines, (name,), name, getattr(state, name), 0, marks, start_ns)
    return lines


def _tree(
    lines: list[Line],
    path: Path,
    label: str,
    value: Any,
    depth: int,
    marks: Mapping[Path, str],
    start_ns: int | None,
) -> None:
    indent = "  " * depth
    style = marks.get(path, "")
    if is_record(value) or (is_mapping(value) and value):
        count = "" if is_record(value) else f" ({len(value)})"
        lines.append(Line(f"{indent}{label}{count}", style or "head"))
        for key, item in children(value):
            shown = str(key)
            if path == ("jobs", "jobs"):  # a job as every view shows it
                shown = job_label(str(key), item.name)
            _tree(lines, (*path, key), shown, item, depth + 1, marks, start_ns)
    else:
        text = value_text(value, path[-1], start_ns)
        lines.append(Line(f"{indent}{label:<{NAME_WIDTH}} {text}", style))
