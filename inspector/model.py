"""The inspector's view-model: the cursor over a session's timeline, its rows, follow mode.

Pure Python (no Textual, no database): the widgets draw what it says and the data
module fills in what it asks for. A *step* is an event's position in its session
(1 to ``length``); a *row* is a line of the timeline. With no filter and no folded
jobs every step is a row; otherwise ``rows`` lists the visible steps, in order (an
``array`` of 8-byte integers: a million rows take 8 MB).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from inspector.jumps import JumpList
from inspector.query import Query, SteppedEvent

PANELS = ("timeline", "detail", "workers", "jobs", "state")
"""The panels of the main screen, in the order of their full-screen keys (1 to 5)."""


@dataclass(slots=True)
class ViewModel:
    """Where the cursor is, what is shown, and what is being looked for.

    Attributes:
        length: Events in the session (grows while it is followed live).
        cursor: The step at the cursor (0 only for an empty session).
        rows: The visible steps, or None when every step is visible.
        live: Whether the session is still being recorded.
        following: Whether the cursor rides the newest event.
        new_events: Events that arrived while following was paused.
        filter: The filter (what is shown), if any.
        find: The find query (what is highlighted), if any.
        find_hits: The steps it matches among the visible rows (None: not searched yet).
        breakpoints: Queries that stop "continue".
        folded: Whether jobs are folded into one row each.
        expanded: Jobs unfolded while ``folded``.
        maximized: The panel shown full screen, if any.
        payload_open: Whether a large payload is shown whole.
        note: A one-line message for the status bar (the last action's outcome).
        state_view: What the state panel shows: ``"diff"``, ``"tree"`` or ``""`` (hidden).
        jumps: The steps jumps left, to go back and forward to.
    """

    length: int = 0
    cursor: int = 0
    rows: array[int] | None = None
    live: bool = False
    following: bool = False
    new_events: int = 0
    filter: Query | None = None
    find: Query | None = None
    find_hits: array[int] | None = None
    breakpoints: list[Query] = field(default_factory=list)
    folded: bool = False
    expanded: set[str] = field(default_factory=set)
    maximized: str | None = None
    payload_open: bool = False
    note: str = ""
    state_view: str = ""
    jumps: JumpList = field(default_factory=JumpList)

    # --- rows -------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """How many rows the timeline has."""
        return self.length if self.rows is None else len(self.rows)

    @property
    def shown(self) -> str:
        """``"N of M shown"``: visible rows of the session's events."""
        return f"{self.row_count:,} of {self.length:,} shown"

    def step_at(self, row: int) -> int:
        """The step drawn on ``row`` (0-based); 0 if there is no such row."""
        if not 0 <= row < self.row_count:
            return 0
        return row + 1 if self.rows is None else self.rows[row]

    def row_of(self, step: int) -> int:
        """The row of ``step``, or of the nearest visible step before it (else after it)."""
        if self.rows is None:
            return max(0, min(step, self.length) - 1)
        if not self.rows:
            return 0
        at = bisect.bisect_right(self.rows, step) - 1
        return max(at, 0)

    def visible(self, step: int) -> bool:
        """Whether ``step`` has a row."""
        if self.rows is None:
            return 1 <= step <= self.length
        at = bisect.bisect_left(self.rows, step)
        return at < len(self.rows) and self.rows[at] == step

    def set_rows(self, rows: array[int] | None) -> None:
        """Show only ``rows`` (None: every step); the cursor moves to a visible step."""
        self.rows = rows
        if self.row_count and not self.visible(self.cursor):
            self.cursor = self.step_at(self.row_of(self.cursor))

    # --- moving -------------------------------------------------------------------------

    def move(self, rows: int) -> int:
        """Move the cursor by ``rows`` visible rows; returns the new step (following pauses)."""
        if not self.row_count:
            return self.cursor
        row = self.row_of(self.cursor)
        if not self.visible(self.cursor) and rows < 0:
            row += 1  # the cursor sat between rows: the row before it is one step back
        return self.go(self.step_at(max(0, min(self.row_count - 1, row + rows))))

    def go(self, step: int) -> int:
        """Put the cursor on ``step`` (clamped; the nearest visible one); returns it.

        Following pauses: only :meth:`last` (End) resumes it.
        """
        if not self.row_count:
            self.cursor = 0
            return 0
        step = max(1, min(step, self.length))
        self.cursor = step if self.visible(step) else self.step_at(self.row_of(step))
        self.following = False
        return self.cursor

    def jump(self, step: int) -> int:
        """:meth:`go` to ``step``, leaving the step it was on on the jump list."""
        origin = self.cursor
        self.go(step)
        self.jumps.jumped(origin, self.cursor)
        return self.cursor

    def back(self) -> int | None:
        """Back to the step the last jump left (None: no jump to go back over)."""
        return self._go_along(self.jumps.go_back)

    def forward(self) -> int | None:
        """Forward again to the step :meth:`back` left (None: nowhere forward)."""
        return self._go_along(self.jumps.go_forward)

    def _go_along(self, shift: Callable[[int], int | None]) -> int | None:
        target = shift(self.cursor)
        return None if target is None else self.go(target)

    def first(self) -> int:
        """The cursor to the first row (a jump)."""
        return self.jump(self.step_at(0))

    def last(self) -> int:
        """The cursor to the last row (a jump); a live session is followed again."""
        step = self.jump(self.step_at(self.row_count - 1))
        if self.live:
            self.resume()
        return step

    def scrub(self, fraction: float) -> int:
        """Move by ``fraction`` of the timeline (negative: back)."""
        jump = int(self.row_count * fraction) or (1 if fraction > 0 else -1)
        return self.move(jump)

    def resume(self) -> None:
        """Follow again: the cursor rides the newest event, the badge is cleared."""
        self.following = True
        self.new_events = 0

    def grow(self, length: int, new_rows: Iterable[int] = ()) -> int:
        """The session grew to ``length`` events; ``new_rows`` are its new visible steps.

        Following, the cursor moves to the newest row; paused, the badge counts them.
        Returns how many visible rows were added.
        """
        before = self.row_count
        if length <= self.length:
            return 0
        self.length = length
        if self.rows is not None:
            self.rows.extend(s for s in new_rows if not self.rows or s > self.rows[-1])
        added = self.row_count - before
        if self.following and self.row_count:
            self.cursor = self.step_at(self.row_count - 1)
        else:
            self.new_events += added
        return added

    # --- find ---------------------------------------------------------------------------------

    def next_match(self, back: bool = False) -> tuple[int, bool] | None:
        """The find's next match after the cursor (before it, ``back``), wrapping around.

        Returns the step and whether it wrapped, or None when nothing matches.
        """
        hits = self.find_hits
        if not hits:
            return None
        if back:
            at = bisect.bisect_left(hits, self.cursor) - 1
            wrapped = at < 0
            return hits[-1 if wrapped else at], wrapped
        at = bisect.bisect_right(hits, self.cursor)
        wrapped = at >= len(hits)
        return hits[0 if wrapped else at], wrapped

    def match_note(self, step: int, wrapped: str = "") -> str:
        """``"match k of n"`` for a match at ``step``, and where it wrapped to, if it did."""
        hits = self.find_hits or array("q")
        found = f"match {bisect.bisect_left(hits, step) + 1:,} of {len(hits):,}"
        return f"{found} (wrapped around to the {wrapped})" if wrapped else found

    # --- what is shown --------------------------------------------------------------------

    @property
    def badge(self) -> str:
        """``"following"``, ``"paused +N new"`` or ``""`` for a finished session."""
        if not self.live:
            return ""
        if self.following:
            return "● following"
        return f"⏸ paused +{self.new_events:,} new" if self.new_events else "⏸ paused"

    def status(self) -> str:
        """The status bar's text: step, shown rows, follow badge, filter, find, breakpoints."""
        parts = [f"step {self.cursor:,}/{self.length:,}", self.shown]
        if self.badge:
            parts.append(self.badge)
        if self.filter is not None:
            parts.append(f"filter: {self.filter.text}")
        if self.folded:
            parts.append("jobs folded")
        if self.find is not None:
            parts.append(f"find: {self.find.text}")
        if self.breakpoints:
            parts.append(f"breakpoints: {len(self.breakpoints)}")
        if self.note:
            parts.append(self.note)
        return "  │  ".join(parts)

    def toggle_maximized(self, panel: str) -> str | None:
        """Show ``panel`` full screen, or back to all panels if it already is."""
        self.maximized = None if self.maximized == panel else panel
        return self.maximized

    def add_breakpoint(self, query: Query) -> None:
        """Stop "continue" at events matching ``query`` too (the same one is kept once)."""
        if all(known.text != query.text for known in self.breakpoints):
            self.breakpoints.append(query)

    def hits_breakpoint(self, events: Iterable[SteppedEvent]) -> int | None:
        """The step of the first of ``events`` a breakpoint stops at (events arriving live)."""
        for event in events:
            if any(b.matches(event) for b in self.breakpoints):
                return event.seq
        return None
