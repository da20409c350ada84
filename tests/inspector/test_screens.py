"""The sessions screen, the help, the palette, full screen, and snapshots of the main screens."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, OptionList

from inspector.app import InspectorApp
from inspector.keys import KEYS, SESSIONS_KEYS, WATERFALL_KEYS
from inspector.keys import shown as shown_keys
from inspector.screens.sessions import SessionsScreen
from tests.cli import IMPOSSIBLE_PID
from tests.inspector.sessions import SESSION, START_NS, settle, shown, write_session

SIZE = (150, 42)
OTHER = "0the2000" + "0" * 24
THIRD = "7e1d3000" + "0" * 24


@pytest.fixture
def fixed_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixed session (and another one) in ./shop.db of a fresh directory, times in UTC.

    The same path and zone on every run, so screenshots of it are the same.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    asyncio.run(write_session(Path("shop.db")))
    asyncio.run(write_session(Path("shop.db"), name="checkout", session=OTHER))
    return Path("shop.db")


async def sessions_listed(pilot: Any, app: InspectorApp) -> SessionsScreen:
    await settle(pilot, lambda: isinstance(app.screen, SessionsScreen) and app.screen.loaded)
    screen = app.screen
    assert isinstance(screen, SessionsScreen)
    return screen


async def test_the_sessions_screen_lists_sessions_and_opens_the_chosen_one(
    fixed_log: Path,
) -> None:
    await write_session(fixed_log, name="checkout", session=OTHER)
    app = InspectorApp(fixed_log)
    async with app.run_test(size=SIZE) as pilot:
        screen = await sessions_listed(pilot, app)
        assert [row.info.id for row in screen.rows] == [SESSION, OTHER]  # both start at once
        table = screen.query_one("DataTable")
        first = [str(cell) for cell in table.get_row_at(0)]  # type: ignore[attr-defined]
        assert first[:2] == ["shop", SESSION[:8]]
        assert first[4:] == ["ended", "25", "1"]
        assert first[3] == "39.0 ms"
        await pilot.press("down", "enter")
        main = await shown(pilot, app, 1)
        assert main.data.info.id == OTHER
        await pilot.press("S")
        await sessions_listed(pilot, app)


async def test_help_lists_every_key(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app, 1)
        await pilot.press("question_mark")
        await settle(pilot, lambda: type(app.screen).__name__ == "LinesScreen")
        text = app.screen.query_one("#lines").plain  # type: ignore[attr-defined]
        for key in (*KEYS, *WATERFALL_KEYS):
            assert f"{shown_keys(key.keys):<22} {key.description}" in text
        await pilot.press("escape")
        await pilot.press("f1")
        await settle(pilot, lambda: type(app.screen).__name__ == "LinesScreen")


async def test_the_palette_runs_every_action_by_name(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("ctrl+p")
        await settle(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press(*"next handler or worker error")

        def first_hit() -> str:
            found = app.screen.query(OptionList)
            if not found or not found.first().option_count:
                return ""
            return str(found.first().get_option_at_index(0).prompt)

        await settle(pilot, lambda: "next handler or worker error" in first_hit())
        await pilot.press("enter")
        await shown(pilot, app, 13)
        assert screen.at is not None and screen.at.event.is_error


async def test_each_panel_goes_full_screen_and_back(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("2")
        await settle(pilot, lambda: screen.model.maximized == "detail")
        assert screen.panel("detail").display and not screen.timeline.display
        assert not screen.panel("workers").display
        await pilot.press("2")
        await settle(pilot, lambda: screen.model.maximized is None)
        assert screen.timeline.display and screen.panel("jobs").display
        await pilot.press("1")
        await settle(pilot, lambda: not screen.panel("detail").display)
        await pilot.press("escape")
        await settle(pilot, lambda: screen.panel("detail").display)


SIZES = [(100, 30), (160, 48), (220, 60)]
"""The terminal sizes every new layout is shown at."""


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_of_the_sessions_screen(
    fixed_here: Path, snap_compare: Any, size: tuple[int, int]
) -> None:
    app = InspectorApp(fixed_here)

    async def listed(pilot: Any) -> None:
        await sessions_listed(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=listed)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_of_the_main_screen_at_an_error(
    fixed_here: Path, snap_compare: Any, size: tuple[int, int]
) -> None:
    app = InspectorApp(fixed_here, SESSION)

    async def at_the_error(pilot: Any) -> None:
        await shown(pilot, app, 1)
        await pilot.press("e")
        await shown(pilot, app, 13)

    assert snap_compare(app, terminal_size=size, run_before=at_the_error)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_of_the_waterfall_of_a_failed_job_zoomed(
    fixed_here: Path, snap_compare: Any, size: tuple[int, int]
) -> None:
    app = InspectorApp(fixed_here, SESSION)

    async def zoomed(pilot: Any) -> None:
        await shown(pilot, app, 1)
        await pilot.press("colon", *"12", "enter")
        await shown(pilot, app, 12)
        await pilot.press("w")
        await settle(pilot, lambda: type(app.screen).__name__ == "WaterfallScreen")
        await pilot.press("down", "f")
        await settle(pilot, lambda: getattr(app.screen, "window", None) is not None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=zoomed)


def test_snapshot_of_the_main_screen_filtered_with_jobs_folded(
    fixed_here: Path, snap_compare: Any
) -> None:
    app = InspectorApp(fixed_here, SESSION)

    async def folded(pilot: Any) -> None:
        screen = await shown(pilot, app, 1)
        await pilot.press("z")
        await settle(pilot, lambda: screen.model.rows is not None)
        await pilot.press("f", *"! cat:registry", "enter")
        await settle(pilot, lambda: screen.model.filter is not None)
        await pilot.press("colon", *"17", "enter")
        await shown(pilot, app, 17)

    assert snap_compare(app, terminal_size=SIZE, run_before=folded)


async def test_the_sessions_screen_goes_home_and_end_and_lists_its_keys(fixed_log: Path) -> None:
    await write_session(fixed_log, name="checkout", session=OTHER)
    await write_session(fixed_log, name="refund", session=THIRD)
    app = InspectorApp(fixed_log)
    async with app.run_test(size=SIZE) as pilot:
        screen = await sessions_listed(pilot, app)
        table = screen.query_one(DataTable)
        await pilot.press("end")
        await settle(pilot, lambda: table.cursor_row == 2)
        await pilot.press("home")
        await settle(pilot, lambda: table.cursor_row == 0)
        await pilot.press("G")
        await settle(pilot, lambda: table.cursor_row == 2)
        await pilot.press("g")
        await settle(pilot, lambda: table.cursor_row == 0)
        await pilot.press("question_mark")
        await settle(pilot, lambda: type(app.screen).__name__ == "LinesScreen")
        text = app.screen.query_one("#lines").plain  # type: ignore[attr-defined]
        for key in SESSIONS_KEYS:
            assert f"{shown_keys(key.keys):<22} {key.description}" in text
        await pilot.press("escape")
        await sessions_listed(pilot, app)
        await pilot.press("f1")
        await settle(pilot, lambda: type(app.screen).__name__ == "LinesScreen")


async def test_a_killed_session_keeps_its_recorded_duration_and_says_what_is_missing(
    fixed_log: Path,
) -> None:
    heartbeat = START_NS + 30_000_000  # the recorder's last write, 30 ms in
    connection = sqlite3.connect(fixed_log)
    connection.execute(
        "UPDATE sessions SET status = 'running', ended_ns = NULL, pid = ?, heartbeat_ns = ?",
        (IMPOSSIBLE_PID, heartbeat),
    )
    connection.execute("DELETE FROM events WHERE seq BETWEEN 10 AND 14")  # never stored
    connection.commit()
    connection.close()
    app = InspectorApp(fixed_log)
    async with app.run_test(size=SIZE) as pilot:
        screen = await sessions_listed(pilot, app)
        table = screen.query_one(DataTable)
        for _ in range(2):  # read again later: the wall clock moved, the duration did not
            row = [str(cell) for cell in table.get_row_at(0)]
            assert row[3:6] == ["30.0 ms", "incomplete", "20 (5 missing)"]
            screen.loaded = False
            await pilot.press("r")
            await sessions_listed(pilot, app)
