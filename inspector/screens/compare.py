"""The side-by-side screen: two sessions aligned message by message, one cursor for both.

Session A on the left, B on the right, a row of each facing the other (or a gap);
the rows that differ are coloured by kind, the first divergence is marked ``▶``,
and the panel below shows what differs in the cursor's row. The comparison is
pipebus's session comparison (read through :func:`inspector.data.compare`), the one
``pipebus diff`` prints.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.geometry import Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Static

from inspector.data import SessionData, compare
from inspector.dialogs import LinesScreen, key_lines
from inspector.keys import COMPARE_KEYS, bindings
from inspector.panels import RowLayout, row_text
from inspector.side_by_side import SideBySide, pair_lines
from inspector.widgets import CURSOR, STYLES, Panel, StatusBar, top_for
from pipebus.core.errors import PipebusError

MARGIN = 100
"""Rows read beyond the visible ones, on each side."""

KEPT_ROWS = 1_000
"""Rows whose text a column keeps (a few screens)."""

FIRST = Style(bold=True, underline=True)
"""The first divergence's row, besides its kind's colour."""


class SideTimeline(ScrollView, can_focus=True):
    """One session's column of the aligned rows (``side`` is ``"a"`` or ``"b"``)."""

    DEFAULT_CSS = """
    SideTimeline { border: round $primary; border-title-color: $text; width: 1fr; height: 1fr;
        overflow-x: hidden; }
    """

    def __init__(self, model: SideBySide, data: SessionData, side: str, *, id: str) -> None:
        super().__init__(id=id)
        self.model = model
        self.data = data
        self.side = side
        self.painted_at = 0.0
        info = data.info
        self.border_title = (
            f"{side.upper()}  {info.name or info.runner} {info.id[:8]}  ({data.length:,} events)"
        )
        self._layout_for = -1
        self._layout = RowLayout.fit(0, 0)
        self._drawn_cursor = -1
        self._texts: dict[int, tuple[str, Style]] = {}
        """Rows drawn lately: a step scrolls by one row, the others are drawn again as they were."""

    def step_of(self, row: int) -> int:
        """This side's step on ``row`` (0: a gap)."""
        a, b = self.model.steps(row)
        return a if self.side == "a" else b

    @property
    def cursor_step(self) -> int:
        """This side's step at the cursor (0: a gap)."""
        return self.step_of(self.model.cursor)

    def layout_(self) -> RowLayout:
        """The columns of a row at this width (the gutter's mark aside)."""
        width = self.scrollable_content_region.width - 1
        if width != self._layout_for:
            self._layout_for = width
            self._layout = RowLayout.fit(width, self.data.length)
            self._texts.clear()
        return self._layout

    def top_for(self, row: int) -> int:
        """The first visible row once ``row`` is scrolled into view."""
        return top_for(self, row)

    def sync(self) -> None:
        """The cursor moved or the rows came: size, scroll the cursor into view, redraw.

        When only the cursor moved within the visible rows, only its old and new rows
        are redrawn.
        """
        resized = self.virtual_size.height != self.model.rows
        if resized:
            self.virtual_size = Size(self.size.width, self.model.rows)
            self.call_after_refresh(self.sync)  # scrolled once the new size is laid out
        top = self.top_for(self.model.cursor)
        scrolled = top != int(self.scroll_offset.y)
        if scrolled:
            self.scroll_to(y=top, animate=False, immediate=True)
        old, self._drawn_cursor = self._drawn_cursor, self.model.cursor
        if resized or scrolled or old < 0:
            self.refresh()
        else:
            self.refresh_line(old)
            self.refresh_line(self.model.cursor)

    def wanted(self, margin: int = MARGIN) -> list[int]:
        """This side's steps on the visible rows and ``margin`` rows around them."""
        top = self.top_for(self.model.cursor)
        height = max(1, self.scrollable_content_region.height)
        first, last = max(0, top - margin), min(self.model.rows, top + height + margin)
        comparison = self.model.comparison
        if comparison is None:
            return []
        steps = comparison.left if self.side == "a" else comparison.right
        return [step for step in steps[first:last] if step]

    def rows_read(self) -> None:
        """Events came from the log: rows drawn as not read yet are drawn again."""
        self._texts.clear()
        self.refresh()

    def text_of(self, row: int) -> tuple[str, Style]:
        """The text and style of ``row`` (without the cursor)."""
        known = self._texts.get(row)
        if known is None:
            if len(self._texts) > KEPT_ROWS:
                self._texts.clear()
            known = self._texts[row] = self._text_of(row)
        return known

    def _text_of(self, row: int) -> tuple[str, Style]:
        step = self.step_of(row)
        style = STYLES[self.model.style(row)]
        if self.model.comparison is not None and row == self.model.comparison.first_divergence:
            style = style + FIRST
        mark = self.model.mark(row)
        if not step:
            return f"{mark}{'·':>{self.layout_().step + 1}}", STYLES["dim"] + style
        event = self.data.cached(step)
        if event is None:
            return f"{mark} {step:>{self.layout_().step}} …", STYLES["dim"]
        text = row_text(event, self.data.info.started_ns, self.layout_(), self.data.job_names)
        return mark + text, style

    def visible_text(self) -> list[str]:
        """The text of the rows on screen (for tests)."""
        top = int(self.scroll_offset.y)
        height = max(1, self.scrollable_content_region.height)
        return [self.text_of(row)[0] for row in range(top, min(top + height, self.model.rows))]

    def render_line(self, y: int) -> Strip:
        """Draw one row: this side's message on it (or a gap), coloured by the row's kind."""
        self.painted_at = time.perf_counter()
        width = self.scrollable_content_region.width
        row = int(self.scroll_offset.y) + y
        base = self.rich_style
        if not 0 <= row < self.model.rows:
            return Strip.blank(width, base)
        text, style = self.text_of(row)
        if row == self.model.cursor:
            style = style + CURSOR
        return Strip([Segment(text[:width].ljust(width), base + style)], width)


class CompareScreen(Screen[None]):
    """Two sessions side by side: aligned rows, the first divergence, one cursor.

    Args:
        a: Session A (left).
        b: Session B (right); maybe of another log.
    """

    DEFAULT_CSS = """
    CompareScreen #pair { height: 2fr; }
    CompareScreen #difference { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = bindings(COMPARE_KEYS)

    def __init__(self, a: SessionData, b: SessionData) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.model = SideBySide()
        self.shown_row = -1
        self._reading = False
        self.moves = 0
        self.changed_at = 0.0

    def compose(self) -> ComposeResult:
        """Title, the two columns, the difference panel, status bar, footer."""
        urls = [str(data.replay.log.url) for data in (self.a, self.b)]
        logs = urls[0] if urls[0] == urls[1] else " and ".join(urls)
        yield Static(
            f"pipebus inspector  side by side  {self.a.info.id[:8]} and {self.b.info.id[:8]}"
            f"  {logs}",
            id="title",
        )
        with Horizontal(id="pair"):
            yield SideTimeline(self.model, self.a, "a", id="side-a")
            yield SideTimeline(self.model, self.b, "b", id="side-b")
        yield Panel("difference", id="difference", wrap=True)
        yield StatusBar("comparing…", id="status")
        yield Footer()

    @property
    def sides(self) -> tuple[SideTimeline, SideTimeline]:
        """The two columns, A then B."""
        return self.query_one("#side-a", SideTimeline), self.query_one("#side-b", SideTimeline)

    @property
    def drawn(self) -> bool:
        """Whether :attr:`idle` and both columns and the panel painted since the last move."""
        panel = self.query_one("#difference", Panel)
        painted = all(side.painted_at >= self.changed_at for side in self.sides)
        return self.idle and painted and panel.painted_at >= panel.changed_at

    @property
    def idle(self) -> bool:
        """Whether the comparison is made and the screen shows the cursor's row, read."""
        if self.model.comparison is None or self._reading or self.workers:
            return False
        if self.shown_row != self.model.cursor:
            return False
        return not any(side.data.missing(side.wanted()) for side in self.sides)

    def on_mount(self) -> None:
        """Compare the sessions (in a worker: a big pair takes seconds)."""
        self.sides[0].focus()
        self.run_worker(self._compare(), group="compare")

    async def _compare(self) -> None:
        status = self.query_one(StatusBar)

        def progress(done: int, rows: int) -> None:
            status.show(f"comparing… {done:,} of {rows:,} rows")

        try:
            comparison = await compare(self.a, self.b, progress)
        except PipebusError as exc:
            status.show(f"cannot compare the sessions: {exc}")
            return
        self.model.comparison = comparison
        first = self.model.first_divergence()
        self.moved("" if first is not None else "the sessions are the same")

    # --- after a move -------------------------------------------------------------------

    def moved(self, note: str | None = None) -> None:
        """The cursor moved: both columns follow it, the difference panel is read again."""
        if note is not None:
            self.model.note = note
        self.moves += 1
        self.changed_at = time.perf_counter()
        for side in self.sides:
            side.sync()
        self.query_one(StatusBar).show(self.model.status())
        if self._reading:
            return  # the read going on goes on to the cursor's row
        if not any(side.data.missing(side.wanted()) for side in self.sides):
            self.show_pair(self.model.cursor)  # every row read: nothing to wait for
            return
        self._reading = True
        self.run_worker(self._read(), group="rows")

    async def _read(self) -> None:
        """Read the rows on screen and the cursor's pair, until they are the cursor's."""
        try:
            while True:
                row = self.model.cursor
                for side in self.sides:
                    if side.data.missing(side.wanted()):
                        # Twice the margin: the next hundred rows scrolled read nothing.
                        await side.data.load(side.wanted(2 * MARGIN))
                        side.rows_read()
                self.show_pair(row)
                if row == self.model.cursor:
                    break
        except (PipebusError, IndexError) as exc:
            self.model.note = f"cannot read row {self.model.cursor + 1}: {exc}"
            self.query_one(StatusBar).show(self.model.status())
        finally:
            self._reading = False

    def show_pair(self, row: int) -> None:
        """Fill the difference panel with what differs on ``row`` (read already)."""
        comparison = self.model.comparison
        if comparison is None or not self.model.rows:
            return
        a_step, b_step = self.model.steps(row)
        one = self.a.cached(a_step) if a_step else None
        other = self.b.cached(b_step) if b_step else None
        lines = pair_lines(comparison, row, one, other)
        panel = self.query_one("#difference", Panel)
        panel.show(lines)
        panel.border_title = f"row {row + 1:,}: {comparison.kind_name(row)}"
        self.shown_row = row

    # --- keys ---------------------------------------------------------------------------------

    def action_step(self, rows: int) -> None:
        """Both cursors a row on (back, negative)."""
        self.model.move(rows)
        self.moved("")

    def action_page(self, pages: int) -> None:
        """Both cursors a page on."""
        height = self.sides[0].scrollable_content_region.height
        self.model.move(pages * max(1, height - 1))
        self.moved("")

    def action_first(self) -> None:
        """To the first row."""
        self.model.go(0)
        self.moved("")

    def action_last(self) -> None:
        """To the last row."""
        self.model.go(self.model.rows - 1)
        self.moved("")

    def action_divergence(self, back: bool) -> None:
        """To the next (previous) divergent row."""
        found = self.model.divergence(back=back)
        self.moved("" if found is not None else f"no divergence {'before' if back else 'after'}")

    def action_first_divergence(self) -> None:
        """To the first divergence."""
        found = self.model.first_divergence()
        self.moved("" if found is not None else "the sessions are the same")

    def action_help(self) -> None:
        """Every key of this screen."""
        self.app.push_screen(LinesScreen("keys (Esc closes)", key_lines(COMPARE_KEYS)))

    async def action_sessions(self) -> None:
        """Back to the sessions screen."""
        await self.app.run_action("sessions")
