"""Two sessions side by side: one cursor for both, the first divergence highlighted."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from inspector.app import InspectorApp
from inspector.screens.compare import FIRST, CompareScreen
from pipebus.cli import main
from pipebus.core.messages import BusTTSSpeakMessage
from tests.inspector.sessions import SESSION, long_scenario, settle, write_session
from tests.replay.variants import RERUN, diverging, renamed_jobs, write_rerun

SIZES = [(100, 30), (160, 48), (220, 60)]
DEEP = 2_000
"""The step of the long rerun's first divergence: many screens down."""


async def side_by_side(pilot: Any, app: InspectorApp, row: int | None = None) -> CompareScreen:
    """Wait until the side-by-side screen is up, compared, read and showing ``row``."""

    def ready() -> bool:
        screen = app.screen
        if not isinstance(screen, CompareScreen) or not screen.idle:
            return False
        return row is None or screen.model.cursor == row

    await settle(pilot, ready)
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    return screen


@pytest.fixture
async def long_runs(tmp_path: Path) -> Path:
    """The long session (3,000 events) and a rerun whose closer says one line otherwise."""
    path = tmp_path / "long.db"
    messages = long_scenario()
    await write_session(path, messages=messages)
    rerun = renamed_jobs(messages)
    said, cause = rerun[DEEP - 1]
    assert isinstance(said, BusTTSSpeakMessage)
    rerun[DEEP - 1] = (dataclasses.replace(said, text="another line"), cause)
    await write_rerun(path, rerun)
    return path


def both_at(screen: CompareScreen, step: int) -> bool:
    a, b = screen.sides
    return a.cursor_step == b.cursor_step == step


async def test_it_opens_at_the_first_divergence_highlighted_in_both_sessions(
    long_runs: Path,
) -> None:
    app = InspectorApp(long_runs, SESSION, compare=RERUN)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await side_by_side(pilot, app, DEEP - 1)
        assert both_at(screen, DEEP)
        for side in screen.sides:
            top = int(side.scroll_offset.y)
            assert top <= DEEP - 1 < top + side.scrollable_content_region.height
            text, style = side.text_of(DEEP - 1)
            assert text.startswith(f"▶{DEEP}")
            assert style.underline and style.bold and FIRST.underline
            assert not side.text_of(DEEP - 2)[0].startswith("▶")
        difference = screen.query_one("#difference").plain  # type: ignore[attr-defined]
        assert "  text: 'line 1978' != 'another line'" in difference
        assert "row 2,000/3,000" in screen.model.status()
        assert "1 divergent row, first at row 2,000" in screen.model.status()


async def test_every_move_steps_both_cursors_together(long_runs: Path) -> None:
    app = InspectorApp(long_runs, SESSION, compare=RERUN)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await side_by_side(pilot, app, DEEP - 1)
        a, b = screen.sides
        moves = [
            ("j", DEEP + 1),
            ("k", DEEP),
            ("down", DEEP + 1),
            ("home", 1),
            ("pagedown", 1 + a.scrollable_content_region.height - 1),
            ("end", 3_000),
            ("g", 1),
            ("d", DEEP),
        ]
        for key, step in moves:
            await pilot.press(key)
            await side_by_side(pilot, app, step - 1)
            assert both_at(screen, step), key
            assert a.scroll_offset.y == b.scroll_offset.y, key
            assert (
                a.visible_text()[step - 1 - int(a.scroll_offset.y)]
                .lstrip(" ▶~")
                .startswith(str(step))
            )


async def test_n_goes_from_one_divergence_to_the_next_over_gaps(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    await write_session(path)
    await write_rerun(path, diverging())
    app = InspectorApp(path, SESSION, compare=RERUN)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await side_by_side(pilot, app, 17)
        await pilot.press("n")
        screen = await side_by_side(pilot, app, 20)
        a, b = screen.sides
        assert (a.cursor_step, b.cursor_step) == (0, 21)  # "Wait!" faces a gap in A
        assert a.visible_text()[20 - int(a.scroll_offset.y)].startswith("+  ·")
        assert "only in B (step 21):" in screen.query_one("#difference").plain  # type: ignore[attr-defined]
        await pilot.press("n")
        await settle(pilot, lambda: "no divergence after" in screen.model.status())
        assert screen.model.cursor == 20
        await pilot.press("N")
        await side_by_side(pilot, app, 17)


async def test_marking_two_sessions_on_the_sessions_screen_opens_them_side_by_side(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    await write_session(path)
    await write_rerun(path, diverging())
    app = InspectorApp(path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, lambda: getattr(app.screen, "loaded", False))
        table = app.screen.query_one(DataTable)
        first = table.get_row_at(0)[1]
        await pilot.press("m", "down", "m")
        screen = await side_by_side(pilot, app, 17)
        assert screen.a.info.id[:8] == first
        assert {screen.a.info.id, screen.b.info.id} == {SESSION, RERUN}
        await pilot.press("escape")
        await settle(pilot, lambda: getattr(app.screen, "loaded", False))


async def test_inspect_compare_wants_a_session_to_compare_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "runs.db"
    await write_session(path)
    status = await asyncio.to_thread(main, ["inspect", str(path), "--compare", SESSION])
    assert status == 1
    assert (
        "--compare opens two sessions side by side: give --session too" in capsys.readouterr().err
    )


@pytest.fixture
def runs_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixed session and its diverging rerun in ./shop.db, times in UTC (same every run)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    asyncio.run(write_session(Path("shop.db")))
    asyncio.run(write_rerun(Path("shop.db"), diverging()))
    return Path("shop.db")


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_of_two_sessions_side_by_side_at_the_first_divergence(
    runs_here: Path, snap_compare: Any, size: tuple[int, int]
) -> None:
    app = InspectorApp(runs_here, SESSION, compare=RERUN)

    async def at_the_divergence(pilot: Any) -> None:
        await side_by_side(pilot, app, 17)

    assert snap_compare(app, terminal_size=size, run_before=at_the_divergence)
