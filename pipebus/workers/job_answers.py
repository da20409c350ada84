"""The requester side of jobs, continued: the answers, updates and streams that come back.

Every event of a group reaches its ``async for`` in send order, and the group ends
when every worker has answered, when an answer is an error (with
``cancel_on_error``), or when a worker it waits on stops.
"""

from __future__ import annotations

from typing import Any

from pipebus.core.messages import (
    BusJobResponseMessage,
    BusJobResponseUrgentMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobStreamStartMessage,
    BusJobUpdateMessage,
    BusJobUpdateUrgentMessage,
    BusWorkerStoppedMessage,
)
from pipebus.core.types import JobGroupEvent, JobGroupResponse, JobStatus
from pipebus.workers.event_source import default_hook
from pipebus.workers.job_group import JobGroup
from pipebus.workers.job_requests import JobRequestsMixin


class JobAnswersMixin(JobRequestsMixin):
    """Handle what workers send back about the jobs this worker requested."""

    async def _handle_job_response(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None:
        group = self._job_groups.get(message.job_id)
        status = JobStatus(message.status)
        if group is not None:
            group.terminated.add(message.source)
            group.statuses[message.source] = status
        await self._hook("on_job_response", message)
        self._fire_event("on_job_response", message)
        if group is None or group.is_done:
            return
        if status is not JobStatus.COMPLETED and group.cancel_on_error:
            group.responses[message.source] = message.response or {}
            await self._hook("on_job_error", message)
            self._fire_event("on_job_error", message)
            if status is JobStatus.CANCELLED:
                reason, verdict = f"worker '{message.source}' answered cancelled", "cancelled"
            else:  # Pipecat's text; the worker's own error is in the group's responses
                reason, verdict = f"worker '{message.source}' errored", "failed"
            await self._end_group(group, verdict, reason, worker=message.source)
            return
        await self._track_answer(group, message.source, message.response)

    async def _handle_job_stream_end(self, message: BusJobStreamEndMessage) -> None:
        group = self._job_groups.get(message.job_id)
        if group is not None:
            group.terminated.add(message.source)
            group.statuses[message.source] = JobStatus.COMPLETED
        await self._hook("on_job_stream_end", message)
        self._fire_event("on_job_stream_end", message)
        if group is not None:
            group.push_event(JobGroupEvent(JobGroupEvent.STREAM_END, message.source, message.data))
            await self._track_answer(group, message.source, message.data)

    async def _track_answer(
        self, group: JobGroup, worker: str, response: dict[str, Any] | None
    ) -> None:
        group.responses[worker] = response or {}
        if group.is_done or not group.terminated.issuperset(group.worker_names):
            return
        self._job_groups.pop(group.job_id, None)
        result = JobGroupResponse(job_id=group.job_id, responses=group.responses)
        failed = [w for w in group.worker_names if group.statuses.get(w) is not JobStatus.COMPLETED]
        if failed:  # otherwise the answers already say "completed": nothing to add
            self._record_verdict(group, "completed", f"not completed by: {', '.join(failed)}")
        # As in Pipecat, the hook and the event handlers come before the group is done,
        # so they have run (the handlers have started) when `job_group()` exits.
        await self._hook("on_job_completed", result)
        self._fire_event("on_job_completed", result)
        group.complete()

    async def _handle_job_update(
        self, message: BusJobUpdateMessage | BusJobUpdateUrgentMessage
    ) -> None:
        await self._hook("on_job_update", message)
        self._fire_event("on_job_update", message)
        self._push(
            message.job_id, JobGroupEvent(JobGroupEvent.UPDATE, message.source, message.update)
        )

    async def _handle_job_stream_start(self, message: BusJobStreamStartMessage) -> None:
        await self._hook("on_job_stream_start", message)
        self._fire_event("on_job_stream_start", message)
        self._push(
            message.job_id, JobGroupEvent(JobGroupEvent.STREAM_START, message.source, message.data)
        )

    async def _handle_job_stream_data(self, message: BusJobStreamDataMessage) -> None:
        await self._hook("on_job_stream_data", message)
        self._fire_event("on_job_stream_data", message)
        self._push(
            message.job_id, JobGroupEvent(JobGroupEvent.STREAM_DATA, message.source, message.data)
        )

    def _push(self, job_id: str, event: JobGroupEvent) -> None:
        group = self._job_groups.get(job_id)
        if group is not None:
            group.push_event(event)

    async def _handle_worker_stopped(self, message: BusWorkerStoppedMessage) -> None:
        """A worker stopped: the groups still waiting on it cannot complete as asked."""
        reason = f"worker '{message.source}' stopped ({message.status}) before answering"
        for group in list(self._job_groups.values()):
            if message.source not in group.worker_names or message.source in group.terminated:
                continue
            if group.cancel_on_error:
                await self._end_group(group, "failed", reason, worker=message.source)
            else:
                group.terminated.add(message.source)
                group.statuses[message.source] = JobStatus.CANCELLED
                await self._track_answer(group, message.source, {"error": reason})

    # --- hooks -------------------------------------------------------------------------

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
