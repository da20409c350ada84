"""The inspector's Textual app: opens a log, shows its sessions or one session.

``InspectorApp(location, session)`` opens ``session`` (an id, a prefix or
``"last"``) at once; without one it starts on the sessions screen.
"""

from __future__ import annotations

import gc
import time
from functools import partial
from pathlib import Path

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider

from inspector.data import SessionData, open_log
from inspector.keys import KEYS, shown
from inspector.screens.compare import CompareScreen
from inspector.screens.main import MainScreen
from inspector.screens.sessions import SessionsScreen
from pipebus.core.errors import PipebusError
from pipebus.eventlog.store import EventLog

GC_EVERY = 2.0
"""Seconds between full collections, done only when no key came for as long."""

YOUNG_COLLECTIONS_SMALL = 2_000
"""The collector's first threshold while the app runs: young collections kept short.

An open event log raises it to 50,000 (:mod:`pipebus.eventlog.collector`: decoding
in bulk goes faster). The inspector reads little at a time, and a young collection
over 50,000 objects took 15 to 20 ms, in the middle of a step; one over a few
thousand takes about a millisecond. A threshold other than Python's default is one
the log leaves alone.
"""

FULL_COLLECTIONS_RARELY = 1_000
"""The collector's third threshold while the app runs (Python's default: 10).

A full collection over the objects of a big session takes 30 to 50 ms: run by
Python in the middle of a step, it would double the step. The app runs one itself
when no key is pressed instead.
"""


class ActionCommands(Provider):
    """The command palette's entries: every action of the main screen, by its description."""

    def _entries(self) -> list[tuple[str, str, str]]:
        if not isinstance(self.screen, MainScreen):
            return []
        return [
            (key.description, key.action, shown(key.keys))
            for key in KEYS
            if not key.action.startswith("app.")
        ]

    async def discover(self) -> Hits:
        """Every action, for an empty palette."""
        for description, action, keys in self._entries():
            yield DiscoveryHit(description, partial(self.screen.run_action, action), help=keys)

    async def search(self, query: str) -> Hits:
        """The actions whose description matches what was typed."""
        matcher = self.matcher(query)
        for description, action, keys in self._entries():
            score = matcher.match(description)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(description),
                    partial(self.screen.run_action, action),
                    help=keys,
                )


class InspectorApp(App[None]):
    """The time-travel inspector of recorded and running pipebus sessions.

    Args:
        location: The event log (a path or URL; None: the default log).
        session: The session to open (None: show the sessions screen).
        poll: Seconds between two looks for new events of a running session.
    """

    CSS_PATH = "inspector.tcss"
    TITLE = "pipebus inspector"
    COMMANDS = App.COMMANDS | {ActionCommands}

    def __init__(
        self,
        location: str | Path | None = None,
        session: str | None = None,
        *,
        poll: float = 0.25,
        compare: str | None = None,
        compare_log: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.location = location
        self.session = session
        self.compare = compare
        self.compare_log = compare_log
        self.other_logs: list[EventLog] = []
        """Logs opened for a side-by-side session of another log (closed on unmount)."""
        self.poll = poll
        self.event_log: EventLog | None = None
        self.data: SessionData | None = None
        self._gc_thresholds = gc.get_threshold()
        self._last_key = 0.0
        self._moves_seen = 0

    async def on_mount(self) -> None:
        """Open the log, then the session or the sessions screen."""
        self._gc_thresholds = gc.get_threshold()
        _, second, _ = self._gc_thresholds
        gc.freeze()  # Textual's and the modules' objects: never worth a collection
        gc.set_threshold(YOUNG_COLLECTIONS_SMALL, second, FULL_COLLECTIONS_RARELY)
        self.set_interval(GC_EVERY, self._collect_when_quiet)
        self.event_log = await open_log(self.location)
        if self.session is None:
            await self.push_screen(SessionsScreen(self.event_log))
        else:
            if self.compare is not None:
                await self.open_compare(self.session, self.compare, self.compare_log)
            else:
                await self.open_session(self.session)

    async def on_unmount(self) -> None:
        """Close the log; the collector's settings are put back."""
        if self.event_log is not None:
            await self.event_log.close()
        for log in self.other_logs:
            await log.close()
        gc.set_threshold(*self._gc_thresholds)
        gc.unfreeze()

    def on_key(self) -> None:
        """Note when a key was last pressed (the collector waits for a quiet moment)."""
        self._last_key = time.monotonic()

    def _collect_when_quiet(self) -> None:
        """A full collection, when quiet: it takes tens of milliseconds in a big session.

        Quiet: no key for :data:`GC_EVERY` seconds, and the cursor did not move since
        the last look (a click, a live session followed, a search ending).
        """
        moves = getattr(self.screen, "moves", 0)
        moved, self._moves_seen = moves != self._moves_seen, moves
        if not moved and time.monotonic() - self._last_key > GC_EVERY:
            gc.collect()

    async def open_session(self, session: str) -> None:
        """Open one session of the log on the main screen."""
        assert self.event_log is not None
        try:
            self.data = await SessionData.open(self.event_log, session)
        except PipebusError as exc:
            self.notify(str(exc), severity="error")
            return
        await self.push_screen(MainScreen(self.data, poll=self.poll))

    async def open_compare(
        self, session: str, other: str, other_log: str | Path | None = None
    ) -> None:
        """Open ``session`` and ``other`` (of ``other_log``, else this log) side by side."""
        assert self.event_log is not None
        try:
            log = self.event_log
            if other_log is not None and str(other_log) != str(self.location):
                log = await open_log(other_log)
                self.other_logs.append(log)
            a = await SessionData.open(self.event_log, session)
            b = await SessionData.open(log, other)
        except PipebusError as exc:
            self.notify(str(exc), severity="error")
            return
        await self.push_screen(CompareScreen(a, b))

    async def on_sessions_screen_compare(self, message: SessionsScreen.Compare) -> None:
        """Two sessions were marked on the sessions screen."""
        await self.open_compare(message.a, message.b)

    async def on_sessions_screen_chosen(self, message: SessionsScreen.Chosen) -> None:
        """A session was picked on the sessions screen."""
        await self.open_session(message.session_id)

    async def action_sessions(self) -> None:
        """The sessions screen (below the session, or a new one)."""
        assert self.event_log is not None
        if len(self.screen_stack) > 2:
            self.pop_screen()
        else:
            await self.switch_screen(SessionsScreen(self.event_log))


def run(
    location: str | Path | None = None,
    session: str | None = None,
    *,
    compare: str | None = None,
    compare_log: str | Path | None = None,
) -> None:
    """Run the inspector in the terminal until it quits."""
    InspectorApp(location, session, compare=compare, compare_log=compare_log).run()
