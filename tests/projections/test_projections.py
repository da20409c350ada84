"""The registry and jobs projections: pure folds equal to the live state."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from pipebus import (
    BaseWorker,
    BusJobCancelMessage,
    BusJobGroupFinishedMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobUpdateMessage,
    BusMessage,
    BusWorkerReadyMessage,
    BusWorkerRegistryMessage,
    BusWorkerStoppedMessage,
    JobStatus,
    WorkerRegistryEntry,
    WorkerRunner,
    job,
)
from pipebus.observability import Envelope
from pipebus.projections import EMPTY, SessionState, apply, fold, jobs, registry
from pipebus.testing import EnvelopeCapture, running

_seq = itertools.count(1)


def env(message: BusMessage, t: int | None = None) -> Envelope:
    n = next(_seq)
    return Envelope(message, f"m{n}", "s", n, t if t is not None else n * 1000, "r", 1, n)


class Echo(BaseWorker):
    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await self.send_job_update(message.job_id, {"half": True})
        await self.send_job_response(message.job_id, {"ok": 1})


class Streamer(BaseWorker):
    @job(name="s")
    async def stream(self, message: BusJobRequestMessage) -> None:
        for i in range(3):
            await self.send_job_stream_data(message.job_id, {"i": i})
        await self.send_job_stream_end(message.job_id, {"n": 3})


async def test_live_state_equals_the_fold_of_what_was_stamped() -> None:
    runner = WorkerRunner(handle_sigint=False)
    capture = EnvelopeCapture(runner.bus)
    boss = BaseWorker("boss")
    await runner.add_workers(boss, Echo("echo"), Streamer("streamer"))
    async with running(runner):
        async with boss.job_group("echo", "streamer", name="s") as tg:
            pass
        await boss.deactivate_worker("echo")
        await runner.bus.drain()
    replayed = fold(capture.envelopes)
    assert replayed.registry == runner.registry.state
    assert replayed.jobs == runner.jobs.state
    one_by_one = EMPTY
    for envelope in capture.envelopes:
        one_by_one = apply(one_by_one, envelope)
    assert one_by_one == replayed
    state = replayed.jobs.jobs[tg.job_id]
    assert state.status == "completed" and not state.verdict  # derived from the answers
    assert state.workers["streamer"].chunks == 3
    assert state.workers["echo"].updates == 1
    assert tg.group.state == state  # the live group's view is the projection's


def test_registry_tracks_ready_snapshot_and_stop() -> None:
    state = registry.EMPTY
    state = registry.apply(state, env(BusWorkerReadyMessage(source="a", runner="r1", active=True)))
    state = registry.apply(
        state,
        env(
            BusWorkerRegistryMessage(
                source="r2", runner="r2", workers=[WorkerRegistryEntry(name="b", parent="a")]
            )
        ),
    )
    assert state.ready("a") is not None and state.ready("b") is not None
    assert state.workers["b"].runner == "r2"
    state = registry.apply(
        state, env(BusWorkerStoppedMessage(source="a", runner="r1", status="ended", reason="bye"))
    )
    assert state.ready("a") is None
    assert (state.workers["a"].status, state.workers["a"].stop_reason) == ("ended", "bye")
    assert [w.name for w in state.children_of("a")] == ["b"]


def test_stopped_workers_are_forgotten_beyond_the_bound() -> None:
    state = registry.EMPTY
    for i in range(registry.STOPPED_WORKERS_KEPT + 5):
        state = registry.apply(state, env(BusWorkerReadyMessage(source=f"w{i}", runner="r")))
        state = registry.apply(state, env(BusWorkerStoppedMessage(source=f"w{i}", runner="r")))
    assert len(state.workers) == registry.STOPPED_WORKERS_KEPT
    assert "w0" not in state.workers


def test_jobs_derive_their_end_without_a_verdict_and_keep_a_bounded_history() -> None:
    state = jobs.EMPTY
    for i in range(jobs.FINISHED_JOBS_KEPT + 3):
        job_id = f"j{i}"
        state = jobs.apply(
            state, env(BusJobRequestMessage(source="req", target="w", job_id=job_id))
        )
        state = jobs.apply(
            state,
            env(
                BusJobResponseMessage(
                    source="w", target="req", job_id=job_id, status=JobStatus.FAILED
                )
            ),
        )
    assert len(state.jobs) == jobs.FINISHED_JOBS_KEPT
    last = state.jobs[f"j{jobs.FINISHED_JOBS_KEPT + 2}"]
    assert (last.status, last.reason) == ("failed", "worker 'w' answered failed")


def test_a_verdict_overrides_the_derived_status() -> None:
    state = jobs.EMPTY
    state = jobs.apply(
        state, env(BusJobRequestMessage(source="req", target="w", job_id="j"), t=100)
    )
    state = jobs.apply(
        state, env(BusJobCancelMessage(source="req", target="w", job_id="j", reason="timeout"))
    )
    state = jobs.apply(
        state,
        env(
            BusJobGroupFinishedMessage(
                source="req", job_id="j", status="timeout", reason="timeout"
            ),
            t=400,
        ),
    )
    job_state = state.jobs["j"]
    assert (job_state.status, job_state.verdict, job_state.duration_ns) == ("timeout", True, 300)
    assert job_state.workers["w"].cancel_requested


# --- property: folding is a fold ------------------------------------------------------

workers = st.sampled_from(["a", "b", "c"])
job_ids = st.sampled_from(["j1", "j2"])
messages = st.one_of(
    st.builds(lambda w: BusWorkerReadyMessage(source=w, runner="r"), workers),
    st.builds(lambda w: BusWorkerStoppedMessage(source=w, runner="r"), workers),
    st.builds(
        lambda w, j: BusJobRequestMessage(source="req", target=w, job_id=j), workers, job_ids
    ),
    st.builds(lambda w, j: BusJobUpdateMessage(source=w, target="req", job_id=j), workers, job_ids),
    st.builds(
        lambda w, j: BusJobStreamDataMessage(source=w, target="req", job_id=j), workers, job_ids
    ),
    st.builds(
        lambda w, j: BusJobStreamEndMessage(source=w, target="req", job_id=j), workers, job_ids
    ),
    st.builds(
        lambda w, j, s: BusJobResponseMessage(source=w, target="req", job_id=j, status=s),
        workers,
        job_ids,
        st.sampled_from(list(JobStatus)),
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(messages, max_size=30), st.lists(messages, max_size=30))
def test_folding_in_two_parts_equals_folding_at_once(
    first: list[BusMessage], second: list[BusMessage]
) -> None:
    envelopes = [env(m) for m in first + second]
    at_once = fold(envelopes)
    in_two = fold(envelopes[len(first) :], fold(envelopes[: len(first)]))
    assert in_two == at_once
    assert isinstance(at_once, SessionState) and at_once.events == len(envelopes)
