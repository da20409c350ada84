"""The main screen's layout and its data flow: reading rows and panels, following live.

:class:`SessionView` owns the view-model and the session's data; every read runs
in a Textual worker, and a read that finishes after the cursor moved on is
followed by one for where the cursor is now (the latest wins, none is cancelled
mid-query). :class:`~inspector.screens.main.MainScreen` adds the keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from inspector.data import AtCursor, MessageAt, SessionData
from inspector.model import PANELS, ViewModel
from inspector.panels import detail, job_lines, worker_tree
from inspector.query import Query, QueryError
from inspector.searching import Searching
from inspector.state_panel import diff_lines, tree_lines
from inspector.widgets import Panel, StatusBar, Timeline
from pipebus.core.errors import PipebusError
from pipebus.eventlog.rows import StoredEvent
from pipebus.projections.diff import diff


class SessionView(Screen[None]):
    """One session: the timeline, the panels at the cursor, the status bar.

    Args:
        data: The open session.
        poll: Seconds between two looks for new events, while the session runs.
    """

    def __init__(self, data: SessionData, *, poll: float = 0.25) -> None:
        super().__init__()
        self.data = data
        self.model = ViewModel()
        self.poll = poll
        self.at: AtCursor | None = None
        self.shown_message: MessageAt | None = None
        self._wanted = 0
        self._reading_panels = False
        self._reading_rows = False
        self._polling = False
        self._jumped = False
        self.moves = 0
        self.searching = Searching(self.say)
        self._rows_of: tuple[Query | None, bool] = (None, False)
        """The filter and folding the rows shown are for (put back when a search is cancelled)."""

    def compose(self) -> ComposeResult:
        """Title, timeline and side panels, status bar, footer."""
        info = self.data.info
        yield Static(
            f"pipebus inspector  {info.name or info.runner}  session {info.id[:8]}"
            f"  {self.data.replay.log.url}",
            id="title",
        )
        with Horizontal(id="body"):
            yield Timeline(self.model, self.data, id="timeline")
            with Vertical(id="side"):
                yield Panel("message", id="detail", wrap=True)
                yield Panel("workers", id="workers", wrap=True)
                yield Panel("jobs", id="jobs", wrap=True)
                yield Panel("state", id="state")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        """Start at the first step (a live session: following its newest)."""
        model = self.model
        model.length = self.data.length
        model.live = self.data.live
        if model.live:
            model.resume()
            model.cursor = model.length
        else:
            model.cursor = 1 if model.length else 0
        self.timeline.focus()
        self.moved()
        if model.live:
            self.set_interval(self.poll, self._look_for_new)

    @property
    def timeline(self) -> Timeline:
        """The timeline widget."""
        return self.query_one(Timeline)

    def panel(self, name: str) -> Panel:
        """The panel called ``name`` (``detail``, ``workers``, ``jobs``)."""
        return self.query_one(f"#{name}", Panel)

    @property
    def idle(self) -> bool:
        """Whether every read has finished: the panels show the cursor's step, its rows are read."""
        shown = self.at.step if self.at is not None else 0
        busy = self._reading_panels or self._reading_rows or bool(self.workers)
        if busy or self._jumped or shown != self.model.cursor:
            return False
        return not self._rows_wanted()

    # --- after a change -------------------------------------------------------------------

    def moved(self, note: str | None = None) -> None:
        """The cursor or the rows changed: redraw the timeline, the status, the panels."""
        if note is not None:
            self.model.note = note
        self.moves += 1
        self._wanted = self.model.cursor
        if self._wanted and self.data.missing(self.timeline.wanted(self._wanted)):
            self._jumped = True  # drawn once its rows and state are read: one frame, not three
        else:
            self.timeline.sync()
            self.show_status()
        if not self._reading_panels and self._wanted:
            self._reading_panels = True
            self.run_worker(self._read_panels(), group="panels")
        if not self._jumped:
            self._read_rows()

    def show_status(self) -> None:
        """Update the status bar."""
        self.query_one(StatusBar).show(self.model.status())

    def say(self, note: str) -> None:
        """Show a one-line note in the status bar."""
        self.model.note = note
        self.show_status()

    def on_timeline_picked(self, picked: Timeline.Picked) -> None:
        """A row was clicked: the cursor goes there."""
        self.model.go(picked.step)
        self.moved("")

    def on_timeline_missing(self, _: Timeline.Missing) -> None:
        """Rows on screen are not read yet: read them."""
        self._read_rows()

    def _rows_wanted(self) -> bool:
        wanted = self.timeline.wanted()
        if self.data.missing(wanted):
            return True
        return self.model.folded and self.data.unsummarized(wanted)

    def _read_rows(self) -> None:
        if not self._reading_rows and self._rows_wanted():
            self._reading_rows = True
            self.run_worker(self._rows_loop(), group="rows")

    async def _rows_loop(self) -> None:
        try:
            while self._rows_wanted():
                await self.data.load(self.timeline.wanted(), summaries=self.model.folded)
                self.timeline.refresh_rows()
        except PipebusError as exc:
            self.say(f"cannot read events: {exc}")
        finally:
            self._reading_rows = False

    async def _read_panels(self) -> None:
        """Read the message, then the state, at the cursor, until they are the cursor's.

        After a jump, the rows around the new step are read meanwhile, and the timeline
        moves with the message panel, in one frame; the workers and jobs follow as soon
        as the state is folded.
        """
        try:
            while self._wanted and (
                self._jumped or self.at is None or self.at.step != self._wanted
            ):
                wanted = self._wanted
                rows = None
                if self._jumped:  # the rows are read meanwhile, on a connection of their own
                    steps = self.timeline.wanted(wanted)
                    rows = asyncio.ensure_future(self.data.load(steps, summaries=self.model.folded))
                try:
                    message = await self.data.message_at(wanted)
                finally:
                    if rows is not None:
                        await rows
                if self._jumped and wanted == self._wanted:
                    self._jumped = False
                    self.timeline.sync()
                    self.show_status()
                self.show_message(message)
                if wanted != self._wanted:
                    continue  # moved on meanwhile: no state for a step left behind
                before, state, changed = await self.data.state_around(message.event)
                self.show_state(
                    AtCursor(
                        wanted,
                        message.event,
                        state,
                        changed,
                        message.cause,
                        message.effects,
                        before,
                    )
                )
        except (PipebusError, IndexError) as exc:
            self.say(f"cannot read step {self._wanted}: {exc}")
            if self._jumped:
                self._jumped = False
                self.timeline.sync()
                self.show_status()
        finally:
            self._reading_panels = False
        self._read_rows()

    def show_message(self, message: MessageAt) -> None:
        """Fill the message panel."""
        self.shown_message = message
        self.panel("detail").show(
            detail(
                message.event,
                self.data.info.started_ns,
                message.cause,
                message.effects,
                payload_open=self.model.payload_open,
                job_names=self.data.job_names,
                failed_job=self.data.error_jobs.get(message.step),
            )
        )
        self.panel("detail").border_title = f"message #{message.step}"

    def show_state(self, at: AtCursor) -> None:
        """Fill the workers and jobs panels with the state at the cursor."""
        self.at = at
        self.panel("workers").show(worker_tree(at.state, at.changes, self.data.info.runner))
        self.panel("jobs").show(job_lines(at.state, at.changes))
        if self.model.state_view:
            self.show_state_panel(at)

    def show_state_panel(self, at: AtCursor) -> None:
        """Fill the state panel: the step's diff, or the whole state as a tree."""
        panel = self.panel("state")
        changed = diff(at.before if at.before is not None else at.state, at.state)
        if self.model.state_view == "tree":
            panel.border_title = f"state after #{at.step} (tree)"
            panel.show(tree_lines(at.state, changed, self.data.info.started_ns))
        else:
            panel.border_title = f"state diff at #{at.step}"
            panel.show(diff_lines(changed, at.step, self.data.job_names, self.data.info.started_ns))

    def show_at(self, at: AtCursor) -> None:
        """Fill every panel for ``at`` (again: after the payload was opened, say)."""
        self.show_message(MessageAt(at.step, at.event, at.cause, at.effects))
        self.show_state(at)

    def show_maximized(self) -> None:
        """Show only the maximized panel, or all of them."""
        chosen = self.model.maximized
        for name in PANELS:
            widget = self.timeline if name == "timeline" else self.panel(name)
            shown = chosen is None and (name != "state" or bool(self.model.state_view))
            widget.display = shown or chosen == name
        side = self.query_one("#side")
        side.display = chosen is None or chosen != "timeline"
        side.styles.width = None if chosen in (None, "timeline") else "1fr"  # the whole width
        self.timeline.sync()

    # --- running reads the keys start -----------------------------------------------------

    def read(self, work: Callable[[], Awaitable[Any]], doing: str) -> None:
        """Run ``work`` in a worker; a log error or a bad query becomes a note."""

        async def guarded() -> None:
            try:
                await work()
            except (PipebusError, QueryError, ValueError, OSError) as exc:
                self.say(f"cannot {doing}: {exc}")

        self.run_worker(guarded(), group="actions")

    async def apply_rows(self) -> None:
        """Recompute the visible rows (filter, folding) and redraw.

        The status bar says the session is being searched meanwhile (a second, at
        most, over a million events).
        """
        model = self.model
        if model.filter is not None or model.folded:
            self.say(f"searching {model.length:,} events… (Esc cancels)")

        def cancelled() -> None:
            model.filter, model.folded = self._rows_of
            shown = f"filter {model.filter.text!r}" if model.filter else "every event"
            self.moved(f"search cancelled: still showing {shown}")

        try:
            with self.searching.search(cancelled):
                rows = await self.data.rows(
                    model.filter,
                    folded=model.folded,
                    expanded=model.expanded,
                    progress=self.searching.progress("searching"),
                )
        except Exception:  # failed: the rows shown stay right (a note says why)
            model.filter, model.folded = self._rows_of
            raise
        model.set_rows(rows)
        self._rows_of = (model.filter, model.folded)
        if model.find is not None:
            await self.search_find()
        self.moved("")

    async def search_find(self) -> None:
        """Find the find's matches among the visible rows (counted, and stepped through)."""
        model = self.model
        if model.find is None:
            return
        self.say(f"finding in {model.length:,} events… (Esc cancels)")

        def cancelled() -> None:
            model.find, model.find_hits = None, None
            self.moved("find cancelled")

        with self.searching.search(cancelled):
            progress = self.searching.progress("finding")
            model.find_hits = await self.data.hits(model.find, model.rows, progress=progress)

    # --- live -------------------------------------------------------------------------------

    def _look_for_new(self) -> None:
        if not self._polling:
            self._polling = True
            self.run_worker(self._new_events(), group="live")

    async def _new_events(self) -> None:
        model = self.model
        try:
            length = await self.data.refresh()
            while model.length < length:  # read in pages: a fast session may have run ahead
                arrived = await self.data.new_events(model.length)
                if not arrived:
                    break
                await self._arrived(arrived, arrived[-1].seq)
            if not self.data.live and model.length >= self.data.length:
                model.live = model.following = False
                self.moved("the session has ended")
        except PipebusError as exc:
            self.say(f"cannot follow the session: {exc}")
        finally:
            self._polling = False

    async def _arrived(self, arrived: list[StoredEvent], length: int) -> None:
        model = self.model
        shown = model.filter
        visible = [e for e in arrived if shown is None or shown.matches(e)]
        if model.find is not None and model.find_hits is not None:  # counted as they come
            model.find_hits.extend(e.seq for e in visible if model.find.matches(e))
        was_following = model.following
        hit = model.hits_breakpoint(visible) if was_following else None
        model.grow(length, () if model.folded else (e.seq for e in visible))
        if model.folded:  # which new rows a folded job gets is the database's to say
            model.set_rows(await self.data.rows(model.filter, folded=True, expanded=model.expanded))
        if hit is not None:
            model.jump(hit)
            self.moved(f"breakpoint hit at #{hit}")
        elif was_following or model.new_events:
            self.moved()
