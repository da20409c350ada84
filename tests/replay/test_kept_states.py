"""SessionReplay's kept states and rebuild: every order of steps gives the uncached state."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from pipebus import BaseWorker, WorkerRunner
from pipebus.eventlog.store import EventLog
from pipebus.projections import SessionState, fold, jobs
from pipebus.replay import SessionReplay
from pipebus.replay.session import KEPT_STATES
from pipebus.testing import EnvelopeCapture, running
from tests.replay.test_session_replay import Echo, scenario


def expected(capture: EnvelopeCapture, step: int) -> SessionState:
    return fold(capture.envelopes[:step])._replace(events=step)


@pytest.mark.parametrize("order", ["forward", "backward", "shuffled", "twice"])
async def test_states_in_any_order_equal_the_fold_of_the_stamped_envelopes(
    tmp_path: Path, order: str
) -> None:
    runner, capture = await scenario(tmp_path / "log.db", snapshot_every=5)
    steps = list(range(len(capture.envelopes) + 1))
    if order == "backward":
        steps.reverse()
    elif order == "shuffled":
        random.Random(3).shuffle(steps)
    elif order == "twice":
        steps = [step for step in steps for _ in range(2)]
    async with await SessionReplay.open(tmp_path / "log.db", runner.session_id) as replay:
        for step in steps:
            assert await replay.state_at(step) == expected(capture, step), f"step {step}"


async def test_a_kept_state_spares_reading_what_it_already_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, capture = await scenario(tmp_path / "log.db", snapshot_every=2000)
    reads: list[tuple[int, int | None]] = []
    snapshot_reads: list[int] = []
    event_rows, snapshot_before = EventLog.event_rows, EventLog.snapshot_before

    async def spy_rows(self: EventLog, session_id: str, start: int = 1, *a: Any, **k: Any) -> Any:
        reads.append((start, a[0] if a else k.get("stop")))
        return await event_rows(self, session_id, start, *a, **k)

    async def spy_snapshot(self: EventLog, session_id: str, seq: int, **k: Any) -> Any:
        snapshot_reads.append(k.get("after", -1))
        return await snapshot_before(self, session_id, seq, **k)

    monkeypatch.setattr(EventLog, "event_rows", spy_rows)
    monkeypatch.setattr(EventLog, "snapshot_before", spy_snapshot)
    async with await SessionReplay.open(tmp_path / "log.db", runner.session_id) as replay:
        assert await replay.state_at(10) == expected(capture, 10)
        assert reads == [(1, 11)]
        assert await replay.state_at(14) == expected(capture, 14)
        assert reads[-1] == (11, 15)  # from the state kept at step 10
        assert snapshot_reads[-1] == 10  # only a snapshot newer than that would help
        assert await replay.state_at(10) == expected(capture, 10)
        assert len(reads) == 2  # kept: nothing read


async def test_the_kept_states_are_bounded(tmp_path: Path) -> None:
    runner, _capture = await scenario(tmp_path / "log.db", snapshot_every=2000)
    async with await SessionReplay.open(tmp_path / "log.db", runner.session_id) as replay:
        for step in range(len(replay) + 1):
            await replay.state_at(step)
        assert len(replay._states) == KEPT_STATES
        assert max(replay._states) == len(replay)


async def test_rebuild_folds_from_the_first_event_and_stores_no_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    runner, capture = await scenario(path, snapshot_every=4)
    log = await EventLog.open(path)
    async with log.engine.begin() as connection:
        await connection.exec_driver_sql("DELETE FROM snapshots")
    async with await SessionReplay.open(log, runner.session_id) as replay:
        for step in (0, 1, 9, len(replay)):
            assert await replay.rebuild(step) == expected(capture, step)
        assert await replay.rebuild() == expected(capture, len(replay))
        with pytest.raises(IndexError):
            await replay.rebuild(len(replay) + 1)
    assert await log.snapshot_positions(runner.session_id) == []
    await log.close()


async def test_replayed_states_keep_only_the_last_finished_jobs(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    runner = WorkerRunner(handle_sigint=False, event_log=path, snapshot_every=50)
    capture = EnvelopeCapture(runner.bus)
    boss = BaseWorker("boss")
    await runner.add_workers(boss, Echo("echo"))
    async with running(runner):
        for _ in range(jobs.FINISHED_JOBS_KEPT + 20):
            async with boss.job("echo"):
                pass
        await runner.bus.drain()
    async with await SessionReplay.open(path, runner.session_id) as replay:
        last = len(replay)
        for step in (last // 2, last):
            state = await replay.state_at(step)
            assert state == expected(capture, step)
            finished = [job for job in state.jobs.jobs.values() if job.finished]
            assert len(finished) <= jobs.FINISHED_JOBS_KEPT
        assert len(finished) == jobs.FINISHED_JOBS_KEPT
        assert state.registry == runner.registry.state and state.jobs == runner.jobs.state
