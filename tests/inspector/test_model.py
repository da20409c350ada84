"""The view-model alone: cursor moves, rows under a filter, follow mode, status, breakpoints."""

from __future__ import annotations

from array import array

from inspector.model import ViewModel
from inspector.query import parse
from tests.inspector.sessions import scenario


def model(length: int = 100, **fields: object) -> ViewModel:
    found = ViewModel(length=length, cursor=1)
    for name, value in fields.items():
        setattr(found, name, value)
    return found


def test_moves_are_clamped_to_the_session() -> None:
    m = model()
    assert m.move(5) == 6
    assert m.move(-10) == 1
    assert m.last() == 100
    assert m.move(3) == 100
    assert m.first() == 1
    assert m.go(250) == 100 and m.go(-3) == 1
    assert m.scrub(0.1) == 11 and m.scrub(-0.01) == 10


def test_with_a_filter_the_cursor_moves_over_visible_rows_only() -> None:
    m = model()
    m.go(50)
    m.set_rows(array("q", [10, 20, 30, 60, 90]))
    assert m.cursor == 30  # the nearest visible step before it
    assert m.shown == "5 of 100 shown"
    assert m.move(1) == 60 and m.move(1) == 90 and m.move(1) == 90
    assert m.move(-2) == 30
    assert m.go(61) == 60
    assert m.go(5) == 10  # nothing before it: the first row
    assert [m.step_at(r) for r in range(6)] == [10, 20, 30, 60, 90, 0]
    assert m.row_of(75) == 3 and m.visible(60) and not m.visible(61)


def test_following_rides_new_rows_and_a_move_pauses_it_with_a_badge() -> None:
    m = model(10, live=True)
    m.last()
    assert m.following and m.badge == "● following"
    assert m.grow(12) == 2 and m.cursor == 12
    m.move(-1)
    assert not m.following and m.badge == "⏸ paused"
    m.grow(15)
    assert m.cursor == 11 and m.badge == "⏸ paused +3 new"
    m.last()
    assert m.following and m.cursor == 15 and m.new_events == 0


def test_new_rows_under_a_filter_only_count_the_visible_ones() -> None:
    m = model(10, live=True, rows=array("q", [2, 4]))
    m.go(4)
    assert m.grow(14, [12]) == 1
    assert m.badge == "⏸ paused +1 new" and m.shown == "3 of 14 shown"


def test_the_status_says_where_what_is_shown_and_what_is_looked_for() -> None:
    m = model(1_500_000, filter=parse("cat:job"), find=parse("/x/"))
    m.rows = array("q", range(1, 40_001))
    m.add_breakpoint(parse("type:Cancel"))
    m.add_breakpoint(parse("type:Cancel"))
    text = m.status()
    assert text.startswith("step 1/1,500,000  │  40,000 of 1,500,000 shown")
    assert "filter: cat:job" in text and "find: /x/" in text and "breakpoints: 1" in text


def test_breakpoints_report_the_first_hit_among_new_events() -> None:
    from inspector.model import ViewModel as VM

    class Stepped:
        def __init__(self, seq: int, event: object) -> None:
            self.seq = seq
            self.__dict__.update({k: getattr(event, k) for k in ("source", "target")})
            self.type = type(event).__name__
            self.job_id = getattr(event, "job_id", None)
            self.payload = "{}"

    events = [Stepped(n, m) for n, (m, _) in enumerate(scenario(), start=1)]
    m = VM(length=25, breakpoints=[parse("type:HandlerError"), parse("worker:closer")])
    assert m.hits_breakpoint(events) == 5  # closer's ready message
    assert m.hits_breakpoint(events[5:]) == 13
    assert m.hits_breakpoint(events[13:]) == 21
    assert m.hits_breakpoint(events[5:12]) is None


def test_full_screen_toggles() -> None:
    m = model()
    assert m.toggle_maximized("jobs") == "jobs"
    assert m.toggle_maximized("detail") == "detail"
    assert m.toggle_maximized("detail") is None
