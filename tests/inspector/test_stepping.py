"""Opening a session and moving through it: steps, jumps, cause and effect, errors."""

from __future__ import annotations

from pathlib import Path

from inspector.app import InspectorApp
from tests.inspector.sessions import SESSION, settle, shown

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
        await settle_on_screen(pilot, app, "LinesScreen")
        panel = app.screen.query_one("#lines")
        text = panel.plain  # type: ignore[attr-defined]
        assert "send BusJobRequestMessage" in text
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
        await settle_on_screen(pilot, app, "LinesScreen")
        lines = app.screen.query_one("#lines").lines  # type: ignore[attr-defined]
        bars = [line for line in lines[1:]]
        assert [line.text.split()[1] for line in bars] == ["j-write", "j-tr", "j-arc"]
        assert [line.style for line in bars] == ["", "error", "error"]
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
        await settle_on_screen(pilot, app, "LinesScreen")
        assert "trace" in str(app.screen.query_one("#lines").border_title)
        lines = app.screen.query_one("#lines").lines  # type: ignore[attr-defined]
        marked = [line for line in lines if line.style == "key"]
        assert len(marked) == 1 and "send BusTTSSpeakMessage" in marked[0].text
