"""The overridable hooks of a worker: pipebus's empty defaults, which a subclass replaces.

The worker's parts call a hook by name through the worker (``EventPort.hook``), and
only when the worker's class overrides it: a hook left as defined here costs nothing.
"""

from __future__ import annotations

from typing import Any

from pipebus.core.messages import (
    BusJobCancelMessage,
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
from pipebus.core.types import JobGroupResponse, WorkerErrorData, WorkerReadyData
from pipebus.workers.event_source import default_hook


class WorkerHooks:
    """The ``on_*`` methods a worker subclass may override; none needs ``super()``."""

    # --- lifecycle ----------------------------------------------------------------------

    @default_hook
    async def on_worker_ready(self, data: WorkerReadyData) -> None:
        """Called when a watched worker (children are watched by default) is ready."""

    @default_hook
    async def on_worker_failed(self, data: WorkerErrorData) -> None:
        """Called when a child worker reports an error."""

    # --- activation ---------------------------------------------------------------------

    @default_hook
    async def on_activated(self, args: dict[str, Any] | None) -> None:
        """Called when this worker is activated, with the activation's arguments."""

    @default_hook
    async def on_deactivated(self) -> None:
        """Called when this worker is deactivated."""

    # --- the jobs this worker handles ---------------------------------------------------

    @default_hook
    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        """Called for a job request no ``@job`` handler claims; override to do the work.

        Answer with :meth:`send_job_response` (or finish a stream with
        :meth:`send_job_stream_end`). If this raises, the requester gets an ERROR
        answer carrying the error text.
        """

    @default_hook
    async def on_job_update_requested(self, message: BusJobUpdateRequestMessage) -> None:
        """Called when the requester asks for progress; answer with :meth:`send_job_update`."""

    @default_hook
    async def on_job_cancelled(self, message: BusJobCancelMessage) -> None:
        """Called when the requester cancels one of this worker's jobs (its task is cancelled)."""

    # --- the jobs this worker requested -------------------------------------------------

    @default_hook
    async def on_job_response(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None:
        """Called for each worker's answer to a job this worker requested."""

    @default_hook
    async def on_job_update(self, message: BusJobUpdateMessage | BusJobUpdateUrgentMessage) -> None:
        """Called for each progress update from a worker."""

    @default_hook
    async def on_job_completed(self, result: JobGroupResponse) -> None:
        """Called when every worker of a group has answered."""

    @default_hook
    async def on_job_error(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None:
        """Called when a worker's ERROR, FAILED or CANCELLED answer cancels its group.

        ``on_job_completed`` will not fire for that group; answers that arrived before
        the error are in ``group.responses``.
        """

    @default_hook
    async def on_job_stream_start(self, message: BusJobStreamStartMessage) -> None:
        """Called when a worker starts streaming."""

    @default_hook
    async def on_job_stream_data(self, message: BusJobStreamDataMessage) -> None:
        """Called for each stream chunk."""

    @default_hook
    async def on_job_stream_end(self, message: BusJobStreamEndMessage) -> None:
        """Called when a worker ends its stream."""
