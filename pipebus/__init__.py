"""pipebus: an event-sourced, observable worker bus for asyncio.

This entry point holds the names of Pipecat's worker bus (code ports by changing its
imports), the messages pipebus adds, and its errors. The rest of the public API has
entry points of its own: ``pipebus.observability`` (envelopes, taps, the event log,
replay, tracing), ``pipebus.transports`` (the network buses) and ``pipebus.testing``.
``RedisBus``, ``PgmqBus`` and its backends load on first use, so ``import pipebus``
does not import ``redis``.
"""

from typing import TYPE_CHECKING, Any

from pipebus._version import __version__
from pipebus.bus import (
    AsyncQueueBus,
    BusSubscriber,
    BusSubscription,
    TaskManager,
    TaskManagerParams,
    WorkerBus,
)
from pipebus.core.catalog import register_type
from pipebus.core.errors import (
    BusError,
    CodecError,
    DecodeError,
    DuplicateNameError,
    EncodeError,
    EventLogError,
    JobError,
    JobGroupError,
    MessageTooLargeError,
    PipebusError,
    SchemaVersionError,
    TransportError,
    WorkerError,
)
from pipebus.core.frames import Frame, FrameDirection
from pipebus.core.messages import (
    BusActivateWorkerMessage,
    BusAddWorkerMessage,
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusDataMessage,
    BusDeactivateWorkerMessage,
    BusDecodeErrorMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusFrameMessage,
    BusHandlerErrorMessage,
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
    BusLocalMessage,
    BusLoopBlockedMessage,
    BusMessage,
    BusRecordOnly,
    BusRunnerHeartbeatMessage,
    BusRunnerLeftMessage,
    BusSpansLostMessage,
    BusSystemMessage,
    BusTracingStartedMessage,
    BusTransportGapMessage,
    BusTTSSpeakMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerReadyMessage,
    BusWorkerRegistryMessage,
    BusWorkerStoppedMessage,
)
from pipebus.core.serializers import JSONMessageSerializer, MessageSerializer, TypeAdapter
from pipebus.core.types import (
    JobEvent,
    JobGroupEvent,
    JobGroupParams,
    JobGroupResponse,
    JobParams,
    JobStatus,
    WorkerActivationArgs,
    WorkerErrorData,
    WorkerParams,
    WorkerReadyData,
    WorkerRegistryEntry,
)
from pipebus.live.worker_registry import WorkerRegistry
from pipebus.workers.base import BaseWorker
from pipebus.workers.decorators import job, worker_ready
from pipebus.workers.job_group import JobContext, JobGroup, JobGroupContext
from pipebus.workers.runner import PipelineRunner, WorkerRunner

if TYPE_CHECKING:
    from pipebus.transports import PgmqBus, RedisBus
    from pipebus.transports.pgmq_backends import (
        BackendMessage,
        DirectPgmqBackend,
        IsolatedPgmqBackend,
        PgmqBackend,
    )

_LAZY = {
    "BackendMessage": "pipebus.transports.pgmq_backends",
    "DirectPgmqBackend": "pipebus.transports.pgmq_backends",
    "IsolatedPgmqBackend": "pipebus.transports.pgmq_backends",
    "PgmqBackend": "pipebus.transports.pgmq_backends",
    "PgmqBus": "pipebus.transports",
    "RedisBus": "pipebus.transports",
}
"""Names loaded on first use, from ``pipebus.transports`` (which imports redis)."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'pipebus' has no attribute {name!r}")


__all__ = [
    "AsyncQueueBus",
    "BackendMessage",
    "BaseWorker",
    "BusActivateWorkerMessage",
    "BusAddWorkerMessage",
    "BusCancelMessage",
    "BusCancelWorkerMessage",
    "BusDataMessage",
    "BusDeactivateWorkerMessage",
    "BusDecodeErrorMessage",
    "BusEndMessage",
    "BusEndWorkerMessage",
    "BusError",
    "BusFrameMessage",
    "BusHandlerErrorMessage",
    "BusJobCancelMessage",
    "BusJobGroupFinishedMessage",
    "BusJobRequestMessage",
    "BusJobResponseMessage",
    "BusJobResponseUrgentMessage",
    "BusJobStreamDataMessage",
    "BusJobStreamEndMessage",
    "BusJobStreamStartMessage",
    "BusJobUpdateMessage",
    "BusJobUpdateRequestMessage",
    "BusJobUpdateUrgentMessage",
    "BusLocalMessage",
    "BusLoopBlockedMessage",
    "BusMessage",
    "BusRecordOnly",
    "BusRunnerHeartbeatMessage",
    "BusRunnerLeftMessage",
    "BusSpansLostMessage",
    "BusSubscriber",
    "BusSubscription",
    "BusSystemMessage",
    "BusTTSSpeakMessage",
    "BusTracingStartedMessage",
    "BusTransportGapMessage",
    "BusWorkerErrorMessage",
    "BusWorkerLocalErrorMessage",
    "BusWorkerReadyMessage",
    "BusWorkerRegistryMessage",
    "BusWorkerStoppedMessage",
    "CodecError",
    "DecodeError",
    "DirectPgmqBackend",
    "DuplicateNameError",
    "EncodeError",
    "EventLogError",
    "Frame",
    "FrameDirection",
    "IsolatedPgmqBackend",
    "JSONMessageSerializer",
    "JobContext",
    "JobError",
    "JobEvent",
    "JobGroup",
    "JobGroupContext",
    "JobGroupError",
    "JobGroupEvent",
    "JobGroupParams",
    "JobGroupResponse",
    "JobParams",
    "JobStatus",
    "MessageSerializer",
    "MessageTooLargeError",
    "PgmqBackend",
    "PgmqBus",
    "PipebusError",
    "PipelineRunner",
    "RedisBus",
    "SchemaVersionError",
    "TaskManager",
    "TaskManagerParams",
    "TransportError",
    "TypeAdapter",
    "WorkerActivationArgs",
    "WorkerBus",
    "WorkerError",
    "WorkerErrorData",
    "WorkerParams",
    "WorkerReadyData",
    "WorkerRegistry",
    "WorkerRegistryEntry",
    "WorkerRunner",
    "__version__",
    "job",
    "register_type",
    "worker_ready",
]
