"""The inspector's widgets: the timeline (Textual's line API) and the text panels.

They only draw: the timeline asks the view-model which step each row shows and the
data module's cache for its event (a row not yet read is drawn as ``…`` and asked
for); a panel shows the lines :mod:`inspector.panels` made.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from inspector.data import SessionData
from inspector.model import ViewModel
from inspector.panels import Line, RowLayout, row_style, row_text

STYLES: dict[str, Style] = {
    "": Style(),
    "head": Style(bold=True),
    "key": Style(color="cyan"),
    "dim": Style(dim=True),
    "system": Style(color="bright_black"),
    "error": Style(color="red", bold=True),
    "added": Style(color="green", bold=True),
    "changed": Style(color="yellow", bold=True),
    "removed": Style(color="red", strike=True),
    "selected": Style(reverse=True, bold=True),
}
"""Colours of the panels' style names."""

CURSOR = Style(reverse=True, bold=True)
FOUND = Style(bgcolor="dark_goldenrod", color="black")
MARGIN = 100
"""Rows read beyond the visible ones, on each side."""


def top_for(view: ScrollView, row: int) -> int:
    """The first visible row of ``view`` once ``row`` is scrolled into view (one row a line)."""
    top = int(view.scroll_offset.y)
    height = max(1, view.scrollable_content_region.height)
    if row < top:
        return row
    if row >= top + height:
        return row - height + 1
    return top


class Timeline(ScrollView, can_focus=True):
    """Every row of the session, drawn only when visible (``render_line``)."""

    DEFAULT_CSS = """
    Timeline { border: round $primary; border-title-color: $text; }
    """

    class Missing(Message):
        """Rows on screen whose events are not read yet."""

    class Picked(Message):
        """A row was clicked: the cursor goes to its step."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    def on_click(self, event: events.Click) -> None:
        """Clicking a row puts the cursor on it."""
        inside = event.get_content_offset(self)
        step = self.model.step_at(int(self.scroll_offset.y) + inside.y) if inside else 0
        if step:
            self.post_message(self.Picked(step))

    def __init__(self, model: ViewModel, data: SessionData, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.data = data
        self.border_title = "timeline"
        self._asked = False
        self._drawn_row = 0
        self._drawn_rows: object = None
        self._style: Style | None = None
        self._row_layout = RowLayout.fit(0, 0)
        self._row_layout_for = (-1, -1)
        self.changed_at = self.painted_at = 0.0

    @property
    def row_layout(self) -> RowLayout:
        """The columns of a row at the timeline's width (the cursor's mark aside)."""
        width = self.scrollable_content_region.width - 1
        digits = len(str(self.model.length))
        if (width, digits) != self._row_layout_for:
            self._row_layout_for = (width, digits)
            self._row_layout = RowLayout.fit(width, self.model.length)
        return self._row_layout

    def sync(self) -> None:
        """The rows changed (count, cursor, filter): resize, keep the cursor visible, redraw.

        When only the cursor moved within the visible rows, only its old and new
        rows are redrawn.
        """
        self.changed_at = time.perf_counter()
        count = self.model.row_count
        resized = self.virtual_size.height != count
        if resized:
            self.virtual_size = Size(self.size.width, count)
        row = self.model.row_of(self.model.cursor)
        top = self.top_for(row)
        scrolled = top != int(self.scroll_offset.y)
        if scrolled:
            self.scroll_to(y=top, animate=False, immediate=True)
        old, self._drawn_row = self._drawn_row, row
        if resized or scrolled or self.model.rows is not self._drawn_rows:
            self._drawn_rows = self.model.rows
            self.refresh()
        else:
            self.refresh_line(old)
            self.refresh_line(row)

    def top_for(self, row: int) -> int:
        """The first visible row once ``row`` is scrolled into view."""
        return top_for(self, row)

    def wanted(self, step: int | None = None) -> list[int]:
        """The steps of the visible rows and a margin around them, for reading.

        With ``step``: those rows once the cursor is on ``step`` (before it moves).
        """
        top = int(self.scroll_offset.y) if step is None else self.top_for(self.model.row_of(step))
        height = max(1, self.scrollable_content_region.height)
        first = max(0, top - MARGIN)
        last = min(self.model.row_count, top + height + MARGIN)
        if self.model.rows is None:
            return list(range(first + 1, last + 1))
        return list(self.model.rows[first:last])

    def visible_text(self) -> list[str]:
        """The text of the rows on screen (for tests and screenshots)."""
        top = int(self.scroll_offset.y)
        height = max(1, self.scrollable_content_region.height)
        return [self._text(self.model.step_at(row))[0] for row in range(top, top + height)]

    def render_line(self, y: int) -> Strip:
        """Draw one row: the step at that row, its event if read, cursor and finds marked."""
        self.painted_at = time.perf_counter()
        width = self.scrollable_content_region.width
        row = int(self.scroll_offset.y) + y
        step = self.model.step_at(row)
        if step == 0:
            return Strip.blank(width, self._base())
        text, style = self._text(step)
        if step == self.model.cursor:
            style = style + CURSOR
        text = text[:width].ljust(width)
        return Strip([Segment(text, self._base() + style)], width)

    def _base(self) -> Style:
        """The widget's own style (looked up once per change, not once per line)."""
        if self._style is None:
            self._style = self.rich_style
        return self._style

    def on_resize(self) -> None:
        """Look the style up again (the theme or size may have changed)."""
        self._style = None

    def refresh_rows(self) -> None:
        """Redraw the rows (their events were read)."""
        self.changed_at = time.perf_counter()
        self.refresh()

    def _text(self, step: int) -> tuple[str, Style]:
        if step == 0:
            return "", Style()
        event = self.data.cached(step)
        if event is None:
            if not self._asked:
                self._asked = True
                self.call_later(self._ask)
            return f" {step:>{self.row_layout.step}} …", STYLES["dim"]
        summary = None
        if self.model.folded and event.job_id and event.job_id not in self.model.expanded:
            summary = self.data.jobs.get(event.job_id)
        style = STYLES[row_style(event)]
        mark = "●" if any(b.matches(event) for b in self.model.breakpoints) else " "
        if self.model.find is not None and self.model.find.matches(event):
            style = style + FOUND
        text = row_text(
            event,
            self.data.info.started_ns,
            self.row_layout,
            self.data.job_names,
            job=self.data.error_jobs.get(step),
            summary=summary,
        )
        return mark + text, style

    def _ask(self) -> None:
        self._asked = False
        self.post_message(self.Missing())


class Panel(ScrollView, can_focus=True):
    """A titled, scrollable panel of lines (message, workers, jobs, waterfall, help).

    Drawn with the line API too: showing new lines resizes the virtual area and
    redraws the visible part, with no layout of the screen. With ``wrap``, a line
    wider than the panel goes on over the next rows (:func:`wrapped`), indented
    under its own start, instead of off the right edge.
    """

    DEFAULT_CSS = """
    Panel { border: round $secondary; height: 1fr; padding: 0 1; }
    Panel:focus { border: round $accent; }
    """

    def __init__(self, title: str, *, id: str | None = None, wrap: bool = False) -> None:
        super().__init__(id=id)
        self.border_title = title
        self.wrap = wrap
        self.lines: list[Line] = []
        self.rows: list[Line] = []
        """The rows drawn: the lines, wrapped to the panel's width if ``wrap``."""
        self._wrapped_at = -1
        self._style: Style | None = None
        self.changed_at = self.painted_at = 0.0

    def show(self, lines: Sequence[Line]) -> None:
        """Show ``lines`` (from the top); the same lines again change nothing."""
        if list(lines) == self.lines:
            return
        self.changed_at = time.perf_counter()
        self.lines = list(lines)
        self._wrapped_at = -1
        self._lay_out()
        if self.scroll_offset != (0, 0):
            self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def _lay_out(self) -> None:
        """Wrap the lines to the width (if need be) and size the virtual area to the rows."""
        width = self.scrollable_content_region.width
        if self.wrap and width > 0:
            if width != self._wrapped_at:
                self._wrapped_at = width
                self.rows = [row for line in self.lines for row in wrapped(line, width)]
        else:
            self.rows = self.lines
        widest = max((len(row.text) for row in self.rows), default=0)
        size = Size(min(widest, width) if self.wrap and width > 0 else widest, len(self.rows))
        if size != self.virtual_size:  # a new size lays the scrollbars out again: only if need be
            self.virtual_size = size

    def render_line(self, y: int) -> Strip:
        """One row, in its style's colours, scrolled sideways if need be."""
        self.painted_at = time.perf_counter()
        width = self.scrollable_content_region.width
        row = int(self.scroll_offset.y) + y
        if not 0 <= row < len(self.rows):
            return Strip.blank(width, self._base())
        line = self.rows[row]
        left = int(self.scroll_offset.x)
        text = line.text[left : left + width].ljust(width)
        return Strip([Segment(text, self._base() + STYLES.get(line.style, Style()))], width)

    @property
    def plain(self) -> str:
        """The panel's text without styles (what tests read)."""
        return "\n".join(line.text for line in self.lines)

    def _base(self) -> Style:
        """The widget's own style (looked up once per change, not once per line)."""
        if self._style is None:
            self._style = self.rich_style
        return self._style

    def on_resize(self) -> None:
        """Look the style up again (the theme or size may have changed); wrap again."""
        self._style = None
        if self.wrap:
            self._lay_out()
            self.refresh()


def wrapped(line: Line, width: int) -> list[Line]:
    """``line`` as rows of at most ``width`` characters, the rest indented under its start.

    Cut at the last space that fits when there is one (words stay whole), else at the
    width (a long string without spaces).
    """
    if len(line.text) <= width:
        return [line]
    start = len(line.text) - len(line.text.lstrip(" "))
    indent = " " * min(start + 2, width // 2)
    rows: list[Line] = []
    rest = line.text
    first = True
    while rest:
        room = width if first else width - len(indent)
        lead = "" if first else indent
        if len(rest) <= room:
            rows.append(Line(lead + rest, line.style))
            break
        cut = rest.rfind(" ", len(rest) - len(rest.lstrip(" ")) + 1, room + 1)
        cut = cut if cut > 0 else room
        rows.append(Line(lead + rest[:cut].rstrip(" "), line.style))
        rest = rest[cut:].lstrip(" ")
        first = False
    return rows


class StatusBar(Widget):
    """One line of text (the status bar), redrawn without a new layout."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = text

    def show(self, text: str) -> None:
        """Show ``text``."""
        if text != self.text:
            self.text = text
            self.refresh()

    def render(self) -> str:
        """The text."""
        return self.text
