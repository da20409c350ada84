"""Opening a session and moving through it: steps, jumps, cause and effect, errors."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from inspector.app import YOUNG_COLLECTIONS_SMALL, InspectorApp
from inspector.screens.main import MainScreen
from inspector.widgets import Panel
from pipebus.eventlog import collector
from tests.inspector.sessions import LONG, SESSION, main_screen, settle, shown

SIZE = (170, 48)


async def test_the_demo_session_opens_on_its_first_step_with_its_panels(
    demo_log: tuple[Path, str],
) -> None:
    path, session = demo_log
    app = InspectorApp(path, session[:8])
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        assert screen.model.length > 50
        assert "BusWorkerReadyMessage" in screen.panel("detail").plain
        assert screen.timeline.visible_text()[0].split()[0] == "1"
        assert f"{screen.model.length:,} of {screen.model.length:,} shown" in screen.model.status()
        await pilot.press("G")
        screen = await shown(pilot, app, screen.model.length)
        workers = screen.panel("workers").plain
        assert "translator" in workers and "failed" in workers
        jobs = screen.panel("jobs").plain
        assert "cancelled" in jobs and "archive" in jobs


async def test_young_collections_stay_small_while_a_session_is_open(fixed_log: Path) -> None:
    before = gc.get_threshold()
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app, 1)
        # the open log raises the young threshold for bulk reads; a step is no bulk read
        assert gc.get_threshold()[0] == YOUNG_COLLECTIONS_SMALL < collector.RAISED
        await pilot.press("j")
        await shown(pilot, app, 2)
        assert gc.get_threshold()[0] == YOUNG_COLLECTIONS_SMALL
    assert gc.get_threshold() == before


async def test_keys_step_forward_back_first_last_and_go_to(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app, 1)
        await pilot.press("j", "j", "down")
        screen = await shown(pilot, app, 4)
        assert screen.panel("detail").plain.startswith("#4  BusWorkerReadyMessage")
        await pilot.press("k")
        await shown(pilot, app, 3)
        await pilot.press("end")
        await shown(pilot, app, 25)
        await pilot.press("home")
        await shown(pilot, app, 1)
        await pilot.press("colon", *"17", "enter")
        screen = await shown(pilot, app, 17)
        assert "#17  BusJobRequestMessage" in screen.panel("detail").plain
        await pilot.press("t", *"15.2", "enter")  # 1.5 ms an event: step 11 is at 16.5 ms
        await shown(pilot, app, 11)


async def test_a_step_highlights_what_it_changed(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"16", "enter")
        screen = await shown(pilot, app, 16)
        changed = [line for line in screen.panel("workers").lines if line.style == "changed"]
        assert [line.text.split()[0] for line in changed] == ["└"]
        assert "translator" in changed[0].text and "failed" in changed[0].text
        await pilot.press("j")
        screen = await shown(pilot, app, 17)
        added = [line for line in screen.panel("jobs").lines if line.style == "added"]
        assert added and "j-arc (archive)" in added[0].text


async def test_next_error_shows_the_traceback_in_a_red_row(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app, 1)
        await pilot.press("e")
        screen = await shown(pilot, app, 13)
        detail = screen.panel("detail")
        assert detail.lines[0].style == "error"
        assert "LookupError: no model for 'klingon'" in detail.plain
        assert "job         j-tr (translate)  (the failed message's)" in detail.plain
        trace = [line.text for line in detail.lines if line.style == "error"]
        assert 'File "shop.py", line 12, in translate' in "\n".join(trace)
        assert screen.at is not None and screen.at.event.is_error
        await pilot.press("e")
        await shown(pilot, app, 13)
        assert "no error after step 13" in screen.model.status()


async def test_cause_and_effects_are_one_key_away(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"13", "enter")
        screen = await shown(pilot, app, 13)
        assert "cause       #12 BusJobRequestMessage from agent" in screen.panel("detail").plain
        await pilot.press("c")
        screen = await shown(pilot, app, 12)
        assert "effects     2" in screen.panel("detail").plain
        await pilot.press("x")
        await pilot.press("down", "enter")
        await shown(pilot, app, 14)


async def test_the_waterfall_shows_the_jobs_spans_with_errors_marked(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"12", "enter")
        await shown(pilot, app, 12)
        await pilot.press("s")
        await settle_on_screen(pilot, app, "WaterfallScreen")
        panel = app.screen.query_one("#lines")
        await settle(pilot, lambda: len(panel.lines) > 1)  # type: ignore[attr-defined]
        text = panel.plain  # type: ignore[attr-defined]
        assert "send " in text and "process " in text
        assert "✗" in text and "LookupError" in text
        await pilot.press("escape")
        await shown(pilot, app, 12)


async def settle_on_screen(pilot: object, app: InspectorApp, name: str) -> None:
    from tests.inspector.sessions import settle

    await settle(pilot, lambda: type(app.screen).__name__ == name)


async def test_sqlite_and_postgresql_logs_open_alike(any_log: str) -> None:
    app = InspectorApp(any_log, SESSION[:6])
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app, 1)
        await pilot.press("e")
        screen = await shown(pilot, app, 13)
        assert "LookupError: no model for 'klingon'" in screen.panel("detail").plain
        await pilot.press("f", *"worker:archivist", "enter")
        await settle(pilot, lambda: screen.model.rows is not None)
        assert "5 of 25 shown" in screen.model.status()
        assert screen.model.cursor == 4  # the nearest shown step before the error


async def test_the_sessions_waterfall_has_a_bar_per_job(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app, 1)
        await pilot.press("w")
        await settle_on_screen(pilot, app, "WaterfallScreen")
        panel = app.screen.query_one("#lines")
        await settle(pilot, lambda: len(panel.lines) == 4)  # type: ignore[attr-defined]
        bars = panel.lines[1:]  # type: ignore[attr-defined]
        assert [line.text.split()[1] for line in bars] == ["j-write", "j-tr", "j-arc"]
        assert [line.style for line in bars] == ["selected", "error", "error"]
        assert "job j-arc (archive) agent cancelled" in bars[2].text


async def test_clicking_a_row_moves_the_cursor_there(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.click("#timeline", offset=(10, 7))  # below the border: the 7th row
        await shown(pilot, app, 7)
        assert screen.panel("detail").plain.startswith("#7  BusJobStreamStartMessage")


async def test_a_message_outside_jobs_shows_the_spans_of_its_trace(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"21", "enter")
        await shown(pilot, app, 21)
        await pilot.press("s")
        await settle_on_screen(pilot, app, "WaterfallScreen")
        panel = app.screen.query_one("#lines")
        assert "trace" in str(panel.border_title)
        await settle(pilot, lambda: len(panel.lines) > 1)  # type: ignore[attr-defined]
        marked = [line for line in panel.lines if line.style == "selected"]  # type: ignore[attr-defined]
        assert len(marked) == 1 and marked[0].text.startswith("send ")  # the speech sent


def cursor_row(screen: MainScreen) -> tuple[int, str] | None:
    """The timeline's highlighted row as drawn: (its line on screen, its text), if on screen."""
    timeline = screen.timeline
    for y in range(timeline.scrollable_content_region.height):
        strip = timeline.render_line(y)
        if any(seg.style is not None and seg.style.reverse for seg in strip):
            return y, strip.text
    return None


async def press_and_see(pilot: Any, app: InspectorApp, key: str, step: int) -> None:
    """Press ``key``: the status, the highlighted row and the message panel show ``step``."""
    await pilot.press(key)
    try:
        screen = await shown(pilot, app, step)
    except AssertionError:
        cursor = main_screen(app).model.cursor
        raise AssertionError(f"{key}: the cursor is on step {cursor}, not {step}") from None
    assert f"step {step:,}/{LONG:,}" in screen.model.status(), key
    drawn = cursor_row(screen)
    assert drawn is not None, f"{key}: the cursor's row is off screen"
    assert drawn[1].split()[0] == str(step), f"{key}: row {drawn[1]!r} highlighted"
    assert screen.panel("detail").plain.startswith(f"#{step}  "), key


FOCUS = ("timeline", "detail", "workers", "after a dialog")


@pytest.mark.parametrize("focus", FOCUS)
async def test_every_navigation_key_steps_the_cursor_whatever_has_focus(
    long_log: Path, focus: str
) -> None:
    app = InspectorApp(long_log, SESSION)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("colon", *"1500", "enter")
        await shown(pilot, app, 1500)
        if focus == "after a dialog":
            await pilot.press("question_mark")
            await settle_on_screen(pilot, app, "LinesScreen")
            await pilot.press("escape")
            await shown(pilot, app, 1500)
        elif focus != "timeline":
            screen.panel(focus).focus()
            await pilot.pause()
        page = screen.timeline.scrollable_content_region.height - 1
        scrub = LONG // 100
        for key, step in (
            ("down", 1501),
            ("j", 1502),
            ("up", 1501),
            ("k", 1500),
            ("pagedown", 1500 + page),
            ("pageup", 1500),
            ("ctrl+d", 1500 + page),
            ("ctrl+u", 1500),
            ("right", 1500 + scrub),
            ("l", 1500 + 2 * scrub),
            ("left", 1500 + scrub),
            ("h", 1500),
            ("end", LONG),
            ("home", 1),
            ("G", LONG),
            ("g", 1),
        ):
            await press_and_see(pilot, app, key, step)


@pytest.mark.parametrize("size", [(100, 30), (160, 48), (220, 60)])
async def test_rows_show_job_route_and_fields_at_every_size_and_errors_with_their_job(
    long_log: Path, size: tuple[int, int]
) -> None:
    app = InspectorApp(long_log, SESSION)
    async with app.run_test(size=size) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("e")
        screen = await shown(pilot, app, 13)
        rows = {row.split()[0]: row for row in screen.timeline.visible_text() if row.strip()}
        width = screen.timeline.scrollable_content_region.width
        assert all(len(row) == width for row in rows.values())
        error, request, speech = rows["13"], rows["12"], rows["22"]
        assert "j-tr" in error and "✗ LookupError" in error  # the failed job's own row
        assert "j-tr" in request and "agent → tr" in request and "payload=" in request
        assert "text=line 0" in speech and "closer → *" in speech
        if size[0] >= 160:
            assert "j-tr (translate)" in error and "agent → translator" in request


async def test_long_strings_wrap_in_the_message_panel(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("colon", *"12", "enter")
        screen = await shown(pilot, app, 12)
        panel = screen.panel("detail")
        width = panel.scrollable_content_region.width
        drawn = [panel.render_line(y).text for y in range(panel.scrollable_content_region.height)]
        drawn += [row.text for row in panel.rows[len(drawn) :]]
        assert all(len(row.rstrip()) <= width for row in drawn)
        assert panel.virtual_size.width <= width  # nothing to scroll sideways to
        joined = "".join(row.strip() for row in drawn).replace(" ", "")
        assert '"text":"' + "x" * 30 + '"' in joined  # the whole string, over several rows
        assert "#12BusJobRequestMessage" in joined


@pytest.mark.parametrize("size", [(100, 30), (160, 48), (220, 60)])
async def test_a_waterfall_fits_its_box_zooms_and_enter_goes_to_the_span_step(
    fixed_log: Path, size: tuple[int, int]
) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=size) as pilot:
        await pilot.press("colon", *"12", "enter")
        await shown(pilot, app, 12)
        await pilot.press("s")
        panel = await waterfall_shown(pilot, app)
        assert panel.virtual_size.width <= panel.scrollable_content_region.width
        assert all(len(line.text) <= panel.scrollable_content_region.width for line in panel.lines)
        failed = [line.text for line in panel.lines if line.style == "error"]
        assert any("LookupError" in text for text in failed)
        picked = [line.text for line in panel.lines if line.style == "selected"]
        assert len(picked) == 1 and picked[0].strip().startswith("send ")  # the request
        await pilot.press("down", "down", "enter")  # the answer: "send agent"
        await shown(pilot, app, 14)
        assert "span at #14" in main_screen(app).model.status()
        await pilot.press("w")
        panel = await waterfall_shown(pilot, app)
        await pilot.press("down")  # j-tr
        await settle(pilot, lambda: panel.lines[2].style == "selected")
        whole = panel.lines[2].text.count("✗")
        await pilot.press("f")  # zoomed to its own time: it spans the axis, the others run past
        await settle(pilot, lambda: panel.lines[2].text.count("✗") > whole)
        assert "▸" in panel.lines[1].text or "◂" in panel.lines[1].text
        await pilot.press("0")
        await settle(pilot, lambda: panel.lines[2].text.count("✗") == whole)
        await pilot.press("plus")
        await settle(pilot, lambda: panel.lines[2].text.count("✗") > whole)
        await pilot.press("enter")
        await shown(pilot, app, 12)  # the job's first step


async def waterfall_shown(pilot: Any, app: InspectorApp) -> Panel:
    await settle_on_screen(pilot, app, "WaterfallScreen")
    panel = app.screen.query_one("#lines", Panel)
    await settle(pilot, lambda: len(panel.lines) > 1)
    return panel
