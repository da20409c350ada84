"""The sessions screen: every session of the log, newest first, to pick one to inspect."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from inspector.data import SessionRow, list_sessions
from inspector.dialogs import LinesScreen, key_lines
from inspector.keys import SESSIONS_KEYS, bindings
from inspector.panels import took
from pipebus.core.errors import PipebusError
from pipebus.eventlog.store import EventLog

RELOAD_EVERY = 1.0
"""Seconds between two readings of the sessions while one of them is running."""

COLUMNS = ("name", "id", "started", "duration", "status", "events", "errors")


def cells(row: SessionRow) -> tuple[str, ...]:
    """A session's cells in the table (see :data:`COLUMNS`)."""
    info = row.info
    started = datetime.fromtimestamp(info.started_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
    return (
        info.name or info.runner,
        info.id[:8],
        started,
        took(row.duration_ns),
        row.status,
        f"{row.events:,} ({row.missing:,} missing)" if row.missing else f"{row.events:,}",
        str(info.errors),
    )


class SessionsScreen(Screen[None]):
    """The log's sessions; Enter opens one."""

    class Chosen(Message):
        """A session was picked."""

        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    class Compare(Message):
        """Two sessions were marked: open them side by side."""

        def __init__(self, a: str, b: str) -> None:
            super().__init__()
            self.a, self.b = a, b

    BINDINGS: ClassVar[list[BindingType]] = bindings(SESSIONS_KEYS)

    def __init__(self, log: EventLog) -> None:
        super().__init__()
        self.log_ = log
        self.rows: list[SessionRow] = []
        self.loaded = False
        self.marked: str | None = None
        """The session marked to compare (``m``), waiting for a second one."""

    def compose(self) -> ComposeResult:
        """Title, the table, the footer."""
        yield Static(f"pipebus inspector  sessions of {self.log_.url}", id="title")
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Static("Enter: inspect the session  r: reload  ?: keys  q: quit", id="status")
        yield Footer()

    def on_mount(self) -> None:
        """Read the sessions."""
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        table.focus()
        self.action_reload()
        self.set_interval(RELOAD_EVERY, self._reload_if_running)

    def _reload_if_running(self) -> None:
        """Read the sessions again while one is running (its events and status change)."""
        if any(row.status == "running" for row in self.rows):
            self.action_reload()

    def action_reload(self) -> None:
        """Read the sessions again."""
        self.run_worker(self._load(), group="sessions", exclusive=True)

    async def _load(self) -> None:
        status = self.query_one("#status", Static)
        try:
            self.rows = await list_sessions(self.log_)
        except PipebusError as exc:
            status.update(f"cannot list sessions: {exc}")
            return
        table = self.query_one(DataTable)
        at = table.cursor_row
        table.clear()
        for row in self.rows:
            table.add_row(*cells(row), key=row.info.id)
        if self.rows:
            table.move_cursor(row=min(max(at, 0), len(self.rows) - 1))
        if not self.rows:
            status.update(f"no sessions recorded in {self.log_.url}")
        self.loaded = True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row: open that session."""
        if event.row_key.value is not None:
            self.post_message(self.Chosen(event.row_key.value))

    def action_cursor(self, rows: int) -> None:
        """Move the cursor by ``rows`` sessions."""
        table = self.query_one(DataTable)
        if self.rows:
            table.move_cursor(row=max(0, min(len(self.rows) - 1, table.cursor_row + rows)))

    def action_first(self) -> None:
        """To the first (newest) session."""
        self.query_one(DataTable).move_cursor(row=0)

    def action_last(self) -> None:
        """To the last (oldest) session."""
        self.query_one(DataTable).move_cursor(row=max(0, len(self.rows) - 1))

    def action_help(self) -> None:
        """Every key of this screen."""
        self.app.push_screen(LinesScreen("keys (Esc closes)", key_lines(SESSIONS_KEYS)))

    def action_mark(self) -> None:
        """Mark the session at the cursor; the second one marked opens both side by side."""
        table = self.query_one(DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return
        chosen = self.rows[table.cursor_row].info.id
        status = self.query_one("#status", Static)
        if self.marked is None or self.marked == chosen:
            self.marked = chosen
            status.update(f"marked {chosen[:8]}: press m on another session to compare the two")
            return
        first, self.marked = self.marked, None
        status.update(f"comparing {first[:8]} with {chosen[:8]}")
        self.post_message(self.Compare(first, chosen))

    def action_open(self) -> None:
        """Open the session under the cursor."""
        table = self.query_one(DataTable)
        if self.rows and 0 <= table.cursor_row < len(self.rows):
            self.post_message(self.Chosen(self.rows[table.cursor_row].info.id))
