"""``LiveJobs``: the jobs projection kept current from a bus, for the live runtime."""

from __future__ import annotations

from pipebus.core.envelope import Envelope
from pipebus.core.messages import JOB_MESSAGE_TYPES
from pipebus.projections import jobs as projection
from pipebus.projections.jobs import JobsState, JobState


class LiveJobs:
    """A bus tap that folds every job message into a :class:`JobsState`.

    The fold is :func:`pipebus.projections.jobs.apply`, the one a replay runs.
    """

    envelope_types = JOB_MESSAGE_TYPES

    def __init__(self) -> None:
        self._state: JobsState = projection.EMPTY

    @property
    def state(self) -> JobsState:
        """The jobs projection as of the last envelope."""
        return self._state

    def get(self, job_id: str) -> JobState | None:
        """The job with this id, if it is running or among the recently finished."""
        return self._state.jobs.get(job_id)

    def on_envelope(self, envelope: Envelope) -> None:
        """Fold one envelope (the bus calls this)."""
        self._state = projection.apply(self._state, envelope)
