"""Following a session while a runner in the same test is still recording it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Input

from inspector.app import InspectorApp
from pipebus import BaseWorker, WorkerRunner
from pipebus.core.messages import BusTTSSpeakMessage
from tests.inspector.sessions import settle, shown


class Speaker(BaseWorker):
    """Does nothing by itself: the test speaks for it."""


@pytest.fixture
async def live_runner() -> AsyncIterator[WorkerRunner]:
    runner = WorkerRunner(handle_sigint=False, shutdown_timeout=2.0)
    await runner.add_workers(Speaker("speaker"), Speaker("alarm"))
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    yield runner
    if not task.done():
        await runner.end()
    await task


async def say(runner: WorkerRunner, *texts: str, source: str = "speaker") -> None:
    """Send some messages and wait until the log holds them."""
    for text in texts:
        await runner.bus.send(BusTTSSpeakMessage(source=source, text=text))
    await runner.flush()


async def test_the_cursor_rides_new_events_pauses_when_moved_and_resumes_on_end(
    live_runner: WorkerRunner, private_event_log: Path
) -> None:
    await say(live_runner, "one", "two")
    app = InspectorApp(private_event_log, live_runner.session_id, poll=0.05)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await shown(pilot, app)
        model = screen.model
        assert model.live and model.following
        assert model.cursor == model.length and "● following" in model.status()
        first = model.length
        await say(live_runner, "three", "four")
        await settle(pilot, lambda: model.length == first + 2 and model.cursor == model.length)
        await shown(pilot, app, first + 2)
        assert '"text": "four"' in screen.panel("detail").plain
        await pilot.press("k")
        await shown(pilot, app, first + 1)
        assert not model.following
        await say(live_runner, "five", "six", "seven")
        await settle(pilot, lambda: "+3 new" in model.status())
        assert model.cursor == first + 1
        await pilot.press("end")
        await shown(pilot, app, first + 5)
        assert model.following and "● following" in model.status()


async def test_a_breakpoint_stops_a_live_session_and_continue_waits_for_the_next_hit(
    live_runner: WorkerRunner, private_event_log: Path
) -> None:
    await say(live_runner, "hello")
    app = InspectorApp(private_event_log, live_runner.session_id, poll=0.05)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await shown(pilot, app)
        model = screen.model
        await pilot.press("b")
        await settle(pilot, lambda: bool(app.screen.query(Input)))
        app.screen.query_one(Input).value = "worker:alarm"  # typed at once: the app is busy
        await pilot.press("enter")
        await settle(pilot, lambda: len(model.breakpoints) == 1)
        start = model.length
        await say(live_runner, "a", "b")
        await say(live_runner, "fire!", source="alarm")
        await say(live_runner, "c", "d")
        await settle(pilot, lambda: model.length == start + 5)
        await shown(pilot, app, start + 3)
        assert f"breakpoint hit at #{start + 3}" in model.status()
        assert not model.following
        await pilot.press("r")  # no hit after it yet: runs with the session
        await settle(pilot, lambda: model.following)
        await say(live_runner, "e")
        await say(live_runner, "again!", source="alarm")
        await settle(pilot, lambda: model.length == start + 7)
        await shown(pilot, app, start + 7)
        assert '"text": "again!"' in screen.panel("detail").plain


async def test_the_end_of_a_followed_session_is_noticed(
    live_runner: WorkerRunner, private_event_log: Path
) -> None:
    await say(live_runner, "bye")
    app = InspectorApp(private_event_log, live_runner.session_id, poll=0.05)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await shown(pilot, app)
        await live_runner.end()
        await settle(pilot, lambda: not screen.model.live)
        await shown(pilot, app, screen.model.length)
        assert "the session has ended" in screen.model.status()
        assert "BusWorkerStoppedMessage" in screen.panel("detail").plain


async def test_the_sessions_screen_shows_a_running_session_growing(
    live_runner: WorkerRunner, private_event_log: Path
) -> None:
    from inspector.screens.sessions import SessionsScreen

    await say(live_runner, "first")
    app = InspectorApp(private_event_log)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, SessionsScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        (row,) = screen.rows
        assert row.status == "running" and row.info.id == live_runner.session_id
        before = row.events
        await say(live_runner, "second", "third")
        await settle(pilot, lambda: screen.rows[0].events == before + 2)
        await pilot.press("enter")
        main = await shown(pilot, app)
        assert main.model.live and main.model.following
