"""Filter (hide), find (highlight), breakpoints and continue, folded jobs, exports."""

from __future__ import annotations

import json
from pathlib import Path

from inspector.app import InspectorApp
from pipebus.replay.transcript import Transcript
from tests.inspector.sessions import SESSION, settle, shown

SIZE = (170, 48)


async def test_a_filter_hides_what_does_not_match_and_says_how_many_are_shown(
    fixed_log: Path,
) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("f", *"cat:job", "enter")
        await settle(pilot, lambda: screen.model.rows is not None)
        screen = await shown(pilot, app)
        assert "13 of 25 shown" in screen.model.status()
        rows = [row for row in screen.timeline.visible_text() if row.strip()]
        assert len(rows) == 13
        assert all("Job" in row for row in rows)
        assert screen.model.cursor == 6  # the first visible step at or after the cursor
        await pilot.press("f", "ctrl+a", "ctrl+k", *"! cat:job source:agent", "enter")
        await settle(pilot, lambda: screen.model.row_count != 13)
        assert "18 of 25 shown" in screen.model.status()
        await pilot.press("F")
        await settle(pilot, lambda: screen.model.rows is None)
        assert "25 of 25 shown" in screen.model.status()


async def test_a_bad_filter_is_a_note_not_a_crash(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("f", *"colour:red", "enter")
        await settle(pilot, lambda: "unknown key 'colour'" in screen.model.status())
        assert screen.model.filter is None


async def test_find_highlights_and_n_goes_to_the_next_match(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("slash", *"/klingon/", "enter")
        await shown(pilot, app, 12)
        assert "25 of 25 shown" in screen.model.status()  # nothing hidden
        await pilot.press("n")
        await shown(pilot, app, 13)
        await pilot.press("N")
        await shown(pilot, app, 12)
        strip = screen.timeline.render_line(12 - 1 - int(screen.timeline.scroll_offset.y) + 1)
        assert any(seg.style is not None and seg.style.bgcolor for seg in strip)


async def test_a_breakpoint_stops_continue_at_each_hit(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("b", "ctrl+a", "ctrl+k", *"type:GroupFinished", "enter")
        await settle(pilot, lambda: len(screen.model.breakpoints) == 1)
        await pilot.press("r")
        await shown(pilot, app, 11)
        await pilot.press("r")
        await shown(pilot, app, 15)
        await pilot.press("b", "ctrl+a", "ctrl+k", *"worker:closer", "enter")
        await pilot.press("r", "r")
        await shown(pilot, app, 21)
        assert "breakpoint hit at #21" in screen.model.status()
        await pilot.press("R")
        await shown(pilot, app, 20)
        assert screen.timeline.visible_text()[19].startswith("●")


async def test_jobs_fold_into_one_row_that_expands(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("z")
        await settle(pilot, lambda: screen.model.rows is not None)
        screen = await shown(pilot, app)
        rows = [row for row in screen.timeline.visible_text() if row.strip()]
        assert len(rows) == 15  # 25 events, 13 of them in 3 jobs
        folded = [row for row in rows if "▸ job" in row]
        assert [row.split()[0] for row in folded] == ["6", "12", "17"]
        assert "j-write (write)" in folded[0] and "completed, 6 events," in folded[0]
        # the handler error its request caused counts as the job's (its row stays shown)
        assert "j-tr (translate)" in folded[1] and "failed, 4 events, 1 error," in folded[1]
        assert "j-arc (archive)" in folded[2] and "cancelled, 4 events," in folded[2]
        await pilot.press("colon", *"12", "enter")
        await shown(pilot, app, 12)
        await pilot.press("enter")
        await settle(pilot, lambda: screen.model.row_count == 17)
        assert "17 of 25 shown" in screen.model.status()


async def test_export_writes_a_jsonl_slice_and_a_regression_fixture(
    fixed_log: Path, tmp_path: Path
) -> None:
    app = InspectorApp(fixed_log, SESSION)
    out, fixture = tmp_path / "slice.jsonl", tmp_path / "agent.jsonl"
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("X", "ctrl+a", "ctrl+k", *f"6-10 {out}", "enter")
        await settle(pilot, lambda: "5 events written" in screen.model.status())
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert [line["seq"] for line in lines] == [6, 7, 8, 9, 10]
        assert lines[0]["payload"]["job_name"] == "write"
        await pilot.press("T", "ctrl+a", "ctrl+k", *f"agent 1-25 {fixture}", "enter")
        await settle(pilot, lambda: "steps of agent written" in screen.model.status())
    transcript = Transcript.load(fixture)
    assert transcript.worker == "agent" and transcript.session_id == SESSION
    assert [s.seq for s in transcript.outputs][:2] == [1, 6]


async def test_copy_puts_the_payload_on_the_clipboard(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"6", "enter")
        await shown(pilot, app, 6)
        await pilot.press("p")
        await settle(pilot, lambda: '"job_name":"write"' in app.clipboard)


async def test_a_filter_matching_nothing_shows_no_row_and_keys_still_work(
    fixed_log: Path,
) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("f", *"type:nothing", "enter")
        await settle(pilot, lambda: screen.model.rows is not None)
        assert "0 of 25 shown" in screen.model.status()
        await pilot.press("j", "k", "G", "g", "e", "z")
        await settle(pilot, lambda: screen.model.folded)
        assert not any(row.strip() for row in screen.timeline.visible_text())


async def test_an_empty_session_opens(tmp_path: Path) -> None:
    from pipebus.eventlog.store import EventLog

    path = tmp_path / "empty.db"
    async with await EventLog.open(path) as log:
        await log.begin_session("e" * 32, runner="nobody")
        await log.end_session("e" * 32, "ended")
    app = InspectorApp(path, "last")
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 0)
        assert "step 0/0  │  0 of 0 shown" in screen.model.status()
        await pilot.press("j", "e", "G")
        await shown(pilot, app, 0)


async def test_find_counts_its_matches_and_wraps_around_with_a_note(long_log: Path) -> None:
    app = InspectorApp(long_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(pilot, app, 1)
        await pilot.press("slash", *"hung up", "enter")  # both words: not "update" (step 18)
        await shown(pilot, app, 19)
        assert "match 1 of 2" in screen.model.status()
        await pilot.press("n")
        await shown(pilot, app, 20)
        assert "match 2 of 2" in screen.model.status()
        await pilot.press("n")
        await shown(pilot, app, 19)
        assert "match 1 of 2 (wrapped around to the first)" in screen.model.status()
        await pilot.press("N")
        await shown(pilot, app, 20)
        assert "match 2 of 2 (wrapped around to the last)" in screen.model.status()
        await pilot.press("f", *"type:GroupFinished", "enter")  # a find within the filter
        await settle(pilot, lambda: screen.model.rows is not None)
        await pilot.press("home", "n")
        await shown(pilot, app, 20)
        assert "match 1 of 1" in screen.model.status()
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"no such words", "enter")
        await settle(pilot, lambda: "no match" in screen.model.status())
