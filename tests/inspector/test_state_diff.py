"""The state panel (d): what the step at the cursor changed, field by field, and the whole state."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from inspector.app import InspectorApp
from inspector.state_panel import diff_lines, next_view, tree_lines
from pipebus.core.messages import BusJobRequestMessage, BusWorkerReadyMessage
from pipebus.observability import Envelope
from pipebus.projections import fold
from pipebus.projections.diff import diff
from tests.inspector.sessions import LONG, SESSION, settle, shown, write_session

SIZE = (170, 48)
SIZES = [(100, 30), (160, 48), (220, 60)]


def envelope(message: Any, seq: int) -> Envelope:
    return Envelope(message, f"m{seq}", "s", seq, 1_000 + seq * 1_000_000, "r", 1, seq)


def test_diff_lines_group_a_new_job_under_its_head_with_times_since_the_start() -> None:
    before = fold([envelope(BusWorkerReadyMessage(source="w", runner="r"), 1)])
    request = BusJobRequestMessage(source="a", target="w", job_id="j1", job_name="echo")
    after = fold([envelope(request, 2)], before)
    lines = diff_lines(diff(before, after), 2, {"j1": "echo"}, start_ns=1_000)
    assert lines[0].text == "step 2 changed 20 fields"
    assert lines[1].text == "jobs.jobs[j1 (echo)]  + added" and lines[1].style == "added"
    texts = [line.text.split() for line in lines[2:]]
    assert ["started_ns", "+", "2.000", "ms"] in texts
    assert ["workers[w].status", "+", '"requested"'] in texts
    assert all(line.style == "added" for line in lines[1:])


def test_a_step_that_changes_nothing_says_so_and_the_tree_marks_only_what_changed() -> None:
    state = fold([envelope(BusWorkerReadyMessage(source="w", runner="r"), 1)])
    assert diff_lines(diff(state, state), 7)[0].text == (
        "step 7 changed nothing in the registry or the jobs"
    )
    request = BusJobRequestMessage(source="a", target="w", job_id="j1")
    after = fold([envelope(request, 2)], state)
    tree = tree_lines(after, diff(state, after))
    styles = {line.text.strip().split()[0]: line.style for line in tree}
    assert styles["registry"] == "head" and styles["jobs"] == "changed"
    assert styles["requester"] == "added"
    assert styles["runner"] == ""  # the worker did not change
    assert next_view("") == "diff" and next_view("diff") == "tree" and next_view("tree") == ""


async def test_d_shows_the_diff_then_the_tree_then_hides_the_panel(fixed_log: Path) -> None:
    app = InspectorApp(fixed_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"16", "enter")
        screen = await shown(pilot, app, 16)
        panel = screen.panel("state")
        assert not panel.display
        await pilot.press("d")
        await settle(pilot, lambda: panel.display and bool(panel.lines))
        assert panel.border_title == "state diff at #16"
        changed = {line.text.split()[0]: line for line in panel.lines if line.style == "changed"}
        assert changed["status"].text.split()[1:] == ['"ready"', "→", '"failed"']
        assert changed["stop_reason"].text.split()[1:] == ["None", "→", '"LookupError"']
        assert "registry.workers[translator]" in changed
        await pilot.press("j")  # the panel follows the cursor
        await shown(pilot, app, 17)
        await settle(pilot, lambda: panel.border_title == "state diff at #17")
        assert any("jobs.jobs[j-arc (archive)]  + added" == line.text for line in panel.lines)
        await pilot.press("d")
        await settle(pilot, lambda: panel.border_title == "state after #17 (tree)")
        heads = [line.text.strip() for line in panel.lines if line.style in ("head", "changed")]
        assert heads[:2] == ["registry", "workers (5)"]
        assert "j-arc (archive)" in heads and "j-tr (translate)" in heads
        await pilot.press("5")
        await settle(pilot, lambda: screen.model.maximized == "state")
        assert not screen.timeline.display and not screen.panel("detail").display
        await settle(pilot, lambda: panel.size.width > SIZE[0] // 2)  # the whole width
        await pilot.press("5")
        await settle(pilot, lambda: screen.timeline.display)
        await pilot.press("d")
        await settle(pilot, lambda: not panel.display)


async def test_the_diff_follows_every_key_in_a_session_longer_than_the_screen(
    long_log: Path,
) -> None:
    app = InspectorApp(long_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app, 1)
        await pilot.press("d")
        await pilot.press("G")
        screen = await shown(pilot, app, LONG)
        panel = screen.panel("state")
        await settle(pilot, lambda: panel.border_title == f"state diff at #{LONG}")
        fields = [line.text.split() for line in panel.lines]
        assert ["status", '"ready"', "→", '"ended"'] in fields  # the closer stopped last
        await pilot.press("colon", *"1500", "enter")
        await shown(pilot, app, 1500)
        await settle(pilot, lambda: panel.border_title == "state diff at #1500")
        assert panel.lines[0].text == "step 1,500 changed nothing in the registry or the jobs"
        await pilot.press("pageup")
        await settle(pilot, lambda: screen.at is not None and screen.at.step < 1500)
        await settle(pilot, lambda: panel.border_title == f"state diff at #{screen.model.cursor}")


@pytest.fixture
def fixed_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixed session in ./shop.db of a fresh directory, times in UTC (same screens)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    asyncio.run(write_session(Path("shop.db")))
    return Path("shop.db")


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_of_the_state_diff_of_a_failed_worker(
    fixed_here: Path, snap_compare: Any, size: tuple[int, int]
) -> None:
    app = InspectorApp(fixed_here, SESSION)

    async def at_the_stop(pilot: Any) -> None:
        await shown(pilot, app, 1)
        await pilot.press("colon", *"16", "enter", "d")
        screen = await shown(pilot, app, 16)
        await settle(pilot, lambda: screen.panel("state").border_title == "state diff at #16")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=at_the_stop)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_of_the_whole_state_as_a_tree_full_screen(
    fixed_here: Path, snap_compare: Any, size: tuple[int, int]
) -> None:
    app = InspectorApp(fixed_here, SESSION)

    async def tree(pilot: Any) -> None:
        await shown(pilot, app, 1)
        await pilot.press("colon", *"17", "enter", "d", "d", "5")
        screen = await shown(pilot, app, 17)
        await settle(pilot, lambda: screen.model.maximized == "state")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=tree)
