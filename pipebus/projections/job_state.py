"""The jobs projection's state: each job, each worker's part, and the jobs kept.

State values are ``NamedTuple``s rather than frozen dataclasses: equally immutable,
and several times cheaper to build, which matters because the fold builds a few per
event. The ``with_*`` functions build changed copies directly, for the fold's most
frequent steps (``NamedTuple._replace`` is slower than building the tuple).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from immutables import Map

from pipebus.core.types import JobStatus

RUNNING = "running"
"""Status of a job that has not ended."""

FINISHED_JOBS_KEPT = 200
"""How many finished jobs the state remembers (oldest forgotten first)."""

ANSWERED = frozenset(status.value for status in JobStatus)
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
        return self.status in ANSWERED

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


def with_workers(job: JobState, workers: Map[str, WorkerJob]) -> JobState:
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


def with_status(
    job: JobState, status: str, reason: str | None, finished_ns: int | None
) -> JobState:
    """``job`` with its derived end (or no end), built directly like :func:`with_workers`."""
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


def with_chunk(part: WorkerJob) -> WorkerJob:
    """One more stream chunk (``streaming`` unless it already answered), built directly."""
    return WorkerJob(
        part.worker,
        part.status if part.status in ANSWERED else "streaming",
        part.updates,
        part.chunks + 1,
        part.update_requests,
        part.cancel_requested,
        part.requested_ns,
        part.finished_ns,
        part.last_update,
        part.response,
    )
