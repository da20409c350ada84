"""The data module: the state at the cursor is the replay's, windows are read once."""

from __future__ import annotations

from pathlib import Path

from inspector.data import KEPT_EVENTS, KEPT_STATES, SessionData
from pipebus.eventlog.store import EventLog
from pipebus.replay import session as replay_session


async def test_the_state_at_each_step_is_the_one_a_full_rebuild_computes(
    demo_log: tuple[Path, str],
) -> None:
    path, session = demo_log
    async with await EventLog.open(path) as log:
        data = await SessionData.open(log, session)
        for step in range(1, data.length + 1):
            at = await data.at_cursor(step)
            rebuilt = await data.replay.rebuild(step)
            assert (at.state.registry, at.state.jobs) == (rebuilt.registry, rebuilt.jobs), step
            assert at.event.seq == step and at.state.events == step
        backwards = await data.at_cursor(3)
        assert backwards.state == await data.replay.rebuild(3)


async def test_events_are_read_by_window_and_the_cache_stays_bounded(
    demo_log: tuple[Path, str],
) -> None:
    path, session = demo_log
    async with await EventLog.open(path) as log:
        data = await SessionData.open(log, session)
        assert data.missing([1, 2, 3]) == [1, 2, 3]
        assert await data.load(range(1, 11)) == 10
        assert await data.load(range(5, 16)) == 5  # only what was not read yet
        assert data.cached(7) is not None and data.cached(16) is None
        assert await data.load([2, 20, 30]) == 2
        assert KEPT_EVENTS >= 10_000


async def test_a_step_gone_back_to_after_many_jumps_is_not_folded_again(
    demo_log: tuple[Path, str],
) -> None:
    path, session = demo_log
    async with await EventLog.open(path) as log:
        data = await SessionData.open(log, session)
        first = await data.state_around(await data.event(3))
        jumps = range(data.length, data.length - 12, -1)  # more than the replay keeps
        assert len(jumps) > replay_session.KEPT_STATES and len(jumps) < KEPT_STATES
        for step in jumps:
            await data.state_around(await data.event(step))
        again = await data.state_around(await data.event(3))
        assert all(kept is shown for kept, shown in zip(again, first, strict=True))
        assert again[1] == await data.replay.rebuild(3)
