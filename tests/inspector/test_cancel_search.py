"""A payload regex over a whole session: same answer as Python's re, progress, Esc cancels."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual import events

from inspector import data as data_module
from inspector.app import InspectorApp
from inspector.data import SessionData
from inspector.query import parse
from pipebus.eventlog import payload_search
from pipebus.eventlog.store import EventLog
from tests.inspector.sessions import settle, shown

SIZE = (170, 48)
CATASTROPHIC = '/(x{1,30}){2,30}[^"x]/'
"""Backtracks for ever on the 30 x's of step 12's payload (and finds nothing elsewhere)."""


@pytest.mark.parametrize(
    "pattern",
    [r'"final":(true|1)', r"line \d+", r"klingon.*x{5}", r"^(?=.*agent)(?=.*writer)", r"(?i)VENUS"],
)
async def test_a_payload_regex_finds_what_python_re_finds_on_both_backends(
    any_log: str, pattern: str
) -> None:
    async with await EventLog.open(any_log, read_only=True) as log:
        session = (await log.sessions())[0].id
        everything = await log.events(session, 1, 1_000)
        wanted = [e.seq for e in everything if re.search(pattern, e.payload)]
        found = await log.positions(session, parse(f"/{pattern}/").event_filter())
    assert list(found) == wanted


async def test_a_payload_search_reports_its_progress_part_by_part(
    long_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_module, "SEARCH_PART", 1_000)
    async with await EventLog.open(long_log, read_only=True) as log:
        data = await SessionData.open(log)
        told: list[tuple[int, int]] = []
        query = parse(r"/line \d*7$|line 1\d\b/")
        rows = await data.rows(query, progress=lambda done, total: told.append((done, total)))
        whole = await log.positions(data.replay.session_id, query.event_filter())
    assert told == [(1_000, 3_000), (2_000, 3_000), (3_000, 3_000)]
    assert rows is not None and list(rows) == list(whole) and len(whole) > 10


async def test_esc_cancels_a_catastrophic_regex_filter_while_the_screen_stays_live(
    long_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long enough to press keys while the regex still runs (it gives up after this).
    monkeypatch.setattr(payload_search, "MATCH_TIMEOUT", 4.0)
    app = InspectorApp(long_log, "last")
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("f", *CATASTROPHIC, "enter")
        await settle(pilot, lambda: screen.searching.running)
        assert "Esc cancels" in screen.model.status()
        # Keys sent as the terminal sends them, and waited for by the clock: the pilot's
        # own waits last until the process is idle, and the search keeps a core busy.
        began = time.monotonic()
        typed(app, "j")  # Python's re would hold the GIL: this key would never land
        await until(lambda: screen.model.cursor == 2)
        typed(app, "escape")
        await until(lambda: "search cancelled" in screen.model.status())
        assert time.monotonic() - began < 0.5
        assert "still showing every event" in screen.model.status()
        assert screen.model.filter is None
        assert "3,000 of 3,000 shown" in screen.model.status()
        typed(app, "j")
        await until(lambda: screen.model.cursor == 3)
        # the search's worker ends once the regex gave up on its payload and the
        # interrupted query returned its connection
        await until(lambda: not list(screen.workers), timeout=10)


def typed(app: InspectorApp, key: str) -> None:
    """A key press as the terminal driver sends it."""
    assert app._driver is not None
    event = events.Key(key, {"escape": "\x1b"}.get(key, key))
    event.set_sender(app)
    app._driver.send_message(event)


async def until(condition: Callable[[], bool], timeout: float = 1.0) -> None:
    """Let the app run until ``condition()`` holds, by the clock; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the inspector did not get there in time"
        await asyncio.sleep(0.005)


async def test_a_regex_too_slow_for_one_payload_is_a_clear_note_and_the_rows_stay(
    long_log: Path,
) -> None:
    app = InspectorApp(long_log, "last")
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("f", *CATASTROPHIC, "enter")
        await settle(pilot, lambda: "took over 1 s on one payload" in screen.model.status())
        assert "backtracks catastrophically" in screen.model.status()
        assert screen.model.filter is None
        assert screen.model.rows is None  # every event shown, as before the filter
