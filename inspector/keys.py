"""Every key of the main screen, in one table: the bindings, the help and the palette.

The help screen (``?``/F1) and the command palette (Ctrl+P) list exactly these, so
a key added here is discoverable in both.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True, slots=True)
class Key:
    """One action of the main screen and the keys that run it.

    Attributes:
        keys: Textual key names, comma-separated.
        action: The screen's action (``action_<name>``), with arguments if any.
        description: What it does (help and palette).
        group: The help's section.
        label: Its short name in the footer (``""``: not in the footer).
    """

    keys: str
    action: str
    description: str
    group: str
    label: str = ""


KEYS: tuple[Key, ...] = (
    Key("down,j", "step(1)", "next step", "move", "next"),
    Key("up,k", "step(-1)", "previous step", "move", "prev"),
    Key("pagedown,ctrl+d", "page(1)", "a page down", "move"),
    Key("pageup,ctrl+u", "page(-1)", "a page up", "move"),
    Key("right,l", "scrub(0.01)", "scrub forward 1% of the session", "move"),
    Key("left,h", "scrub(-0.01)", "scrub back 1% of the session", "move"),
    Key("home,g", "first", "first step", "move"),
    Key("end,G", "last", "last step (resumes following a live session)", "move"),
    Key("colon", "goto_step", "go to a step", "move", "go to"),
    Key("t", "goto_time", "go to a time (ms since the start, or +/-ms from here)", "move"),
    Key(
        "left_square_bracket",
        "back",
        "back to where the last jump left (: t g G c x e E n N r R, a span)",
        "move",
    ),
    Key("right_square_bracket", "forward", "forward again (after going back)", "move"),
    Key("c", "cause", "jump to the cause (the message whose handler sent it)", "cause"),
    Key("x", "effects", "pick one of the messages it caused", "cause"),
    Key("s", "spans", "waterfall of its job's spans (or its trace's)", "cause", "spans"),
    Key("w", "jobs_waterfall", "waterfall of the jobs around the cursor (the session's)", "cause"),
    Key("e", "next_error", "next handler or worker error", "errors", "next error"),
    Key("E", "previous_error", "previous error", "errors"),
    Key("f", "filter", "filter: show only what matches", "search", "filter"),
    Key("F", "clear_filter", "clear the filter", "search"),
    Key("slash", "find", "find: highlight what matches", "search", "find"),
    Key("n", "find_next", "next find match", "search"),
    Key("N", "find_previous", "previous find match", "search"),
    Key(
        "escape",
        "clear_find",
        "cancel a running filter or find; else clear the find (and leave full screen)",
        "search",
    ),
    Key(
        "b",
        "add_breakpoint",
        "add a breakpoint (type:, worker:, error, job:)",
        "breakpoints",
        "break",
    ),
    Key("B", "clear_breakpoints", "remove every breakpoint", "breakpoints"),
    Key(
        "L",
        "stops",
        "list breakpoints and filters: turn each on or off, remove it",
        "breakpoints",
    ),
    Key(
        "r,f5",
        "continue",
        "continue to the next breakpoint hit (waits live)",
        "breakpoints",
        "continue",
    ),
    Key("R", "continue_back", "continue back to the previous hit", "breakpoints"),
    Key("z", "fold", "fold each job into one row / unfold", "view"),
    Key("enter", "toggle_job", "expand or collapse the job at the cursor", "view"),
    Key("o", "open_payload", "open or fold a large payload", "view"),
    Key("1", "full_screen('timeline')", "timeline full screen / back", "view"),
    Key("2", "full_screen('detail')", "message panel full screen / back", "view"),
    Key("3", "full_screen('workers')", "workers panel full screen / back", "view"),
    Key("4", "full_screen('jobs')", "jobs panel full screen / back", "view"),
    Key(
        "d",
        "state_view",
        "state panel: this step's diff, then the whole state as a tree, then hidden",
        "view",
    ),
    Key("5", "full_screen('state')", "state panel full screen / back", "view"),
    Key("p", "copy_payload", "copy the payload to the clipboard", "export"),
    Key("X", "export_jsonl", "export a slice of steps as JSONL", "export"),
    Key("T", "export_fixture", "export a worker's slice as a pytest regression fixture", "export"),
    Key("S", "sessions", "back to the sessions", "app"),
    Key("question_mark,f1", "help", "this help", "app", "help"),
    Key("ctrl+p", "app.command_palette", "command palette: every action by name", "app"),
    Key("q", "app.quit", "quit", "app", "quit"),
)
"""Every key of the main screen."""

SESSIONS_KEYS: tuple[Key, ...] = (
    Key("enter", "open", "inspect the session at the cursor", "sessions", "open"),
    Key("down,j", "cursor(1)", "next session", "sessions"),
    Key("up,k", "cursor(-1)", "previous session", "sessions"),
    Key("home,g", "first", "first (newest) session", "sessions"),
    Key("end,G", "last", "last (oldest) session", "sessions"),
    Key("r", "reload", "read the sessions again", "sessions", "reload"),
    Key(
        "m",
        "mark",
        "mark the session to compare; a second mark opens the two side by side",
        "sessions",
    ),
    Key("question_mark,f1", "help", "this help", "app", "help"),
    Key("q", "app.quit", "quit", "app", "quit"),
)
"""Every key of the sessions screen."""

COMPARE_KEYS: tuple[Key, ...] = (
    Key("down,j", "step(1)", "next row (both sessions step)", "side by side", "next"),
    Key("up,k", "step(-1)", "previous row", "side by side", "prev"),
    Key("pagedown,ctrl+d", "page(1)", "a page down", "side by side"),
    Key("pageup,ctrl+u", "page(-1)", "a page up", "side by side"),
    Key("home,g", "first", "first row", "side by side"),
    Key("end,G", "last", "last row", "side by side"),
    Key("n", "divergence(False)", "next divergent row", "side by side", "next diff"),
    Key("N", "divergence(True)", "previous divergent row", "side by side"),
    Key("d", "first_divergence", "the first divergence", "side by side", "first diff"),
    Key("escape,S", "sessions", "back to the sessions", "app"),
    Key("question_mark,f1", "help", "this help", "app", "help"),
    Key("q", "app.quit", "quit", "app", "quit"),
)
"""Every key of the side-by-side screen (``--compare``, ``m`` twice on the sessions)."""

WATERFALL_KEYS: tuple[Key, ...] = (
    Key("down,j", "pick(1)", "next span", "waterfall (s, w)"),
    Key("up,k", "pick(-1)", "previous span", "waterfall (s, w)"),
    Key("enter", "go", "go to the span's step", "waterfall (s, w)", "go to"),
    Key("plus,equals_sign", "zoom(0.5)", "zoom in on the span", "waterfall (s, w)", "zoom in"),
    Key("minus", "zoom(2.0)", "zoom out", "waterfall (s, w)", "zoom out"),
    Key("f", "fit", "zoom to the span's own time", "waterfall (s, w)"),
    Key("0", "whole", "the whole time again", "waterfall (s, w)"),
    Key("right,l", "pan(0.25)", "later (a quarter of the view)", "waterfall (s, w)"),
    Key("left,h", "pan(-0.25)", "earlier (a quarter of the view)", "waterfall (s, w)"),
    Key("escape,q", "close", "close", "waterfall (s, w)", "close"),
)
"""Every key of a waterfall (``s``, ``w``)."""

STOPS_KEYS: tuple[Key, ...] = (
    Key("space,enter", "switch", "turn the breakpoint or filter on or off", "list (L)", "on/off"),
    Key("delete,backspace,x", "remove", "remove it", "list (L)", "remove"),
    Key("escape,q", "close", "close", "list (L)", "close"),
)
"""Every key of the list of breakpoints and filters (``L``)."""

SHOWN: dict[str, str] = {
    "colon": ":",
    "plus": "+",
    "equals_sign": "=",
    "minus": "-",
    "slash": "/",
    "question_mark": "?",
    "pagedown": "PgDn",
    "pageup": "PgUp",
    "escape": "Esc",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}


def bindings(keys: tuple[Key, ...] = KEYS) -> list[BindingType]:
    """A screen's bindings (the palette entry is the app's own).

    Every one is a priority binding: the timeline and the panels are scroll views,
    whose own bindings (up, down, pages, home, end, left, right) would otherwise win
    whenever one of them has focus, scrolling the view and leaving the cursor behind
    (the sessions table's Home and End only scroll it sideways). Neither screen takes
    typing, and dialogs are screens of their own, whose keys these never shadow.
    """
    return [
        Binding(
            key.keys,
            key.action,
            key.label or key.description,
            show=bool(key.label),
            priority=True,
        )
        for key in keys
        if key.action != "app.command_palette"
    ]


def shown(keys: str) -> str:
    """Keys as a person types them: ``"down,j"`` is ``"down / j"``."""
    return " / ".join(SHOWN.get(k, k) for k in keys.split(","))
