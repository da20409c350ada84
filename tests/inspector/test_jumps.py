"""Back and forward after a jump ([ and ]), like a browser's history or an editor's jump list."""

from __future__ import annotations

from pathlib import Path

from inspector.app import InspectorApp
from inspector.jumps import KEPT, JumpList
from inspector.model import ViewModel
from tests.inspector.sessions import LONG, SESSION, shown

SIZE = (170, 48)


def test_back_and_forward_retrace_the_jumps_and_a_new_jump_drops_what_was_ahead() -> None:
    m = ViewModel(length=1000, cursor=1)
    m.jump(500)
    m.jump(900)
    m.move(3)  # a step is not a jump: back goes to where the last jump came from
    assert m.back() == 500
    assert m.back() == 1
    assert m.back() is None and m.cursor == 1
    assert m.forward() == 500
    assert m.forward() == 903  # where back was pressed
    assert m.forward() is None
    m.back()
    m.jump(42)
    assert m.forward() is None  # a new jump: nothing ahead any more
    assert m.back() == 500


def test_first_and_last_are_jumps_and_a_jump_that_does_not_move_is_none() -> None:
    m = ViewModel(length=100, cursor=10)
    m.last()
    m.first()
    m.jump(1)
    assert m.jumps.back == [10, 100]
    assert m.back() == 100 and m.back() == 10


def test_the_list_keeps_the_latest_jumps_only() -> None:
    jumps = JumpList()
    for step in range(1, KEPT + 50):
        jumps.jumped(step, step + 1)
    assert len(jumps.back) == KEPT and jumps.back[-1] == KEPT + 49


async def test_brackets_go_back_and_forward_over_jumps_in_a_long_session(long_log: Path) -> None:
    app = InspectorApp(long_log, SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app, 1)
        await pilot.press("colon", *"2000", "enter")
        await shown(pilot, app, 2000)
        await pilot.press("G")
        await shown(pilot, app, LONG)
        await pilot.press("e")  # no error after the last step: not a jump
        await pilot.press("g", "e")  # to the first step, then the handler error at 13
        await shown(pilot, app, 13)
        await pilot.press("c")  # its cause, the job request at 12
        await shown(pilot, app, 12)
        await pilot.press("j", "j")
        await shown(pilot, app, 14)
        for step in (13, 1, LONG, 2000, 1):
            await pilot.press("left_square_bracket")
            await shown(pilot, app, step)
        await pilot.press("left_square_bracket")  # nothing further back: the cursor stays
        screen = await shown(pilot, app, 1)
        assert "no jump to go back to" in screen.model.status()
        for step in (2000, LONG, 1, 13, 14):
            await pilot.press("right_square_bracket")
            await shown(pilot, app, step)
        screen = await shown(pilot, app, 14)
        assert screen.timeline.visible_text()[13].split()[0] == "14"
        await pilot.press("left_square_bracket", "left_square_bracket", "colon", *"2500", "enter")
        await shown(pilot, app, 2500)
        await pilot.press("right_square_bracket")  # a new jump dropped what was ahead
        screen = await shown(pilot, app, 2500)
        assert "no jump to go forward to" in screen.model.status()
