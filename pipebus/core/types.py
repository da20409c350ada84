"""Plain value types of the public API: job status and parameters, events, registry data.

These are Pipecat's types, kept with their names and fields. They hold
no behaviour beyond small conversions, so the pure core can use them freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pipebus.core.catalog import register_type

if TYPE_CHECKING:
    import asyncio


@register_type
class JobStatus(StrEnum):
    """How a worker finished a job.

    A ``str`` so values compare with plain strings and serialise as themselves.
    """

    COMPLETED = "completed"
    """The worker finished successfully."""
    CANCELLED = "cancelled"
    """The job was cancelled (by the requester, a timeout, or the worker stopping)."""
    FAILED = "failed"
    """The worker failed for a logical or business reason."""
    ERROR = "error"
    """The worker hit an unexpected runtime error."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobParams:
    """How to run a job sent to one worker.

    Attributes:
        name: Routes the request to the worker's ``@job(name=...)`` handler.
        payload: Structured data describing the work.
        timeout: Seconds for the whole job: waiting for the worker to be ready and
            the work itself, counted once.
        label: A human-readable description of the work, shown by tools.
        cancellable: Whether an outside requester may cancel it.
    """

    name: str | None = None
    payload: dict[str, Any] | None = None
    timeout: float | None = None
    label: str | None = None
    cancellable: bool = True


_JOB_PARAMS_FIELDS = tuple(f.name for f in fields(JobParams))
"""Looked up once: ``dataclasses.fields`` is too slow to call on every single-worker job."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobGroupParams(JobParams):
    """How to run a job sent to several workers at once.

    Attributes:
        cancel_on_error: Whether one worker answering ERROR, FAILED or CANCELLED
            cancels the rest of the group.
    """

    cancel_on_error: bool = True

    @classmethod
    def from_job_params(cls, params: JobParams) -> JobGroupParams:
        """The group parameters for a single-worker job: its error always cancels."""
        return cls(**{name: getattr(params, name) for name in _JOB_PARAMS_FIELDS})


@dataclass
class JobGroupResponse:
    """Collected results of a completed job group.

    Attributes:
        job_id: The shared job identifier.
        responses: Each worker's response, keyed by worker name.
    """

    job_id: str
    responses: dict[str, dict[str, Any]]


@dataclass
class JobEvent:
    """An update or stream event from the worker of a single-worker job."""

    UPDATE: ClassVar[str] = "update"
    STREAM_START: ClassVar[str] = "stream_start"
    STREAM_DATA: ClassVar[str] = "stream_data"
    STREAM_END: ClassVar[str] = "stream_end"

    type: str
    data: dict[str, Any] | None = None


@dataclass
class JobGroupEvent:
    """An update or stream event from one worker of a job group."""

    UPDATE: ClassVar[str] = "update"
    STREAM_START: ClassVar[str] = "stream_start"
    STREAM_DATA: ClassVar[str] = "stream_data"
    STREAM_END: ClassVar[str] = "stream_end"

    type: str
    worker_name: str
    data: dict[str, Any] | None = None


@register_type
@dataclass
class WorkerRegistryEntry:
    """One worker in a runner's registry snapshot (``BusWorkerRegistryMessage``)."""

    name: str
    parent: str | None = None
    active: bool = False
    bridged: bool = False
    started_at: float | None = None


@dataclass(frozen=True)
class NotRecorded:
    """What a replay holds for a field the event log could not store.

    A value the codec cannot write (a string with a lone surrogate in an error's text,
    say) costs only that field: the event is recorded with its other fields, and this
    stands in for the missing one, so replays and projections go on past the event.
    """

    reason: str

    def __str__(self) -> str:
        return f"<not recorded: {self.reason}>"


register_type(NotRecorded, wire_name="pipebus.NotRecorded")


@dataclass
class WorkerReadyData:
    """A registered worker: its name and the runner that manages it."""

    worker_name: str
    runner: str


@dataclass
class WorkerErrorData:
    """An error reported by a worker."""

    worker_name: str
    error: str


@dataclass
class WorkerActivationArgs:
    """Arguments passed to a worker when it is activated.

    Subclass it to add fields; :meth:`to_dict` and :meth:`from_dict` carry them.
    """

    metadata: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build from a dict, ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, without those that are None."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


@dataclass
class WorkerParams:
    """What a runner hands a worker's ``run()``.

    Attributes:
        loop: The event loop the worker runs on (the running loop when omitted).
    """

    loop: asyncio.AbstractEventLoop | None = field(default=None)
