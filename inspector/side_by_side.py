"""The side-by-side view-model: one cursor over two sessions' aligned rows.

Pure Python (no Textual, no database). A *row* pairs a step of session A with a
step of session B, either of which may be a gap (see
:mod:`pipebus.replay.compare`); the cursor is a row, so stepping moves both
sessions' cursors together, and each side's step at the cursor is read off the row.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.panels import Line
from pipebus.eventlog.rows import StoredEvent
from pipebus.replay.compare import (
    CHANGED,
    ONLY_A,
    ONLY_B,
    SAME,
    Comparison,
    Recorded,
    glance,
    pair_diff,
)

MARKS = {SAME: " ", CHANGED: "~", ONLY_A: "-", ONLY_B: "+"}
"""The gutter's mark of each row kind (``-`` only in A, ``+`` only in B)."""

FIRST_MARK = "▶"
"""The gutter's mark of the first divergence."""

STYLES = {SAME: "", CHANGED: "changed", ONLY_A: "removed", ONLY_B: "added"}
"""The style name of each row kind (see ``inspector.widgets.STYLES``)."""


def recorded(event: StoredEvent) -> Recorded:
    """A stored event as the comparison reads it."""
    return Recorded(event.seq, event.type, event.source, event.target, event.job_id, event.payload)


def pair_lines(
    comparison: Comparison, row: int, a: StoredEvent | None, b: StoredEvent | None
) -> list[Line]:
    """The difference panel of ``row``: both messages on a line each, then what differs."""
    steps = (comparison.left[row], comparison.right[row])
    lines = [
        Line(f"{name} {'#' + str(step) if step else '-'}: {glance(recorded(e), 200) if e else ''}")
        for name, step, e in zip("AB", steps, (a, b), strict=True)
    ]
    left = recorded(a) if a is not None else None
    right = recorded(b) if b is not None else None
    lines += (Line(text, _diff_style(text)) for text in pair_diff(left, right, comparison.jobs))
    return lines


def _diff_style(line: str) -> str:
    """A line of a pair's diff: what only one side has in its side's colour, headings bold."""
    if line.startswith("  -"):
        return "error"
    if line.startswith("  +"):
        return "added"
    return "head" if not line.startswith(" ") else ""


@dataclass(slots=True)
class SideBySide:
    """The cursor over a comparison's rows, and what the status bar says.

    Attributes:
        comparison: The two sessions aligned (None while it is being made).
        cursor: The row at the cursor (0-based).
        note: The last action's outcome, for the status bar.
    """

    comparison: Comparison | None = None
    cursor: int = 0
    note: str = ""

    @property
    def rows(self) -> int:
        """How many rows (0 until the comparison is made)."""
        return len(self.comparison) if self.comparison is not None else 0

    def steps(self, row: int | None = None) -> tuple[int, int]:
        """The steps of A and B on ``row`` (default: the cursor's); 0 is a gap."""
        at = self.cursor if row is None else row
        if self.comparison is None or not 0 <= at < self.rows:
            return 0, 0
        return self.comparison.left[at], self.comparison.right[at]

    def go(self, row: int) -> int:
        """Put the cursor on ``row`` (clamped); returns it."""
        self.cursor = max(0, min(row, self.rows - 1))
        return self.cursor

    def move(self, rows: int) -> int:
        """Move the cursor by ``rows`` rows."""
        return self.go(self.cursor + rows)

    def divergence(self, *, back: bool = False) -> int | None:
        """Go to the next divergence (the previous, ``back``); None if there is none."""
        if self.comparison is None:
            return None
        found = self.comparison.next_divergence(self.cursor, back=back)
        if found is not None:
            self.go(found)
        return found

    def first_divergence(self) -> int | None:
        """Go to the first divergence; None (staying) if the sessions are the same."""
        found = self.comparison.first_divergence if self.comparison is not None else None
        if found is not None:
            self.go(found)
        return found

    def mark(self, row: int) -> str:
        """The gutter's mark of ``row``: its kind's, or :data:`FIRST_MARK`."""
        assert self.comparison is not None
        if row == self.comparison.first_divergence:
            return FIRST_MARK
        return MARKS[self.comparison.kinds[row]]

    def style(self, row: int) -> str:
        """The style name of ``row``'s kind."""
        assert self.comparison is not None
        return STYLES[self.comparison.kinds[row]]

    def status(self) -> str:
        """Row, both steps, the row's kind, the divergences and the first of them."""
        comparison = self.comparison
        if comparison is None:
            return self.note or "comparing…"
        a, b = self.steps()
        parts = [
            f"row {self.cursor + 1:,}/{self.rows:,}",
            f"A {'#' + format(a, ',') if a else '-'}  B {'#' + format(b, ',') if b else '-'}",
        ]
        if self.rows:
            parts.append(comparison.kind_name(self.cursor))
        first = comparison.first_divergence
        if first is None:
            parts.append("the sessions are the same (ids and times aside)")
        else:
            count = len(comparison.divergences)
            parts.append(f"{count:,} divergent row{'s' * (count != 1)}, first at row {first + 1:,}")
        if not comparison.aligned:
            parts.append("too different to align: paired by position")
        if self.note:
            parts.append(self.note)
        return "  │  ".join(parts)
