"""Views derived from a session state: what each worker is doing, and what changed.

Pure functions over :class:`~pipebus.projections.SessionState`, used by the replay and
the inspector to show the state at a step and what that step changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pipebus.projections import SessionState
from pipebus.projections.jobs import JobState
from pipebus.projections.registry import WorkerInfo

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WorkerActivity:
    """What one worker is doing at a point of the session.

    Attributes:
        worker: The registry's record of the worker.
        working_on: Jobs it was asked to do and has not answered, by job id.
        waiting_on: Jobs it requested that have not ended, by job id.
    """

    worker: WorkerInfo
    working_on: tuple[str, ...] = ()
    waiting_on: tuple[str, ...] = ()

    @property
    def busy(self) -> bool:
        """Whether it has a job to answer."""
        return bool(self.working_on)


def activity(state: SessionState) -> dict[str, WorkerActivity]:
    """Each known worker's activity, by name."""
    working: dict[str, list[str]] = {}
    waiting: dict[str, list[str]] = {}
    for job in state.jobs.jobs.values():
        if job.finished:
            continue
        waiting.setdefault(job.requester, []).append(job.job_id)
        for part in job.workers.values():
            if not part.finished:
                working.setdefault(part.worker, []).append(job.job_id)
    return {
        name: WorkerActivity(info, tuple(working.get(name, ())), tuple(waiting.get(name, ())))
        for name, info in state.registry.workers.items()
    }


@dataclass(frozen=True, slots=True)
class Change(Generic[T]):
    """One thing before and after; None on a side means it did not exist there."""

    before: T | None
    after: T | None

    @property
    def kind(self) -> str:
        """``"added"``, ``"removed"`` or ``"changed"``."""
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed"


@dataclass(frozen=True, slots=True)
class StateChanges:
    """What differs between two states of a session.

    Attributes:
        workers: Workers added, removed or changed, by name.
        jobs: Jobs added, removed (forgotten) or changed, by id.
    """

    workers: dict[str, Change[WorkerInfo]] = field(default_factory=dict)
    jobs: dict[str, Change[JobState]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.workers or self.jobs)


def changes(before: SessionState, after: SessionState) -> StateChanges:
    """What changed from ``before`` to ``after``."""
    return StateChanges(
        _diff(before.registry.workers, after.registry.workers),
        _diff(before.jobs.jobs, after.jobs.jobs),
    )


def _diff(before: Mapping[str, T], after: Mapping[str, T]) -> dict[str, Change[T]]:
    if before is after:
        return {}
    found: dict[str, Change[T]] = {}
    for key, value in after.items():
        old = before.get(key)
        if old is None or old != value:
            found[key] = Change(old, value)
    for key, value in before.items():
        if key not in after:
            found[key] = Change(value, None)
    return found
