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

from inspector.keys import KEYS, shown
from inspector.panels import Line
from inspector.widgets import Panel

DIALOG_CSS = """
.dialog { width: 90%; height: auto; max-height: 90%; border: thick $accent;
          background: $surface; padding: 0 1; }
.dialog Label { width: 100%; }
.dialog .hint { color: $text-muted; }
.tall { height: 90%; }
"""


class PromptScreen(ModalScreen[str | None]):
    """Asks for one line of text; dismissed with it (Enter) or None (Escape)."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, hint: str = "", value: str = "") -> None:
        super().__init__()
        self._title, self._hint, self._value = title, hint, value

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


def help_lines() -> list[Line]:
    """Every key of the main screen, by section, and the query syntax."""
    lines: list[Line] = []
    group = ""
    for key in KEYS:
        if key.group != group:
            group = key.group
            lines.append(Line("" if not lines else " "))
            lines.append(Line(group, "head"))
        lines.append(Line(f"  {shown(key.keys):<22} {key.description}"))
    lines += [
        Line(" "),
        Line("queries (filter, find, breakpoints)", "head"),
        Line("  type:update  cat:job|lifecycle|frame|registry|error  source:NAME"),
        Line("  target:NAME  worker:NAME  job:ID-PREFIX  /regex over payload/  word"),
        Line("  same key twice: either; different keys: both; a leading ! inverts"),
        Line("  breakpoints: type:NAME, worker:NAME, error, job:ID (or any query)"),
    ]
    return lines
