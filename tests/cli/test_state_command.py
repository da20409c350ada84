"""``pipebus state``: the registry and the jobs after a step, as the replay computes them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from pipebus.core.ids import short_job_id
from pipebus.projections import SessionState
from pipebus.replay.session import SessionReplay
from tests.cli import JOB_KEYS, WORKER_KEYS, log_path, pipebus, record_demo, stored_events


def replayed(step: int | None = None) -> tuple[int, SessionState]:
    """(length, state at ``step`` or at the end) of the last session, by the replay API."""

    async def read() -> tuple[int, SessionState]:
        async with await SessionReplay.open(log_path()) as replay:
            at = len(replay) if step is None else step
            return len(replay), await replay.state_at(at)

    return asyncio.run(read())


def records(lines: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    parsed = [json.loads(line) for line in lines]
    workers = {r["name"]: r for r in parsed if r["kind"] == "worker"}
    jobs = {r["id"]: r for r in parsed if r["kind"] == "job"}
    assert len(workers) + len(jobs) == len(parsed)
    return workers, jobs


def assert_matches(workers: dict[str, Any], jobs: dict[str, Any], state: SessionState) -> None:
    assert set(workers) == set(state.registry.workers)
    for name, info in state.registry.workers.items():
        record = workers[name]
        assert list(record) == WORKER_KEYS
        assert (record["runner"], record["parent"], record["status"], record["active"]) == (
            info.runner,
            info.parent,
            info.status,
            info.active,
        )
    assert set(jobs) == set(state.jobs.jobs)
    for job_id, job in state.jobs.jobs.items():
        record = jobs[job_id]
        assert list(record) == JOB_KEYS
        assert (record["name"], record["requester"], record["status"]) == (
            job.name,
            job.requester,
            job.status,
        )
        assert record["workers"] == {
            name: {"status": part.status, "updates": part.updates, "chunks": part.chunks}
            for name, part in job.workers.items()
        }


def test_state_at_a_middle_step_is_what_the_replay_computes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    session_id = record_demo()
    middle = next(e.seq for e in stored_events(session_id) if e.type == "BusJobUpdateMessage")
    _, state = replayed(middle)
    run = pipebus(capsys, "state", "--at", str(middle), "--json")
    assert run.status == 0 and run.err == ""
    workers, jobs = records(run.lines)
    assert {r["step"] for r in [*workers.values(), *jobs.values()]} == {middle}
    assert_matches(workers, jobs, state)
    (job,) = jobs.values()
    assert job["status"] == "running" and job["finished_ns"] is None
    assert job["workers"]["researcher"] == {"status": "working", "updates": 1, "chunks": 0}
    assert workers["coordinator"]["waiting_on"] == [job["id"]]
    assert workers["researcher"]["working_on"] == [job["id"]]
    assert workers["researcher"]["status"] == "ready"


def test_state_defaults_to_the_last_step(capsys: pytest.CaptureFixture[str]) -> None:
    session_id = record_demo()
    length, state = replayed()
    workers, jobs = records(pipebus(capsys, "state", session_id[:8], "--json").lines)
    assert {r["step"] for r in workers.values()} == {length}
    assert_matches(workers, jobs, state)
    assert {r["status"] for r in workers.values()} == {"ended"}
    (job,) = jobs.values()
    assert job["status"] == "completed" and job["name"] == "answer"
    assert job["workers"]["writer"] == {"status": "completed", "updates": 0, "chunks": 7}
    assert job["workers"]["researcher"] == {"status": "completed", "updates": 3, "chunks": 0}


def test_state_at_step_zero_is_empty(capsys: pytest.CaptureFixture[str]) -> None:
    record_demo()
    assert pipebus(capsys, "state", "--at", "0", "--json").out == ""
    text = pipebus(capsys, "state", "--at", "0").out
    assert "after step 0 of" in text and text.count("(none)") == 2


def test_state_prints_workers_and_jobs_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    session_id = record_demo()
    length, state = replayed()
    (job_id,) = state.jobs.jobs
    run = pipebus(capsys, "state")
    assert run.status == 0
    lines = run.lines
    assert lines[0] == f"Session {session_id[:8]} after step {length} of {length}"
    assert lines[2] == "Workers"
    assert lines[3].split() == [
        "NAME",
        "RUNNER",
        "PARENT",
        "STATUS",
        "ACTIVE",
        "WORKING",
        "ON",
        "WAITING",
        "ON",
    ]
    assert lines[4].split() == ["closer", "demo-runner", "-", "ended", "no", "-", "-"]
    job_line = next(line for line in lines if line.startswith(f"  {short_job_id(job_id)}"))
    assert job_line.split()[:6] == [
        short_job_id(job_id),
        "(answer)",
        "requested",
        "by",
        "coordinator",
        "completed",
    ]
    assert any(line.split() == ["writer", "completed", "0", "7"] for line in lines)
