"""Pure folds over the event stream: the worker registry and the jobs, together.

``apply(state, envelope) -> state`` is the one function the live runtime and the
offline replay both run; :func:`fold` applies it to many envelopes.

May import: pipebus.core.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from pipebus.core.envelope import Envelope
from pipebus.projections import jobs, registry
from pipebus.projections.jobs import JobsState, JobState, WorkerJob
from pipebus.projections.registry import RegistryState, WorkerInfo


class SessionState(NamedTuple):
    """The state of a session after some number of events.

    Attributes:
        registry: Every known worker.
        jobs: Running and recently finished jobs.
        events: How many envelopes have been folded in.
    """

    registry: RegistryState = registry.EMPTY
    jobs: JobsState = jobs.EMPTY
    events: int = 0


def apply(state: SessionState, envelope: Envelope) -> SessionState:
    """Fold one envelope into the session state."""
    return SessionState(
        registry.apply(state.registry, envelope),
        jobs.apply(state.jobs, envelope),
        state.events + 1,
    )


def fold(envelopes: Iterable[Envelope], state: SessionState | None = None) -> SessionState:
    """Fold many envelopes, in order, starting from ``state`` (default: empty)."""
    current = state if state is not None else EMPTY
    registry_state, jobs_state, count = current.registry, current.jobs, current.events
    for envelope in envelopes:
        registry_state = registry.apply(registry_state, envelope)
        jobs_state = jobs.apply(jobs_state, envelope)
        count += 1
    return SessionState(registry_state, jobs_state, count)


EMPTY = SessionState()
"""The state before the first event."""

__all__ = [
    "EMPTY",
    "JobState",
    "JobsState",
    "RegistryState",
    "SessionState",
    "WorkerInfo",
    "WorkerJob",
    "apply",
    "fold",
]
