"""The list of breakpoints and filters (``L``): turn each one on or off, remove it.

A modal screen over the main one. Every change applies at once (the main screen is
told, refilters and saves); Escape closes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList

from inspector.dialogs import DIALOG_CSS
from inspector.keys import STOPS_KEYS, bindings, shown
from inspector.stops import Stop, Stops, described


class StopsScreen(ModalScreen[None]):
    """The session's breakpoints and filters, one a row.

    Args:
        stops: The session's stops (changed in place).
        changed: Called after each change, with the stop changed and whether it was removed.
    """

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings(STOPS_KEYS),
        Binding("down,j", "cursor(1)", show=False, priority=True),
        Binding("up,k", "cursor(-1)", show=False, priority=True),
    ]

    def __init__(self, stops: Stops, changed: Callable[[Stop, bool], None]) -> None:
        super().__init__()
        self.stops = stops
        self._changed = changed

    def compose(self) -> ComposeResult:
        """A title, the list and its keys."""
        with Vertical(classes="dialog"):
            yield Label("Breakpoints and filters (one filter is on at a time)")
            yield OptionList(id="stops")
            yield Label(
                "  ".join(f"{shown(key.keys)}: {key.label}" for key in STOPS_KEYS),
                classes="hint",
            )

    def on_mount(self) -> None:
        """Fill the list."""
        self.fill()
        self.query_one(OptionList).focus()

    @property
    def rows(self) -> list[str]:
        """The rows as shown (for tests)."""
        found = self.query_one(OptionList)
        return [str(found.get_option_at_index(n).prompt) for n in range(found.option_count)]

    def fill(self, highlighted: int = 0) -> None:
        """Show the stops, the row ``highlighted`` picked."""
        found = self.query_one(OptionList)
        found.clear_options()
        if not self.stops.items:
            found.add_option("no breakpoint or filter: b adds a breakpoint, f a filter")
            found.disabled = True
            return
        found.add_options([described(stop) for stop in self.stops.items])
        found.highlighted = max(0, min(highlighted, len(self.stops.items) - 1))

    def _picked(self) -> int | None:
        at = self.query_one(OptionList).highlighted
        return at if self.stops.items and at is not None else None

    def action_cursor(self, rows: int) -> None:
        """Pick the row ``rows`` below (above, negative)."""
        at = self._picked()
        if at is not None:
            self.query_one(OptionList).highlighted = max(
                0, min(len(self.stops.items) - 1, at + rows)
            )

    def action_switch(self) -> None:
        """Turn the picked stop on or off."""
        at = self._picked()
        if at is not None:
            stop = self.stops.toggle(at)
            self.fill(at)
            self._changed(stop, False)

    def action_remove(self) -> None:
        """Remove the picked stop."""
        at = self._picked()
        if at is not None:
            stop = self.stops.remove(at)
            self.fill(at)
            self._changed(stop, True)

    def action_close(self) -> None:
        """Back."""
        self.dismiss(None)
