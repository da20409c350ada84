"""Jobs and job groups as a pure fold: ``apply(state, envelope) -> state``.

For each job id: who asked, which workers, what each one did (updates, stream chunks,
its answer) and how the job ended. A job ends when the requester records its verdict
(``BusJobGroupFinishedMessage``), or, seen from a runner that only hosts the
workers, when every worker has answered.

State values are ``NamedTuple``s rather than frozen dataclasses: equally immutable,
but built in 0.3 µs instead of 1.6 µs, and the fold builds a few per event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from immutables import Map

from pipebus.core.envelope import Envelope
from pipebus.messages import (
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
from pipebus.types import JobStatus

RUNNING = "running"
"""Status of a job that has not ended."""

FINISHED_JOBS_KEPT = 200
"""How many finished jobs the state remembers (oldest forgotten first)."""

_ANSWERED = frozenset(status.value for status in JobStatus)
_NO_WORKERS: Map[str, WorkerJob] = Map()


class WorkerJob(NamedTuple):
    """One worker's part in a job.

    Attributes:
        worker: The worker's name.
        status: ``"requested"``, ``"working"`` (it sent an update), ``"streaming"``, or
            its answer: ``"completed"``, ``"failed"``, ``"error"``, ``"cancelled"``.
        updates: Progress updates it sent.
        chunks: Stream chunks it sent.
        update_requests: Progress updates the requester asked it for.
        cancel_requested: Whether the requester cancelled its part.
        requested_ns: When the request was sent.
        finished_ns: When it answered.
        last_update: Its latest progress update.
        response: Its answer (or the data of its stream end).
    """

    worker: str
    status: str = "requested"
    updates: int = 0
    chunks: int = 0
    update_requests: int = 0
    cancel_requested: bool = False
    requested_ns: int = 0
    finished_ns: int | None = None
    last_update: dict[str, Any] | None = None
    response: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        """Whether the worker has answered."""
        return self.status in _ANSWERED

    @property
    def duration_ns(self) -> int | None:
        """Time from request to answer, once answered."""
        return None if self.finished_ns is None else self.finished_ns - self.requested_ns


class JobState(NamedTuple):
    """One job (a single-worker job is a group of one).

    Attributes:
        job_id: The job id.
        requester: Who sent the requests.
        name: The job name (``@job`` routing), if any.
        payload: The request payload.
        workers: Each worker's part, by name.
        status: ``"running"``, then ``"completed"``, ``"failed"``, ``"cancelled"`` or
            ``"timeout"``.
        reason: Why it did not complete (or, completed, which workers did not).
        cancel_reason: The reason given with the requester's cancel, if it cancelled.
        started_ns: When the first request was sent.
        finished_ns: When it ended.
        verdict: Whether ``status`` is the requester's recorded verdict (rather than
            derived from the workers' answers).
    """

    job_id: str
    requester: str
    name: str | None = None
    payload: dict[str, Any] | None = None
    workers: Map[str, WorkerJob] = _NO_WORKERS
    status: str = RUNNING
    reason: str | None = None
    cancel_reason: str | None = None
    started_ns: int = 0
    finished_ns: int | None = None
    verdict: bool = False

    @property
    def finished(self) -> bool:
        """Whether the job has ended."""
        return self.status != RUNNING

    @property
    def duration_ns(self) -> int | None:
        """Time from the first request to the end, once ended."""
        return None if self.finished_ns is None else self.finished_ns - self.started_ns


class JobsState(NamedTuple):
    """Every job still running plus the last finished ones, by job id.

    Attributes:
        jobs: The jobs, by id.
        finished: Ids of finished jobs by the order in which they finished; the
            oldest are forgotten first (one that reopened meanwhile is kept).
        oldest: The smallest position still in ``finished``.
        next: The position the next finished job takes.
    """

    jobs: Map[str, JobState] = Map()
    finished: Map[int, str] = Map()
    oldest: int = 0
    next: int = 0

    def running(self) -> list[JobState]:
        """Jobs that have not ended, oldest first."""
        return sorted((j for j in self.jobs.values() if not j.finished), key=lambda j: j.started_ns)


def _with_workers(job: JobState, workers: Map[str, WorkerJob]) -> JobState:
    """``job._replace(workers=workers)``, built directly: the fold's most frequent change.

    ``_replace`` goes through Python-level machinery that costs twice the tuple.
    """
    return JobState(
        job.job_id,
        job.requester,
        job.name,
        job.payload,
        workers,
        job.status,
        job.reason,
        job.cancel_reason,
        job.started_ns,
        job.finished_ns,
        job.verdict,
    )


def _with_status(
    job: JobState, status: str, reason: str | None, finished_ns: int | None
) -> JobState:
    """``job`` with its derived end (or no end), built directly like :func:`_with_workers`."""
    return JobState(
        job.job_id,
        job.requester,
        job.name,
        job.payload,
        job.workers,
        status,
        reason,
        job.cancel_reason,
        job.started_ns,
        finished_ns,
        job.verdict,
    )


def _with_chunk(part: WorkerJob) -> WorkerJob:
    """One more stream chunk (``streaming`` unless it already answered), built directly."""
    return WorkerJob(
        part.worker,
        part.status if part.status in _ANSWERED else "streaming",
        part.updates,
        part.chunks + 1,
        part.update_requests,
        part.cancel_requested,
        part.requested_ns,
        part.finished_ns,
        part.last_update,
        part.response,
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
            return _with_status(job, RUNNING, None, None)
        if failure is None and part.status != "completed":
            failure = part
    if failure is None:
        status, reason = "completed", None
    else:
        status = "cancelled" if failure.status == "cancelled" else "failed"
        reason = f"worker '{failure.worker}' answered {failure.status}"
    if job.status == status or not job.workers:
        return job
    return _with_status(job, status, reason, time_ns)


def _change_worker(
    state: JobsState, envelope: Envelope, worker: str, change: Callable[[WorkerJob], WorkerJob]
) -> JobsState:
    """Apply ``change`` to ``worker``'s part of the envelope's job (a worker's message)."""
    message = envelope.message
    job_id: str = message.job_id  # type: ignore[attr-defined]
    before = state.jobs.get(job_id)
    job = before or JobState(job_id, message.target or "?", started_ns=envelope.time_ns)
    part = job.workers.get(worker) or WorkerJob(worker, requested_ns=envelope.time_ns)
    updated = _with_workers(job, job.workers.set(worker, change(part)))
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
        job = _with_workers(before, before.workers.set(worker, part))
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
    updated = _with_workers(job, job.workers.set(part.worker, part))
    return _store(state, job, updated, envelope.time_ns)


def _stream_start(state: JobsState, envelope: Envelope) -> JobsState:
    return _change_worker(
        state, envelope, envelope.message.source, lambda p: p._replace(status="streaming")
    )


def _stream_data(state: JobsState, envelope: Envelope) -> JobsState:
    return _change_worker(state, envelope, envelope.message.source, _with_chunk)


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
        state, before, _with_workers(job, job.workers.set(worker, answered)), envelope.time_ns
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
