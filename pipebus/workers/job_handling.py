"""The worker side of jobs: run requests, answer, report progress, stream, be cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pipebus.core.errors import WorkerError
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
from pipebus.core.types import JobStatus
from pipebus.workers.core import WorkerCore
from pipebus.workers.decorators import collect_job_handlers
from pipebus.workers.event_source import default_hook

logger = logging.getLogger("pipebus.worker")

JobHandler = Callable[[BusJobRequestMessage], Awaitable[None]]


class JobHandlingMixin(WorkerCore):
    """Run the job requests this worker receives, each in its own task."""

    refuse_unhandled_jobs: bool

    def _init_job_handling(self) -> None:
        self._active_jobs: dict[str, BusJobRequestMessage] = {}
        self._job_handler_tasks: dict[str, asyncio.Task[None]] = {}
        self._job_handlers = collect_job_handlers(self)
        self._job_locks: dict[str, asyncio.Lock] = {}
        for event in ("on_job_request", "on_job_update_requested", "on_job_cancelled"):
            self._register_event_handler(event)

    @property
    def active_jobs(self) -> dict[str, BusJobRequestMessage]:
        """The job requests this worker is working on, by job id."""
        return self._active_jobs

    # --- hooks ---------------------------------------------------------------------------

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

    # --- answering -------------------------------------------------------------------------

    def _request_of(self, job_id: str, doing: str) -> BusJobRequestMessage:
        request = self._active_jobs.get(job_id)
        if request is None:
            raise WorkerError(f"worker '{self.name}' has no active job '{job_id}' to {doing}")
        return request

    async def send_job_response(
        self,
        job_id: str,
        response: dict[str, Any] | None = None,
        *,
        status: JobStatus = JobStatus.COMPLETED,
        urgent: bool = False,
    ) -> None:
        """Answer a job; it is no longer active afterwards.

        With ``urgent`` the answer has system priority, yet never overtakes this job's
        earlier updates or stream chunks at the requester.

        Raises:
            WorkerError: If there is no active job ``job_id`` (a ``RuntimeError``).
        """
        request = self._request_of(job_id, "respond to")
        message_type = BusJobResponseUrgentMessage if urgent else BusJobResponseMessage
        self._active_jobs.pop(job_id, None)
        await self.send_bus_message(
            message_type(
                source=self.name,
                target=request.source,
                job_id=job_id,
                status=status,
                response=response,
            )
        )

    async def send_job_update(
        self, job_id: str, update: dict[str, Any] | None = None, *, urgent: bool = False
    ) -> None:
        """Send progress on a job to its requester.

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        request = self._request_of(job_id, "update")
        message_type = BusJobUpdateUrgentMessage if urgent else BusJobUpdateMessage
        await self.send_bus_message(
            message_type(source=self.name, target=request.source, job_id=job_id, update=update)
        )

    async def send_job_stream_start(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """Start streaming a job's result.

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        request = self._request_of(job_id, "stream")
        await self.send_bus_message(
            BusJobStreamStartMessage(
                source=self.name, target=request.source, job_id=job_id, data=data
            )
        )

    async def send_job_stream_data(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """Send one chunk of a streamed result.

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        request = self._request_of(job_id, "stream")
        await self.send_bus_message(
            BusJobStreamDataMessage(
                source=self.name, target=request.source, job_id=job_id, data=data
            )
        )

    async def send_job_stream_end(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """End the stream; this completes the job (``data`` becomes its response).

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        request = self._request_of(job_id, "stream")
        self._active_jobs.pop(job_id, None)
        await self.send_bus_message(
            BusJobStreamEndMessage(
                source=self.name, target=request.source, job_id=job_id, data=data
            )
        )

    async def _refuse(self, request: BusJobRequestMessage, error: str) -> None:
        """Answer a request with ERROR without touching the active jobs."""
        logger.warning("%s: refused job %s: %s", self.name, request.job_id, error)
        await self.send_bus_message(
            BusJobResponseMessage(
                source=self.name,
                target=request.source,
                job_id=request.job_id,
                status=JobStatus.ERROR,
                response={"error": error},
            )
        )

    # --- handling ------------------------------------------------------------------------

    async def _handle_job_request(self, message: BusJobRequestMessage) -> None:
        job_id = message.job_id
        if job_id in self._active_jobs:
            await self._refuse(
                message, f"duplicate job_id {job_id!r}: already running on '{self.name}'"
            )
            return
        if not self._active:
            await self._refuse(message, f"worker '{self.name}' is inactive")
            return
        handler, sequential = self._job_handler_for(message)
        if handler is None and not self._event_handlers.get("on_job_request"):
            if self.refuse_unhandled_jobs:
                await self._refuse(
                    message, f"worker '{self.name}' has no handler for job {message.job_name!r}"
                )
                return
            logger.info(
                "%s: job %s (%r) has no handler; it stays active until send_job_response()",
                self.name,
                job_id,
                message.job_name,
            )
        self._active_jobs[job_id] = message
        if handler is not None:
            lock = None
            if sequential and message.job_name is not None:
                lock = self._job_locks.setdefault(message.job_name, asyncio.Lock())
            label = f"job:{message.job_name or 'on_job_request'}"
            self._job_handler_tasks[job_id] = self.create_task(
                self._run_job_handler(message, handler, lock, label), label
            )
        self._fire_event("on_job_request", message)

    def _job_handler_for(self, message: BusJobRequestMessage) -> tuple[JobHandler | None, bool]:
        if message.job_name is not None and message.job_name in self._job_handlers:
            return self._job_handlers[message.job_name]
        if type(self).on_job_request is JobHandlingMixin.on_job_request:
            return None, False
        return self.on_job_request, False

    async def _run_job_handler(
        self,
        message: BusJobRequestMessage,
        handler: JobHandler,
        lock: asyncio.Lock | None,
        label: str,
    ) -> None:
        job_id = message.job_id
        try:
            if lock is None:
                await handler(message)
            else:
                async with lock:
                    await handler(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._report_error(label, exc)
            if self._active_jobs.get(job_id) is message:
                await self.send_job_response(
                    job_id, {"error": f"{type(exc).__name__}: {exc}"}, status=JobStatus.ERROR
                )
        finally:
            if self._job_handler_tasks.get(job_id) is asyncio.current_task():
                del self._job_handler_tasks[job_id]

    async def _handle_job_update_request(self, message: BusJobUpdateRequestMessage) -> None:
        if message.job_id in self._active_jobs:
            await self._hook("on_job_update_requested", message)
            self._fire_event("on_job_update_requested", message)

    async def _handle_job_cancel(self, message: BusJobCancelMessage) -> None:
        if message.job_id not in self._active_jobs:
            return
        task = self._job_handler_tasks.get(message.job_id)
        if task is not None:
            await self.cancel_task(task)
        await self._hook("on_job_cancelled", message)
        self._fire_event("on_job_cancelled", message)
        if message.job_id in self._active_jobs:
            await self.send_job_response(message.job_id, status=JobStatus.CANCELLED)

    async def _cancel_active_jobs(self) -> None:
        """On stop: answer every active job CANCELLED and cancel the handlers still running."""
        for job_id in list(self._active_jobs):
            await self.send_job_response(job_id, status=JobStatus.CANCELLED)
        for task in list(self._job_handler_tasks.values()):
            await self.cancel_task(task)
