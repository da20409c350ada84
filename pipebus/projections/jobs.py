"""Jobs and job groups as a pure fold: ``apply(state, envelope) -> state``.

For each job id: who asked, which workers, what each one did (updates, stream chunks,
its answer) and how the job ended. A job ends when the requester records its verdict
(``BusJobGroupFinishedMessage``), or, seen from a runner that only hosts the
workers, when every worker has answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    BusMessage,
)
from pipebus.types import JobStatus

RUNNING = "running"
"""Status of a job that has not ended."""

FINISHED_JOBS_KEPT = 1000
"""How many finished jobs the state remembers (oldest forgotten first)."""

_WORKER_TERMINAL = frozenset(status.value for status in JobStatus)


@dataclass(frozen=True, slots=True)
class WorkerJob:
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
        return self.status in _WORKER_TERMINAL

    @property
    def duration_ns(self) -> int | None:
        """Time from request to answer, once answered."""
        return None if self.finished_ns is None else self.finished_ns - self.requested_ns


@dataclass(frozen=True, slots=True)
class JobState:
    """One job (a single-worker job is a group of one).

    Attributes:
        job_id: The job id.
        requester: Who sent the requests.
        name: The job name (``@job`` routing), if any.
        payload: The request payload.
        workers: Each worker's part, by name, in request order.
        status: ``"running"``, then ``"completed"``, ``"failed"``, ``"cancelled"`` or
            ``"timeout"``.
        reason: Why it did not complete.
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
    workers: Map[str, WorkerJob] = field(default_factory=Map)
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


@dataclass(frozen=True, slots=True)
class JobsState:
    """Every job still running plus the last finished ones, by job id."""

    jobs: Map[str, JobState] = field(default_factory=Map)
    finished: tuple[str, ...] = ()

    def running(self) -> list[JobState]:
        """Jobs that have not ended, oldest first."""
        return sorted((j for j in self.jobs.values() if not j.finished), key=lambda j: j.started_ns)


def _job_of(state: JobsState, envelope: Envelope) -> JobState:
    message = envelope.message
    job_id: str = message.job_id  # type: ignore[attr-defined]
    job = state.jobs.get(job_id)
    if job is None:
        requester = message.target if _from_worker(message) else message.source
        job = JobState(job_id=job_id, requester=requester or "?", started_ns=envelope.time_ns)
    return job


def _from_worker(message: BusMessage) -> bool:
    return not isinstance(
        message, (BusJobRequestMessage, BusJobCancelMessage, BusJobUpdateRequestMessage)
    )


def _store(state: JobsState, job: JobState, envelope: Envelope) -> JobsState:
    """Put ``job`` back, deriving its end from its workers when no verdict was given."""
    if not job.verdict:
        job = _derive_status(job, envelope.time_ns)
    was_finished = job.job_id in state.finished
    finished = state.finished
    jobs = state.jobs.set(job.job_id, job)
    if job.finished and not was_finished:
        finished = (*finished, job.job_id)
        while len(finished) > FINISHED_JOBS_KEPT:
            jobs = jobs.delete(finished[0])
            finished = finished[1:]
    elif not job.finished and was_finished:
        finished = tuple(j for j in finished if j != job.job_id)
    return JobsState(jobs, finished)


def _derive_status(job: JobState, time_ns: int) -> JobState:
    workers = list(job.workers.values())
    if not workers or not all(w.finished for w in workers):
        if job.status == RUNNING:
            return job
        return _job_with(job, status=RUNNING, finished_ns=None, reason=None)
    failures = [w for w in workers if w.status != JobStatus.COMPLETED]
    if not failures:
        status, reason = "completed", None
    else:
        first = failures[0]
        status = "cancelled" if first.status == JobStatus.CANCELLED else "failed"
        reason = f"worker '{first.worker}' answered {first.status}"
    if job.status == status:
        return job
    return _job_with(job, status=status, reason=reason, finished_ns=time_ns)


def _job_with(job: JobState, **changes: object) -> JobState:
    values = {name: getattr(job, name) for name in JobState.__dataclass_fields__}
    values.update(changes)
    return JobState(**values)


def _worker_with(part: WorkerJob, **changes: object) -> WorkerJob:
    values = {name: getattr(part, name) for name in WorkerJob.__dataclass_fields__}
    values.update(changes)
    return WorkerJob(**values)


def _update_worker(
    state: JobsState,
    envelope: Envelope,
    worker: str,
    change: Callable[[WorkerJob], WorkerJob],
) -> JobsState:
    job = _job_of(state, envelope)
    part = job.workers.get(worker) or WorkerJob(worker=worker, requested_ns=envelope.time_ns)
    job = _job_with(job, workers=job.workers.set(worker, change(part)))
    return _store(state, job, envelope)


def _request(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, BusJobRequestMessage)
    job = _job_of(state, envelope)
    if not job.workers:
        job = _job_with(
            job,
            requester=message.source,
            name=message.job_name,
            payload=message.payload,
            started_ns=envelope.time_ns,
        )
    worker = message.target or "?"
    part = WorkerJob(worker=worker, requested_ns=envelope.time_ns)
    job = _job_with(job, workers=job.workers.set(worker, part))
    return _store(state, job, envelope)


def _update(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, (BusJobUpdateMessage, BusJobUpdateUrgentMessage))
    return _update_worker(
        state,
        envelope,
        message.source,
        lambda p: _worker_with(
            p,
            updates=p.updates + 1,
            last_update=message.update,
            status="working" if p.status == "requested" else p.status,
        ),
    )


def _update_request(state: JobsState, envelope: Envelope) -> JobsState:
    target = envelope.message.target or "?"
    return _update_worker(
        state, envelope, target, lambda p: _worker_with(p, update_requests=p.update_requests + 1)
    )


def _stream_start(state: JobsState, envelope: Envelope) -> JobsState:
    return _update_worker(
        state, envelope, envelope.message.source, lambda p: _worker_with(p, status="streaming")
    )


def _stream_data(state: JobsState, envelope: Envelope) -> JobsState:
    return _update_worker(
        state,
        envelope,
        envelope.message.source,
        lambda p: _worker_with(
            p, chunks=p.chunks + 1, status="streaming" if not p.finished else p.status
        ),
    )


def _stream_end(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, BusJobStreamEndMessage)
    return _update_worker(
        state,
        envelope,
        message.source,
        lambda p: _worker_with(
            p, status=JobStatus.COMPLETED.value, response=message.data, finished_ns=envelope.time_ns
        ),
    )


def _response(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, (BusJobResponseMessage, BusJobResponseUrgentMessage))
    return _update_worker(
        state,
        envelope,
        message.source,
        lambda p: _worker_with(
            p,
            status=JobStatus(message.status).value,
            response=message.response,
            finished_ns=envelope.time_ns,
        ),
    )


def _cancel(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, BusJobCancelMessage)
    job = _job_of(state, envelope)
    worker = message.target or "?"
    part = job.workers.get(worker)
    if part is not None:
        job = _job_with(
            job, workers=job.workers.set(worker, _worker_with(part, cancel_requested=True))
        )
    job = _job_with(job, cancel_reason=message.reason)
    return _store(state, job, envelope)


def _finished(state: JobsState, envelope: Envelope) -> JobsState:
    message = envelope.message
    assert isinstance(message, BusJobGroupFinishedMessage)
    job = _job_of(state, envelope)
    job = _job_with(
        job,
        status=message.status,
        reason=message.reason,
        finished_ns=envelope.time_ns,
        verdict=True,
    )
    return _store(state, job, envelope)


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
