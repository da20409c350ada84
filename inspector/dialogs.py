"""The inspector's small screens: a prompt, a picker, the help, and a lines viewer.

Each is a modal screen over the main one; Escape closes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from inspector.keys import KEYS, STOPS_KEYS, WATERFALL_KEYS, Key, bindings, shown
from inspector.panels import Line
from inspector.stops import Recall
from inspector.waterfall import Window, ordered, waterfall
from inspector.widgets import Panel
from pipebus.tracing.records import SpanRecord

DIALOG_CSS = """
.dialog { width: 90%; height: auto; max-height: 90%; border: thick $accent;
          background: $surface; padding: 0 1; }
.dialog Label { width: 100%; }
.dialog .hint { color: $text-muted; }
.tall { height: 90%; }
"""


class PromptScreen(ModalScreen[str | None]):
    """Asks for one line of text; dismissed with it (Enter) or None (Escape).

    Up and Down go back and forth through ``history`` (oldest first), as in a shell.
    """

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel"),
        Binding("up", "recall(True)", "older", show=False),
        Binding("down", "recall(False)", "newer", show=False),
    ]

    def __init__(
        self, title: str, hint: str = "", value: str = "", history: Sequence[str] = ()
    ) -> None:
        super().__init__()
        self._title, self._hint, self._value = title, hint, value
        self._recall = Recall(history)

    def compose(self) -> ComposeResult:
        """A title, the input and a hint."""
        with Vertical(classes="dialog"):
            yield Label(self._title)
            yield Input(value=self._value, id="prompt")
            if self._hint:
                yield Label(self._hint, classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: done."""
        self.dismiss(event.value)

    def action_recall(self, older: bool) -> None:
        """Up: an older entry of the history; Down: a newer one (past the newest: as typed)."""
        prompt = self.query_one("#prompt", Input)
        found = self._recall.older(prompt.value) if older else self._recall.newer()
        if found is not None:
            prompt.value = found
            prompt.cursor_position = len(found)

    def action_cancel(self) -> None:
        """Escape: nothing."""
        self.dismiss(None)


class PickScreen(ModalScreen[int | None]):
    """Picks one of several steps; dismissed with it (Enter) or None (Escape)."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, choices: Sequence[tuple[int, str]]) -> None:
        super().__init__()
        self._title = title
        self._choices = choices

    def compose(self) -> ComposeResult:
        """A title and the choices."""
        with Vertical(classes="dialog"):
            yield Label(self._title)
            yield OptionList(*(Option(text, id=str(step)) for step, text in self._choices))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter: that step."""
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        """Escape: nothing."""
        self.dismiss(None)


class LinesScreen(ModalScreen[None]):
    """Shows lines (the help, a waterfall) in a scrollable panel."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "close")]

    def __init__(self, title: str, lines: Sequence[Line]) -> None:
        super().__init__()
        self._title = title
        self._lines = lines

    def compose(self) -> ComposeResult:
        """The panel."""
        with Vertical(classes="dialog tall"):
            yield Panel(self._title, id="lines")

    def on_mount(self) -> None:
        """Fill the panel."""
        panel = self.query_one("#lines", Panel)
        panel.show(self._lines)
        panel.focus()

    def action_close(self) -> None:
        """Escape: back."""
        self.dismiss(None)


class WaterfallScreen(ModalScreen[int | None]):
    """A waterfall of spans that fits its box: pick a span, zoom and pan, go to its step.

    Dismissed with the picked span's step (Enter) or None (Escape).

    Args:
        title: The panel's title.
        spans: The spans.
        steps: The step each span leads to (by span id).
        mark: The span of the message at the cursor (picked first), if any.
    """

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = bindings(WATERFALL_KEYS)

    def __init__(
        self,
        title: str,
        spans: Sequence[SpanRecord],
        steps: dict[int, int],
        mark: int | None = None,
    ) -> None:
        super().__init__()
        self._title = title
        self.spans = list(spans)
        self.rows = [span for span, _ in ordered(spans)]
        self.steps = steps
        self.mark = mark
        self.selected = next((n for n, s in enumerate(self.rows) if s.span_id == mark), 0)
        self.window: Window | None = None

    def compose(self) -> ComposeResult:
        """The panel."""
        with Vertical(classes="dialog tall"):
            yield Panel(self._title, id="lines")

    def on_mount(self) -> None:
        """Draw once the panel has its width."""
        panel = self.query_one("#lines", Panel)
        panel.border_subtitle = "  ".join(
            f"{shown(key.keys)}: {key.label}" for key in WATERFALL_KEYS if key.label
        )
        panel.focus()
        self.call_after_refresh(self.draw)

    def on_resize(self) -> None:
        """Draw again at the new width."""
        self.call_after_refresh(self.draw)

    @property
    def whole(self) -> Window:
        """The spans' whole time."""
        return min(s.start_ns for s in self.spans), max(s.end_ns for s in self.spans)

    def draw(self) -> None:
        """The waterfall at the panel's width, the picked span kept in view."""
        panel = self.query_one("#lines", Panel)
        width = panel.scrollable_content_region.width
        if not self.spans or width <= 0:
            panel.show(waterfall(self.spans, max(width, 1)))
            return
        panel.show(
            waterfall(self.spans, width, mark=self.mark, window=self.window, selected=self.selected)
        )
        height = max(1, panel.scrollable_content_region.height)
        row = self.selected + 1  # below the header
        top = int(panel.scroll_offset.y)
        if not top <= row < top + height:
            panel.scroll_to(y=max(0, row - height + 1), animate=False, immediate=True)

    def action_pick(self, rows: int) -> None:
        """Pick the span ``rows`` below (above, negative)."""
        if self.rows:
            self.selected = max(0, min(len(self.rows) - 1, self.selected + rows))
            self.draw()

    def action_go(self) -> None:
        """Go to the picked span's step."""
        if self.rows:
            self.dismiss(self.steps.get(self.rows[self.selected].span_id))

    def action_zoom(self, factor: float) -> None:
        """Show ``factor`` times as much time, around the picked span (never beyond all)."""
        if not self.rows:
            return
        lo, hi = self.window or self.whole
        first, last = self.whole
        span = self.rows[self.selected]
        middle = (span.start_ns + span.end_ns) // 2 if factor < 1 else (lo + hi) // 2
        half = max(1_000, int((hi - lo) * factor / 2))
        if 2 * half >= last - first:
            self.window = None
        else:
            self.window = _within(middle - half, middle + half, first, last)
        self.draw()

    def action_fit(self) -> None:
        """Zoom to the picked span's own time (others run past the edges)."""
        if self.rows:
            span = self.rows[self.selected]
            self.window = (span.start_ns, max(span.end_ns, span.start_ns + 1_000))
            self.draw()

    def action_whole(self) -> None:
        """The spans' whole time again."""
        self.window = None
        self.draw()

    def action_pan(self, fraction: float) -> None:
        """Move the zoomed view by ``fraction`` of its width (later, positive)."""
        if self.window is None:
            return
        lo, hi = self.window
        shift = int((hi - lo) * fraction)
        self.window = _within(lo + shift, hi + shift, *self.whole)
        self.draw()

    def action_close(self) -> None:
        """Escape: back."""
        self.dismiss(None)


def _within(lo: int, hi: int, first: int, last: int) -> Window:
    """The window ``lo`` to ``hi`` moved (not shrunk) to lie within ``first`` to ``last``."""
    if lo < first:
        lo, hi = first, hi + first - lo
    if hi > last:
        lo, hi = max(first, lo - (hi - last)), last
    return lo, hi


def key_lines(keys: Sequence[Key]) -> list[Line]:
    """Keys by section, as the help shows them."""
    lines: list[Line] = []
    group = ""
    for key in keys:
        if key.group != group:
            group = key.group
            lines.append(Line("" if not lines else " "))
            lines.append(Line(group, "head"))
        lines.append(Line(f"  {shown(key.keys):<22} {key.description}"))
    return lines


def help_lines() -> list[Line]:
    """Every key of the main screen, by section, and the query syntax."""
    lines = key_lines((*KEYS, *WATERFALL_KEYS, *STOPS_KEYS))
    lines += [
        Line(" "),
        Line("queries (filter, find, breakpoints)", "head"),
        Line("  type:update  cat:job|lifecycle|frame|registry|error  source:NAME"),
        Line("  target:NAME  worker:NAME  job:ID-PREFIX  /regex over payload/  word"),
        Line("  same key twice: either; different keys: both; bare words: every one"),
        Line("  several /regexes/: either; a leading ! inverts"),
        Line("  find: n / N go on past the last / first match, around to the other end"),
        Line("  breakpoints: type:NAME, worker:NAME, error, job:ID (or any query)"),
    ]
    return lines
