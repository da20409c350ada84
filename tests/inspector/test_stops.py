"""Breakpoints and filters listed (L), turned off, removed, saved per session; prompt history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.app import InspectorApp
from inspector.data import SessionData, open_log
from inspector.keys import STOPS_KEYS
from inspector.keys import shown as shown_keys
from inspector.query import QueryError, breakpoint_query, parse
from inspector.saved import SavedState, SavedStateError, log_key, state_file
from inspector.stops import BREAKPOINT, FILTER, History, Recall, Stops
from inspector.stops_screen import StopsScreen
from tests.inspector.sessions import LONG, SESSION, settle, shown

SIZE = (170, 48)


def sqlite_key(path: Path) -> str:
    """How the state file names a SQLite log: by its absolute path."""
    return f"sqlite:///{path.resolve()}"


def test_one_filter_is_on_at_a_time_and_breakpoints_turn_off_and_on() -> None:
    stops = Stops()
    stops.set_filter(parse("cat:job"))
    stops.add_breakpoint(breakpoint_query("error"))
    stops.add_breakpoint(breakpoint_query("type:JobCancel"))
    stops.set_filter(parse("worker:agent"))  # takes the place of the filter that was on
    assert [s.text for s in stops.items] == ["worker:agent", "error", "type:JobCancel"]
    stops.set_filter(parse("cat:job"))
    assert stops.filter is not None and stops.filter.text == "cat:job"
    stops.toggle(1)
    assert [q.text for q in stops.breakpoints] == ["type:JobCancel"]
    stops.add_breakpoint(breakpoint_query("error"))  # listed already: turned on again
    assert [q.text for q in stops.breakpoints] == ["error", "type:JobCancel"]
    stops.toggle(0)
    assert stops.filter is None
    stops.remove(0)
    stops.clear_breakpoints()
    assert not stops


def test_two_filters_listed_turn_each_other_off() -> None:
    stops = Stops()
    stops.set_filter(parse("cat:job"))
    stops.toggle(0)
    stops.set_filter(parse("cat:error"))
    assert [(s.text, s.on) for s in stops.items] == [("cat:job", False), ("cat:error", True)]
    stops.toggle(0)
    assert [(s.text, s.on) for s in stops.items] == [("cat:job", True), ("cat:error", False)]
    stops.set_filter(None)  # F: the filter that is on goes
    assert [(s.text, s.on) for s in stops.items] == [("cat:error", False)]


def test_saved_stops_load_back_and_a_bad_one_is_named() -> None:
    stops = Stops()
    stops.set_filter(parse("! cat:frame"))
    stops.add_breakpoint(breakpoint_query("error"))
    stops.toggle(1)
    again = Stops.load(stops.dump())
    assert [(s.kind, s.text, s.on) for s in again.items] == [
        (FILTER, "! cat:frame", True),
        (BREAKPOINT, "error", False),
    ]
    with pytest.raises(QueryError, match="saved filter 'cat:nope'"):
        Stops.load([{"kind": FILTER, "text": "cat:nope", "on": True}])
    with pytest.raises(QueryError, match="not a filter or breakpoint"):
        Stops.load([{"kind": "watch", "text": "x"}])


def test_history_keeps_each_entry_once_and_up_and_down_go_through_it_as_a_shell_does() -> None:
    history = History()
    for text in ("cat:job", "worker:a", "cat:job", " ", "type:x"):
        history.add(FILTER, text)
    assert history.of(FILTER) == ["worker:a", "cat:job", "type:x"]
    recall = Recall(history.of(FILTER))
    assert recall.older("type:x") == "cat:job"  # the prompt holds the newest already
    assert recall.older("cat:job") == "worker:a"
    assert recall.older("worker:a") is None
    assert recall.newer() == "cat:job"
    assert recall.newer() == "type:x"
    assert recall.newer() == "type:x"  # past the newest: what was typed
    assert recall.newer() is None
    other = History({FILTER: ["old", "type:x"], "find": ["hung up"]})
    assert history.merged(other).of(FILTER) == ["old", "worker:a", "cat:job", "type:x"]
    assert history.merged(other).of("find") == ["hung up"]


async def test_the_state_file_keeps_each_session_apart_and_a_broken_one_is_never_overwritten(
    fixed_log: Path, own_state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = await open_log(fixed_log)
    try:
        data = await SessionData.open(log, SESSION)
        saved = SavedState.of(data)
        assert saved.path == own_state_dir / "pipebus" / "inspector.json" == state_file()
        assert log_key(log) == sqlite_key(fixed_log)
        stops = Stops()
        stops.add_breakpoint(breakpoint_query("error"))
        saved.remember(BREAKPOINT, "error", stops)
        other = SavedState(log, "another")
        assert not other.load() and other.history.of(BREAKPOINT) == ["error"]
        assert [s.text for s in SavedState.of(data).load().items] == ["error"]
        monkeypatch.chdir(fixed_log.parent.parent)  # the same file, by another path
        assert log_key(log) == sqlite_key(fixed_log)
        saved.path.write_text("{not json")
        broken = SavedState.of(data)
        with pytest.raises(SavedStateError, match="is not JSON"):
            broken.load()
        with pytest.raises(SavedStateError):
            broken.save(stops)
        assert saved.path.read_text() == "{not json"
    finally:
        await log.close()


async def test_l_lists_breakpoints_and_filters_to_turn_off_and_remove_one_by_one(
    long_log: Path,
) -> None:
    app = InspectorApp(long_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        for query in ("type:JobCancel", "error"):
            await pilot.press("b", "ctrl+u", *query, "enter")
            await settle(pilot, lambda q=query: q in [b.text for b in screen.model.breakpoints])
        await pilot.press("f", *"! source:closer", "enter")
        await settle(pilot, lambda: screen.model.rows is not None and screen.idle)
        assert screen.model.shown == "22 of 3,000 shown"
        await pilot.press("L")
        await settle(pilot, lambda: isinstance(app.screen, StopsScreen))
        listing = app.screen
        assert isinstance(listing, StopsScreen)
        assert listing.rows == [
            "[on ] breakpoint  type:JobCancel",
            "[on ] breakpoint  error",
            "[on ] filter      ! source:closer",
        ]
        await pilot.press("space")  # the first breakpoint off
        await pilot.press("down", "down", "space")  # the filter off: every row again
        await settle(pilot, lambda: screen.model.rows is None)
        assert listing.rows[0].startswith("[off]") and listing.rows[2].startswith("[off]")
        await pilot.press("up", "x")  # the error breakpoint removed
        assert listing.rows == [
            "[off] breakpoint  type:JobCancel",
            "[off] filter      ! source:closer",
        ]
        await pilot.press("escape")
        screen = await shown(pilot, app)
        assert screen.model.breakpoints == []
        assert screen.model.shown == f"{LONG:,} of {LONG:,} shown"
        await pilot.press("r")
        await settle(pilot, lambda: "no breakpoint: add one with b" in screen.model.status())


async def test_breakpoints_and_filters_come_back_when_the_session_is_opened_again(
    long_log: Path, own_state_dir: Path
) -> None:
    app = InspectorApp(long_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("b", "ctrl+u", *"type:JobCancel", "enter")
        await pilot.press("b", "ctrl+u", *"worker:writer", "enter")
        await settle(pilot, lambda: len(screen.model.breakpoints) == 2)
        await pilot.press("L", "down", "space", "escape")  # the second one off
        await pilot.press("f", *"cat:job", "enter")
        await settle(pilot, lambda: screen.model.rows is not None and screen.idle)
    saved = json.loads((own_state_dir / "pipebus" / "inspector.json").read_text())
    assert list(saved["sessions"]) == [f"{sqlite_key(long_log)} {SESSION}"]

    app = InspectorApp(long_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app)
        await settle(pilot, lambda: screen.model.rows is not None and screen.idle)
        assert [b.text for b in screen.model.breakpoints] == ["type:JobCancel"]
        assert screen.model.filter is not None and screen.model.filter.text == "cat:job"
        assert screen.model.shown == "13 of 3,000 shown"
        assert "3 saved breakpoints and filters back" in screen.model.status()
        await pilot.press("r")
        await shown(pilot, app, 19)  # the cancel: the breakpoint works as before
        await pilot.press("L")
        await settle(pilot, lambda: isinstance(app.screen, StopsScreen))
        assert app.screen.rows[1] == "[off] breakpoint  worker:writer"  # type: ignore[attr-defined]


async def test_up_in_the_filter_and_find_prompts_brings_back_what_was_typed_before(
    fixed_log: Path,
) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        for text in ("cat:job", "worker:translator"):
            await pilot.press("f", "ctrl+u", *text, "enter")
            await settle(
                pilot,
                lambda t=text: (
                    screen.model.filter is not None
                    and screen.model.filter.text == t
                    and screen.idle
                ),
            )
        await pilot.press("F")
        await settle(pilot, lambda: screen.model.rows is None and screen.idle)
        await pilot.press("f", "up")
        prompt = app.screen.query_one("#prompt")
        assert prompt.value == "worker:translator"  # type: ignore[attr-defined]
        await pilot.press("up")
        assert prompt.value == "cat:job"  # type: ignore[attr-defined]
        await pilot.press("down", "down")
        assert prompt.value == ""  # type: ignore[attr-defined]
        await pilot.press("up", "up", "enter")
        await settle(pilot, lambda: screen.model.filter is not None and screen.idle)
        assert screen.model.filter.text == "cat:job"
        await pilot.press("slash", *"hung up", "enter")
        await settle(pilot, lambda: screen.model.find is not None and screen.idle)
        await pilot.press("slash", "ctrl+u", "up")
        assert app.screen.query_one("#prompt").value == "hung up"  # type: ignore[attr-defined]


def test_the_list_s_keys_are_in_the_help() -> None:
    from inspector.dialogs import help_lines

    text = "\n".join(line.text for line in help_lines())
    for key in STOPS_KEYS:
        assert f"{shown_keys(key.keys):<22} {key.description}" in text
