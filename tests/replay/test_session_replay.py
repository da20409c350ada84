"""SessionReplay: state at every step equals the live fold; filters, changes, follow."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipebus import BaseWorker, BusJobRequestMessage, WorkerRunner, job
from pipebus.eventlog.store import EventLog
from pipebus.projections import fold
from pipebus.replay import SessionReplay
from pipebus.testing import EnvelopeCapture, running


class Echo(BaseWorker):
    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await self.send_job_update(message.job_id, {"half": True})
        await self.send_job_response(message.job_id, {"ok": True})


class Streamer(BaseWorker):
    @job(name="tell")
    async def tell(self, message: BusJobRequestMessage) -> None:
        for i in range(3):
            await self.send_job_stream_data(message.job_id, {"i": i})
        await self.send_job_stream_end(message.job_id, {"n": 3})


async def scenario(path: Path, snapshot_every: int) -> tuple[WorkerRunner, EnvelopeCapture]:
    runner = WorkerRunner(handle_sigint=False, event_log=path, snapshot_every=snapshot_every)
    capture = EnvelopeCapture(runner.bus)
    boss = BaseWorker("boss")
    await runner.add_workers(
        boss, Echo("echo"), Streamer("streamer"), BaseWorker("idle", active=False)
    )
    async with running(runner):
        for _ in range(3):
            async with boss.job_group("echo", "streamer", name="tell"):
                pass
        await boss.activate_worker("idle")
        await boss.deactivate_worker("echo")
        await runner.bus.drain()
    return runner, capture


async def test_the_replayed_state_at_the_end_equals_the_live_state(tmp_path: Path) -> None:
    runner, _ = await scenario(tmp_path / "log.db", snapshot_every=2000)
    async with await SessionReplay.open(tmp_path / "log.db", runner.session_id) as replay:
        final = await replay.state_at(len(replay))
    assert final.registry == runner.registry.state
    assert final.jobs == runner.jobs.state


@pytest.mark.parametrize("snapshot_every", [3, 2000])
async def test_the_state_at_every_step_equals_the_fold_of_the_stamped_envelopes(
    tmp_path: Path, snapshot_every: int
) -> None:
    runner, capture = await scenario(tmp_path / "log.db", snapshot_every)
    async with await SessionReplay.open(tmp_path / "log.db", runner.session_id) as replay:
        assert len(replay) == len(capture.envelopes)
        for step in range(len(replay) + 1):
            expected = fold(capture.envelopes[:step])
            actual = await replay.state_at(step)
            assert (actual.registry, actual.jobs, actual.events) == (
                expected.registry,
                expected.jobs,
                step,
            ), f"step {step}"


async def test_missing_snapshots_are_made_on_the_way_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    runner, capture = await scenario(path, snapshot_every=4)
    log = await EventLog.open(path)
    async with log.engine.begin() as connection:
        await connection.exec_driver_sql("DELETE FROM snapshots")
    replay = await SessionReplay.open(log, runner.session_id)
    last = len(replay)
    assert await replay.state_at(last) == fold(capture.envelopes)._replace(events=last)
    assert await log.snapshot_positions(runner.session_id) == list(range(4, last + 1, 4))
    assert await replay.state_at(9) == fold(capture.envelopes[:9])._replace(events=9)
    await log.close()


async def test_filters_changes_causes_and_activity(tmp_path: Path) -> None:
    runner, _ = await scenario(tmp_path / "log.db", snapshot_every=2000)
    async with await SessionReplay.open(tmp_path / "log.db", runner.session_id) as replay:
        chunks = await replay.events(types=["BusJobStreamDataMessage"])
        assert len(chunks) == 9 and {e.source for e in chunks} == {"streamer"}
        job_id = chunks[0].job_id
        assert job_id is not None
        of_job = await replay.events(job=job_id)
        assert {e.type for e in of_job} >= {"BusJobRequestMessage", "BusJobStreamEndMessage"}
        assert all(
            e.source == "echo" or e.target == "echo" for e in await replay.events(worker="echo")
        )
        cause = await replay.cause_of(chunks[0])
        assert (
            cause is not None
            and cause.type == "BusJobRequestMessage"
            and cause.target == "streamer"
        )
        assert chunks[0].message_id in {e.message_id for e in await replay.effects_of(cause)}
        first_request = min(e.seq for e in of_job)
        changed = await replay.changes(first_request - 1, first_request)
        assert list(changed.jobs) == [job_id] and changed.jobs[job_id].kind == "added"
        working = await replay.activity_at(first_request + 1)
        assert job_id in working["streamer"].working_on + working["echo"].working_on
        assert job_id in working["boss"].waiting_on
        with pytest.raises(IndexError):
            await replay.state_at(len(replay) + 1)
        with pytest.raises(IndexError):
            await replay.event(0)


async def test_follow_yields_a_running_sessions_events_until_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    runner = WorkerRunner(handle_sigint=False, event_log=path)
    boss = BaseWorker("boss")
    await runner.add_workers(boss, Echo("echo"))
    capture = EnvelopeCapture(runner.bus)
    async with running(runner):
        await runner.flush()
        replay = await SessionReplay.open(path, runner.session_id)
        followed: list[str] = []

        async def follow() -> None:
            async for event in replay.follow(start=1, poll_interval=0.01):
                followed.append(event.message_id)

        follower = asyncio.create_task(follow())
        for _ in range(5):
            async with boss.job("echo"):
                pass
            await runner.flush()
    await asyncio.wait_for(follower, 10)  # ends by itself once the session has ended
    assert followed == [e.message_id for e in capture.envelopes]
    await replay.close()
