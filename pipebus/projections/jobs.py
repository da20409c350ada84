"""Jobs and job groups as a pure fold: ``apply(state, envelope) -> state``.

For each job id: who asked, which workers, what each one did (updates, stream chunks,
its answer) and how the job ended. A job ends when the requester records its verdict
(``BusJobGroupFinishedMessage``), or, seen from a runner that only hosts the
workers, when every worker has answered.

The state's values live in :mod:`pipebus.projections.job_state` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from immutables import Map

from pipebus.core.envelope import Envelope
from pipebus.core.messages import (
    BusJobCancelMessage,
    BusJobGroupFinishedMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobResponseUrgentMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobStreamStartMessage,
    BusJobUpdateMessage,
    BusJobUpdateRequestMessage,
    BusJobUpdateUrgentMessage,
)
from pipebus.core.types import JobStatus
from pipebus.projections.job_state import (
    FINISHED_JOBS_KEPT,
    RUNNING,
    JobsState,
    JobState,
    WorkerJob,
    with_chunk,
    with_status,
    with_workers,
)


def _store(state: JobsState, before: JobState | None, job: JobState, time_ns: int) -> JobsState:
    """Put ``job`` back: derive its end when no verdict was given; forget old jobs."""
    if not job.verdict:
        job = _derive_status(job, time_ns)
    jobs = state.jobs.set(job.job_id, job)
    if not job.finished or (before is not None and before.finished):
        return JobsState(jobs, state.finished, state.oldest, state.next)
    position = state.next
    finished = state.finished.set(position, job.job_id)
    oldest = state.oldest
    while position + 1 - oldest > FINISHED_JOBS_KEPT:
        old_id = finished[oldest]
        finished = finished.delete(oldest)
        oldest += 1
        old = jobs.get(old_id)
        if old is not None and old.finished:
            jobs = jobs.delete(old_id)
    return JobsState(jobs, finished, oldest, position + 1)


def _derive_status(job: JobState, time_ns: int) -> JobState:
    failure: WorkerJob | None = None
    for part in job.workers.values():
        if not part.finished:
            if job.status == RUNNING:
                return job
            return with_status(job, RUNNING, None, None)
        if failure is None and part.status != "completed":
            failure = part
    if failure is None:
        status, reason = "completed", None
    else:
        status = "cancelled" if failure.status == "cancelled" else "failed"
        reason = f"worker '{failure.worker}' answered {failure.status}"
    if job.status == status or not job.workers:
        return job
    return with_status(job, status, reason, time_ns)


def _change_worker(
    state: JobsState, envelope: Envelope, worker: str, change: Callable[[WorkerJob], WorkerJob]
) -> JobsState:
    """Apply ``change`` to ``worker``'s part of the envelope's job (a worker's message)."""
    message = envelope.message
    job_id: str = message.job_id  # type: ignore[attr-defined]
    before = state.jobs.get(job_id)
    job = before or JobState(job_id, message.target or "?", started_ns=envelope.time_ns)
    part = job.workers.get(worker) or WorkerJob(worker, requested_ns=envelope.time_ns)
    updated = with_workers(job, job.workers.set(worker, change(part)))
    return _store(state, before, updated, envelope.time_ns)


def _request(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, BusJobRequestMessage)
    worker = message.target or "?"
    part = WorkerJob(worker, requested_ns=envelope.time_ns)
    before = state.jobs.get(message.job_id)
    if before is None or not before.workers:
        job = JobState(
            message.job_id,
            message.source,
            message.job_name,
            message.payload,
            Map({worker: part}),
            started_ns=envelope.time_ns,
        )
    else:
        job = with_workers(before, before.workers.set(worker, part))
    return _store(state, before, job, envelope.time_ns)


def _update(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, (BusJobUpdateMessage, BusJobUpdateUrgentMessage))

    def change(part: WorkerJob) -> WorkerJob:
        return WorkerJob(
            part.worker,
            "working" if part.status == "requested" else part.status,
            part.updates + 1,
            part.chunks,
            part.update_requests,
            part.cancel_requested,
            part.requested_ns,
            part.finished_ns,
            message.update,
            part.response,
        )

    return _change_worker(state, envelope, message.source, change)


def _update_request(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, BusJobUpdateRequestMessage)
    job = state.jobs.get(message.job_id)
    part = job.workers.get(message.target or "?") if job is not None else None
    if job is None or part is None:
        return state
    part = part._replace(update_requests=part.update_requests + 1)
    updated = with_workers(job, job.workers.set(part.worker, part))
    return _store(state, job, updated, envelope.time_ns)


def _stream_start(state: JobsState, envelope: Envelope) -> JobsState:
    return _change_worker(
        state, envelope, envelope.message.source, lambda p: p._replace(status="streaming")
    )


def _stream_data(state: JobsState, envelope: Envelope) -> JobsState:
    return _change_worker(state, envelope, envelope.message.source, with_chunk)


def _stream_end(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, BusJobStreamEndMessage)
    return _answer(state, envelope, message.source, "completed", message.data)


def _response(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, (BusJobResponseMessage, BusJobResponseUrgentMessage))
    status = JobStatus(message.status).value
    return _answer(state, envelope, message.source, status, message.response)


def _answer(
    state: JobsState, envelope: Envelope, worker: str, status: str, response: dict[str, Any] | None
) -> JobsState:
    """A worker's answer: its part ends with ``status`` (the hottest path of the fold)."""
    job_id: str = envelope.message.job_id  # type: ignore[attr-defined]
    before = state.jobs.get(job_id)
    job = before or JobState(job_id, envelope.message.target or "?", started_ns=envelope.time_ns)
    part = job.workers.get(worker)
    if part is None:
        part = WorkerJob(worker, status, requested_ns=envelope.time_ns)
    answered = WorkerJob(
        worker,
        status,
        part.updates,
        part.chunks,
        part.update_requests,
        part.cancel_requested,
        part.requested_ns,
        envelope.time_ns,
        part.last_update,
        response,
    )
    return _store(
        state, before, with_workers(job, job.workers.set(worker, answered)), envelope.time_ns
    )


def _cancel(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, BusJobCancelMessage)
    job = state.jobs.get(message.job_id)
    if job is None:
        return state
    part = job.workers.get(message.target or "?")
    workers = (
        job.workers
        if part is None
        else job.workers.set(part.worker, part._replace(cancel_requested=True))
    )
    updated = job._replace(workers=workers, cancel_reason=message.reason)
    return _store(state, job, updated, envelope.time_ns)


def _finished(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, BusJobGroupFinishedMessage)
    before = state.jobs.get(message.job_id)
    job = before or JobState(message.job_id, message.source, started_ns=envelope.time_ns)
    updated = job._replace(
        status=message.status, reason=message.reason, finished_ns=envelope.time_ns, verdict=True
    )
    return _store(state, before, updated, envelope.time_ns)


_HANDLERS: dict[type, Callable[[JobsState, Envelope], JobsState]] = {
    BusJobRequestMessage: _request,
    BusJobUpdateMessage: _update,
    BusJobUpdateUrgentMessage: _update,
    BusJobUpdateRequestMessage: _update_request,
    BusJobStreamStartMessage: _stream_start,
    BusJobStreamDataMessage: _stream_data,
    BusJobStreamEndMessage: _stream_end,
    BusJobResponseMessage: _response,
    BusJobResponseUrgentMessage: _response,
    BusJobCancelMessage: _cancel,
    BusJobGroupFinishedMessage: _finished,
}


def apply(state: JobsState, envelope: Envelope) -> JobsState:
    """Fold one envelope into the jobs state (unchanged state for other messages)."""
    handler = _HANDLERS.get(type(envelope.message))
    if handler is None:
        return state
    return handler(state, envelope)


EMPTY = JobsState()
"""The jobs before any event."""

__all__ = ["EMPTY", "FINISHED_JOBS_KEPT", "RUNNING", "JobState", "JobsState", "WorkerJob", "apply"]
