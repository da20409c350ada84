"""Every message type the bus carries: Pipecat's types, with their fields and priorities.

A message is a dataclass. Its priority class is its base: :class:`BusDataMessage`
(normal priority, FIFO) or :class:`BusSystemMessage` (delivered ahead of queued data).
:class:`BusLocalMessage` marks a message that never leaves its runner.

pipebus adds types of its own, at the end of this module:
``BusWorkerStoppedMessage`` (a worker stopped; registries forget it) and
record-only events that are written to the event log but never delivered:
``BusHandlerErrorMessage``, ``BusJobGroupFinishedMessage``, ``BusLoopBlockedMessage``
and live tracing's ``BusTracingStartedMessage`` and ``BusSpansLostMessage``. Runners
on a network transport (Redis) also exchange heartbeats and goodbyes, and record what
their transport could not decode and when it was cut off.

Every subclass registers with the codec's catalog when it is defined, under its class
name or the ``wire_name`` it gives (``class Hello(BusDataMessage, wire_name="app.Hello")``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from pipebus.core.catalog import CATALOG
from pipebus.core.frames import Frame, FrameDirection
from pipebus.core.types import JobStatus, WorkerRegistryEntry


class WorkerHandle(ABC):
    """A worker as a message may carry it: an object with a unique name.

    ``BaseWorker`` is one. The domain names this small base instead of the worker
    class, which lives layers above it; the codec records a handle by its name.
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """The worker's unique name."""


@dataclass(kw_only=True)
class BusMessage:
    """Base of every message carried by a ``WorkerBus``.

    Attributes:
        source: Name of the worker or component that sent the message.
        target: Name of the recipient, or None for a broadcast.
    """

    _pipebus_message: ClassVar[bool] = True

    source: str
    target: str | None = None

    def __init_subclass__(
        cls, *, wire_name: str | None = None, aliases: tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        CATALOG.register(cls, wire_name=wire_name, aliases=aliases, kind="message")

    def __str__(self) -> str:
        return f"{type(self).__name__} (source={self.source}, target={self.target})"


class BusLocalMessage:
    """Mixin: the message stays on its runner's bus, never forwarded to remote buses."""


class BusRecordOnly(BusLocalMessage):
    """Mixin (pipebus): an event for the event log and taps, never delivered to subscribers."""


@dataclass(kw_only=True)
class BusDataMessage(BusMessage):
    """Normal-priority message, delivered in FIFO order."""


@dataclass(kw_only=True)
class BusSystemMessage(BusMessage):
    """High-priority message, delivered ahead of any queued data message."""


# --- frame transport --------------------------------------------------------------


@dataclass
class BusFrameMessage(BusDataMessage):
    """Carries a frame to another worker's pipeline.

    Attributes:
        frame: The frame.
        direction: Which way the frame travels in the recipient's pipeline.
        bridge: Bridge name, for routing in multi-bridge setups.
    """

    frame: Frame
    direction: FrameDirection
    bridge: str | None = None


@dataclass
class BusTTSSpeakMessage(BusDataMessage):
    """Asks a pipeline worker to speak ``text`` through its TTS service."""

    text: str
    append_to_context: bool | None = None


# --- worker lifecycle -------------------------------------------------------------


@dataclass
class BusActivateWorkerMessage(BusDataMessage):
    """Tells the target worker to become active; ``args`` reach its ``on_activated``."""

    args: dict[str, Any] | None = None


@dataclass
class BusDeactivateWorkerMessage(BusDataMessage):
    """Tells the target worker to become inactive."""


@dataclass
class BusEndMessage(BusDataMessage):
    """Asks the runner to end the session gracefully."""

    reason: str | None = None


@dataclass
class BusEndWorkerMessage(BusDataMessage):
    """Tells the target worker to end gracefully (sent by the runner or a parent)."""

    reason: str | None = None


@dataclass
class BusCancelMessage(BusSystemMessage):
    """Asks the runner to cancel the session now."""

    reason: str | None = None


@dataclass
class BusCancelWorkerMessage(BusSystemMessage):
    """Tells the target worker to cancel (sent by the runner or a parent)."""

    reason: str | None = None


# --- registry and errors ----------------------------------------------------------


@dataclass
class BusAddWorkerMessage(BusSystemMessage, BusLocalMessage):
    """Asks the local runner to add and start ``worker`` (local-only: it holds an object)."""

    worker: WorkerHandle


@dataclass
class BusWorkerRegistryMessage(BusSystemMessage):
    """A runner's snapshot of its workers, so runners on a shared bus learn each other's."""

    runner: str
    workers: list[WorkerRegistryEntry]


@dataclass
class BusWorkerReadyMessage(BusDataMessage):
    """Announces that a worker (root or child) is ready.

    Attributes:
        runner: The runner managing the worker.
        parent: The parent worker, or None for a root worker.
        active: Whether the worker started active.
        bridged: Whether the worker receives pipeline frames from the bus.
        started_at: Unix time at which the worker became ready.
    """

    runner: str
    parent: str | None = None
    active: bool = False
    bridged: bool = False
    started_at: float | None = None


@dataclass
class BusWorkerErrorMessage(BusSystemMessage):
    """An error reported by a root worker, sent over the network."""

    error: str


@dataclass
class BusWorkerLocalErrorMessage(BusSystemMessage, BusLocalMessage):
    """An error reported by a child worker to its parent (local-only)."""

    error: str


# --- jobs ---------------------------------------------------------------------------


@dataclass
class BusJobRequestMessage(BusDataMessage):
    """Asks the target worker to do a job.

    Attributes:
        job_id: Identifies the job (shared by every worker of a job group).
        job_name: Routes to the worker's ``@job(name=...)`` handler.
        payload: Structured data describing the work.
    """

    job_id: str
    job_name: str | None = None
    payload: dict[str, Any] | None = None


@dataclass
class BusJobResponseMessage(BusDataMessage):
    """A worker's answer when its job is over."""

    job_id: str
    status: JobStatus
    response: dict[str, Any] | None = None


@dataclass
class BusJobResponseUrgentMessage(BusSystemMessage):
    """A job answer with system priority.

    It still never overtakes the same job's earlier updates or stream chunks at
    the requester: the bus keeps one job's messages in send order.
    """

    job_id: str
    status: JobStatus
    response: dict[str, Any] | None = None


@dataclass
class BusJobUpdateMessage(BusDataMessage):
    """Progress from a worker on a job."""

    job_id: str
    update: dict[str, Any] | None = None


@dataclass
class BusJobUpdateUrgentMessage(BusSystemMessage):
    """Progress with system priority (kept in order with the job's other messages)."""

    job_id: str
    update: dict[str, Any] | None = None


@dataclass
class BusJobUpdateRequestMessage(BusDataMessage):
    """The requester asks a worker for a progress update."""

    job_id: str


@dataclass
class BusJobCancelMessage(BusSystemMessage):
    """The requester cancels a running job."""

    job_id: str
    reason: str | None = None


@dataclass
class BusJobStreamStartMessage(BusDataMessage):
    """A worker starts streaming its result; ``data`` may describe the stream."""

    job_id: str
    data: dict[str, Any] | None = None


@dataclass
class BusJobStreamDataMessage(BusDataMessage):
    """One chunk of a streamed result."""

    job_id: str
    data: dict[str, Any] | None = None


@dataclass
class BusJobStreamEndMessage(BusDataMessage):
    """A worker ends its stream; this also completes its part of the job."""

    job_id: str
    data: dict[str, Any] | None = None


# --- pipebus additions --------------------------------------------------------------


@dataclass
class BusWorkerStoppedMessage(BusDataMessage):
    """(pipebus) A worker stopped; registries forget it and its pending jobs fail fast.

    A data message on purpose: it stays behind the worker's earlier answers, so a
    requester sees a job's response before it learns that the worker is gone.

    Attributes:
        runner: The runner that managed the worker.
        status: ``"ended"``, ``"cancelled"``, ``"failed"``, ``"stopped"`` or, when a
            runner vanished, ``"lost"``.
        reason: Why, when known.
    """

    runner: str
    status: str = "stopped"
    reason: str | None = None


@dataclass
class BusHandlerErrorMessage(BusSystemMessage, BusRecordOnly):
    """(pipebus, record-only) A handler raised; ``source`` is the subscriber.

    Attributes:
        message_id: Id of the message being handled, if the handler was a delivery.
        handler: What raised: ``"on_bus_message"``, ``"job:<name>"``,
            ``"event:<event name>"``, ``"watch:<worker>"``, ``"run"``.
        error_type: The exception's class name.
        error: ``str()`` of the exception.
        traceback: The formatted traceback.
        duration_ns: How long the handler ran before raising.
    """

    message_id: str | None
    handler: str
    error_type: str
    error: str
    traceback: str = ""
    duration_ns: int = 0


@dataclass
class BusJobGroupFinishedMessage(BusSystemMessage, BusRecordOnly):
    """(pipebus, record-only) The requester's verdict on a job group.

    Attributes:
        job_id: The group's job id.
        status: ``"completed"``, ``"failed"``, ``"cancelled"`` or ``"timeout"``.
        reason: Why it did not complete, when it did not.
    """

    job_id: str
    status: str
    reason: str | None = None


@dataclass
class BusLoopBlockedMessage(BusSystemMessage, BusRecordOnly):
    """(pipebus, record-only) The event loop was blocked: nothing else ran meanwhile.

    A runner's loop watchdog records it when a timer runs ``blocked_ms`` late (see
    ``WorkerRunner(loop_blocked_ms=...)``); ``source`` is the subscriber whose handler
    was running, else the runner. Its cause is the message being handled, if any.

    Attributes:
        blocked_ms: How long the loop ran nothing else, in milliseconds.
        threshold_ms: The watchdog's threshold when it was recorded.
        handler: The code that was running: the subscriber's handler
            (``"Worker.on_bus_message"``) or the outermost function of the task.
        message_id: Id of the message being handled, if the loop was in a delivery.
        blocked_in: The innermost line running (``file:line in function``).
        traceback: The loop thread's stack while it was blocked (empty if unknown).
    """

    blocked_ms: float
    threshold_ms: float
    handler: str | None = None
    message_id: str | None = None
    blocked_in: str | None = None
    traceback: str = ""


@dataclass
class BusTracingStartedMessage(BusSystemMessage, BusRecordOnly):
    """(pipebus, record-only) A runner traces this session live; ``source`` is the runner.

    An export of the session gives the spans this runner reported the same resource
    (``service.name`` and the rest) as live tracing did.

    Attributes:
        resource: The tracer provider's resource attributes.
    """

    resource: dict[str, Any]


@dataclass
class BusSpansLostMessage(BusSystemMessage, BusRecordOnly):
    """(pipebus, record-only) Spans live tracing could not deliver; ``source`` is the runner.

    Recorded when the span processors drop spans or fail to export them (the collector
    down): ``pipebus export --only-lost`` rebuilds these spans from the session, with
    the same ids, and sends them later.

    Attributes:
        span_ids: The lost spans' ids, 16 hex digits each.
        reason: Why they were lost ("the export queue was full", ...).
    """

    span_ids: list[str]
    reason: str


JOB_MESSAGE_TYPES: tuple[type[BusMessage], ...] = (
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobResponseUrgentMessage,
    BusJobUpdateMessage,
    BusJobUpdateUrgentMessage,
    BusJobUpdateRequestMessage,
    BusJobCancelMessage,
    BusJobStreamStartMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobGroupFinishedMessage,
)
"""The message types that belong to a job (they carry ``job_id``)."""


# The network transports' own messages live in pipebus.core.network_messages; importing them
# here keeps ``pipebus.core.messages`` the one place that names every type.
from pipebus.core.network_messages import BusDecodeErrorMessage as BusDecodeErrorMessage  # noqa: E402
from pipebus.core.network_messages import BusRunnerHeartbeatMessage as BusRunnerHeartbeatMessage  # noqa: E402
from pipebus.core.network_messages import BusRunnerLeftMessage as BusRunnerLeftMessage  # noqa: E402
from pipebus.core.network_messages import BusTransportGapMessage as BusTransportGapMessage  # noqa: E402
