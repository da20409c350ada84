"""Breakpoints and filters as a list: each one on or off, removed one by one; query history.

:class:`Stops` is what ``L`` lists and what is saved with a session: the filters
typed with ``f`` (one is on at a time: the timeline shows what it matches) and the
breakpoints added with ``b`` (every one that is on stops ``r`` / ``R``). The view-model
reads the ones that are on (:attr:`Stops.filter`, :attr:`Stops.breakpoints`).
:class:`History` holds what was typed in the filter, find and breakpoint prompts
(Up in a prompt goes back through it). Pure Python; :mod:`inspector.saved` keeps
both in a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inspector.query import Query, QueryError, breakpoint_query, parse

FILTER = "filter"
BREAKPOINT = "breakpoint"
KINDS = (FILTER, BREAKPOINT)

HISTORY_KEPT = 100
"""Entries each prompt's history keeps (the oldest forgotten first)."""


@dataclass(slots=True)
class Stop:
    """A filter or a breakpoint, on or off.

    Attributes:
        kind: ``"filter"`` or ``"breakpoint"``.
        query: What it matches.
        on: Whether it applies (a filter shows rows, a breakpoint stops ``continue``).
    """

    kind: str
    query: Query
    on: bool = True

    @property
    def text(self) -> str:
        """The query as typed."""
        return self.query.text


@dataclass(slots=True)
class Stops:
    """The session's filters and breakpoints, in the order they were added."""

    items: list[Stop] = field(default_factory=list)

    @property
    def filter(self) -> Query | None:
        """The filter that is on, if any."""
        return next((s.query for s in self.items if s.kind == FILTER and s.on), None)

    @property
    def breakpoints(self) -> list[Query]:
        """The breakpoints that are on, in order."""
        return [s.query for s in self.items if s.kind == BREAKPOINT and s.on]

    def set_filter(self, query: Query | None) -> None:
        """``f``: ``query`` becomes the filter that is on (None, ``F``: the one on is removed).

        It takes the place of the filter that was on; a filter listed already (off)
        is turned on rather than listed twice.
        """
        current = next((n for n, s in enumerate(self.items) if s.kind == FILTER and s.on), None)
        if query is None:
            if current is not None:
                del self.items[current]
            return
        known = self._index(FILTER, query.text)
        if known is not None and known != current:
            if current is not None:
                self.items[current].on = False
            self.items[known].on = True
        elif current is not None:
            self.items[current] = Stop(FILTER, query)
        else:
            self.items.append(Stop(FILTER, query))

    def add_breakpoint(self, query: Query) -> None:
        """``b``: a breakpoint on ``query`` (one listed already is turned on)."""
        known = self._index(BREAKPOINT, query.text)
        if known is None:
            self.items.append(Stop(BREAKPOINT, query))
        else:
            self.items[known].on = True

    def clear_breakpoints(self) -> None:
        """``B``: every breakpoint removed."""
        self.items = [s for s in self.items if s.kind != BREAKPOINT]

    def toggle(self, index: int) -> Stop:
        """Turn the stop at ``index`` on or off; a filter turned on turns the others off."""
        stop = self.items[index]
        stop.on = not stop.on
        if stop.on and stop.kind == FILTER:
            for other in self.items:
                if other is not stop and other.kind == FILTER:
                    other.on = False
        return stop

    def remove(self, index: int) -> Stop:
        """Remove the stop at ``index``."""
        return self.items.pop(index)

    def _index(self, kind: str, text: str) -> int | None:
        return next(
            (n for n, s in enumerate(self.items) if s.kind == kind and s.text == text), None
        )

    # --- saved ----------------------------------------------------------------------------

    def dump(self) -> list[dict[str, Any]]:
        """The stops as JSON values (kind, text, on)."""
        return [{"kind": s.kind, "text": s.text, "on": s.on} for s in self.items]

    @classmethod
    def load(cls, saved: Iterable[Mapping[str, Any]]) -> Stops:
        """Stops from :meth:`dump`'s values.

        Raises:
            QueryError: If one is of an unknown kind or its text no longer parses
                (the message names it).
        """
        items = []
        for entry in saved:
            kind, text = entry.get("kind"), entry.get("text")
            if kind not in KINDS or not isinstance(text, str):
                raise QueryError(f"saved stop {dict(entry)!r} is not a filter or breakpoint")
            try:
                query = parse(text) if kind == FILTER else breakpoint_query(text)
            except QueryError as exc:
                raise QueryError(f"saved {kind} {text!r}: {exc}") from None
            items.append(Stop(kind, query, bool(entry.get("on", True))))
        return cls(items)

    def __len__(self) -> int:
        return len(self.items)


def described(stop: Stop) -> str:
    """One stop as ``L`` lists it: ``[on ] breakpoint  type:JobCancel``."""
    return f"[{'on' if stop.on else 'off':<3}] {stop.kind:<10}  {stop.text}"


@dataclass(slots=True)
class History:
    """What was typed in each prompt (filter, find, breakpoint, ...), the newest last."""

    entries: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, text: str) -> None:
        """``text`` was typed in the ``kind`` prompt: it becomes the newest (once)."""
        text = text.strip()
        if not text:
            return
        kept = [e for e in self.entries.get(kind, []) if e != text]
        kept.append(text)
        self.entries[kind] = kept[-HISTORY_KEPT:]

    def of(self, kind: str) -> list[str]:
        """The ``kind`` prompt's entries, oldest first."""
        return list(self.entries.get(kind, []))

    def merged(self, other: History) -> History:
        """``other``'s entries (another inspector's), then this history's own, newest last."""
        found = History({kind: list(entries) for kind, entries in other.entries.items()})
        for kind, entries in self.entries.items():
            for text in entries:
                found.add(kind, text)
        return found


@dataclass(slots=True)
class Recall:
    """Going through a prompt's history with Up and Down, as a shell does.

    Args:
        entries: The history, oldest first.
        typed: What the prompt held when Up was first pressed (Down past the newest
            gives it back).
    """

    entries: Sequence[str]
    typed: str = ""
    at: int | None = None
    """The entry shown (None: what was typed)."""

    def older(self, current: str) -> str | None:
        """The entry before the one shown (None: no older one). Skips one equal to ``current``."""
        if self.at is None:
            self.typed = current
        at = len(self.entries) if self.at is None else self.at
        while at > 0:
            at -= 1
            if self.entries[at] != current:
                self.at = at
                return self.entries[at]
        return None

    def newer(self) -> str | None:
        """The entry after the one shown, or what was typed after the newest (None: at it)."""
        if self.at is None:
            return None
        self.at += 1
        if self.at >= len(self.entries):
            self.at = None
            return self.typed
        return self.entries[self.at]
