"""The jobs a worker handles: run requests, answer, report progress, stream, be cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol, TypeVar

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
    BusMessage,
)
from pipebus.core.types import JobStatus
from pipebus.workers.event_source import EventPort, overrides_hook

logger = logging.getLogger("pipebus.worker")

T = TypeVar("T")
JobHandler = Callable[[BusJobRequestMessage], Awaitable[None]]


class JobServerHost(Protocol):
    """What the job server uses of its worker: public members only."""

    refuse_unhandled_jobs: bool

    @property
    def name(self) -> str:
        """The worker's name."""
        ...

    @property
    def active(self) -> bool:
        """Whether the worker is active: an inactive worker refuses requests."""
        ...

    async def send_bus_message(self, message: BusMessage) -> None:
        """Send on the bus."""
        ...

    async def send_job_response(
        self,
        job_id: str,
        response: dict[str, Any] | None = None,
        *,
        status: JobStatus = JobStatus.COMPLETED,
        urgent: bool = False,
    ) -> None:
        """Answer a job (how the server answers for a failed or cancelled handler)."""
        ...

    def create_task(
        self, coroutine: Coroutine[Any, Any, T], name: str | None = None
    ) -> asyncio.Task[T]:
        """Start a task owned by the worker (one per job handler)."""
        ...

    async def cancel_task(self, task: asyncio.Task[Any], timeout: float | None = 1.0) -> None:
        """Cancel a task and wait for it."""
        ...

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        """The worker's catch-all job handler, used when its class overrides it."""
        ...


class JobServer:
    """The job requests a worker receives: each runs in its own task until answered.

    Uses the worker through :class:`JobServerHost` and its hooks and events
    (``on_job_request``, ``on_job_update_requested``, ``on_job_cancelled``) through an
    :class:`EventPort`.

    Args:
        host: The worker.
        events: The worker's hooks and events.
        job_handlers: The worker's ``@job`` methods: job name -> (method, sequential).

    Attributes:
        jobs: The requests being worked on, by job id (``BaseWorker.active_jobs``).
    """

    EVENTS = ("on_job_request", "on_job_update_requested", "on_job_cancelled")

    def __init__(
        self,
        host: JobServerHost,
        events: EventPort,
        job_handlers: Mapping[str, tuple[JobHandler, bool]],
    ) -> None:
        self._host = host
        self._events = events
        self._job_handlers = job_handlers
        self._catch_all = overrides_hook(type(host), "on_job_request")
        self._handler_tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.jobs: dict[str, BusJobRequestMessage] = {}

    # --- answering ------------------------------------------------------------------------

    def _request_of(self, job_id: str, doing: str) -> BusJobRequestMessage:
        request = self.jobs.get(job_id)
        if request is None:
            raise WorkerError(f"worker '{self._host.name}' has no active job '{job_id}' to {doing}")
        return request

    async def respond(
        self, job_id: str, response: dict[str, Any] | None, status: JobStatus, urgent: bool
    ) -> None:
        """Answer a job; it is no longer active afterwards.

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        request = self._request_of(job_id, "respond to")
        message_type = BusJobResponseUrgentMessage if urgent else BusJobResponseMessage
        self.jobs.pop(job_id, None)
        await self._host.send_bus_message(
            message_type(
                source=self._host.name,
                target=request.source,
                job_id=job_id,
                status=status,
                response=response,
            )
        )

    async def update(self, job_id: str, update: dict[str, Any] | None, urgent: bool) -> None:
        """Send progress on a job to its requester.

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        request = self._request_of(job_id, "update")
        message_type = BusJobUpdateUrgentMessage if urgent else BusJobUpdateMessage
        host = self._host
        await host.send_bus_message(
            message_type(source=host.name, target=request.source, job_id=job_id, update=update)
        )

    async def stream_start(self, job_id: str, data: dict[str, Any] | None) -> None:
        """Start streaming a job's result.

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        await self._stream(BusJobStreamStartMessage, job_id, data)

    async def stream_data(self, job_id: str, data: dict[str, Any] | None) -> None:
        """Send one chunk of a streamed result.

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        await self._stream(BusJobStreamDataMessage, job_id, data)

    async def stream_end(self, job_id: str, data: dict[str, Any] | None) -> None:
        """End the stream; this completes the job.

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        await self._stream(BusJobStreamEndMessage, job_id, data, completes=True)

    async def _stream(
        self,
        message_type: type[BusJobStreamStartMessage]
        | type[BusJobStreamDataMessage]
        | type[BusJobStreamEndMessage],
        job_id: str,
        data: dict[str, Any] | None,
        *,
        completes: bool = False,
    ) -> None:
        request = self._request_of(job_id, "stream")
        if completes:
            self.jobs.pop(job_id, None)
        await self._host.send_bus_message(
            message_type(source=self._host.name, target=request.source, job_id=job_id, data=data)
        )

    async def _refuse(self, request: BusJobRequestMessage, error: str) -> None:
        """Answer a request with ERROR without touching the active jobs."""
        logger.warning("%s: refused job %s: %s", self._host.name, request.job_id, error)
        await self._host.send_bus_message(
            BusJobResponseMessage(
                source=self._host.name,
                target=request.source,
                job_id=request.job_id,
                status=JobStatus.ERROR,
                response={"error": error},
            )
        )

    # --- handling -------------------------------------------------------------------------

    async def handle_request(self, message: BusJobRequestMessage) -> None:
        """A request: refuse it, or make it active and start its handler's task."""
        host = self._host
        job_id = message.job_id
        if job_id in self.jobs:
            await self._refuse(
                message, f"duplicate job_id {job_id!r}: already running on '{host.name}'"
            )
            return
        if not host.active:
            await self._refuse(message, f"worker '{host.name}' is inactive")
            return
        handler, sequential = self._handler_for(message)
        if handler is None and not self._events.handlers.get("on_job_request"):
            if host.refuse_unhandled_jobs:
                await self._refuse(
                    message, f"worker '{host.name}' has no handler for job {message.job_name!r}"
                )
                return
            logger.info(
                "%s: job %s (%r) has no handler; it stays active until send_job_response()",
                host.name,
                job_id,
                message.job_name,
            )
        self.jobs[job_id] = message
        if handler is not None:
            lock = None
            if sequential and message.job_name is not None:
                lock = self._locks.setdefault(message.job_name, asyncio.Lock())
            label = f"job:{message.job_name or 'on_job_request'}"
            self._handler_tasks[job_id] = host.create_task(
                self._run_handler(message, handler, lock, label), label
            )
        self._events.fire("on_job_request", message)

    def _handler_for(self, message: BusJobRequestMessage) -> tuple[JobHandler | None, bool]:
        if message.job_name is not None and message.job_name in self._job_handlers:
            return self._job_handlers[message.job_name]
        if self._catch_all:
            return self._host.on_job_request, False
        return None, False

    async def _run_handler(
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
            self._events.report_error(label, exc)
            if self.jobs.get(job_id) is message:
                await self._host.send_job_response(
                    job_id, {"error": f"{type(exc).__name__}: {exc}"}, status=JobStatus.ERROR
                )
        finally:
            if self._handler_tasks.get(job_id) is asyncio.current_task():
                del self._handler_tasks[job_id]

    async def handle_update_request(self, message: BusJobUpdateRequestMessage) -> None:
        """The requester asks for progress on an active job: ``on_job_update_requested``."""
        if message.job_id in self.jobs:
            await self._events.hook("on_job_update_requested", message)
            self._events.fire("on_job_update_requested", message)

    async def handle_cancel(self, message: BusJobCancelMessage) -> None:
        """The requester cancels a job: cancel its task, tell the worker, answer CANCELLED."""
        if message.job_id not in self.jobs:
            return
        task = self._handler_tasks.get(message.job_id)
        if task is not None:
            await self._host.cancel_task(task)
        await self._events.hook("on_job_cancelled", message)
        self._events.fire("on_job_cancelled", message)
        if message.job_id in self.jobs:
            await self._host.send_job_response(message.job_id, status=JobStatus.CANCELLED)

    async def cancel_all(self) -> None:
        """On stop: answer every active job CANCELLED and cancel the handlers still running."""
        for job_id in list(self.jobs):
            await self._host.send_job_response(job_id, status=JobStatus.CANCELLED)
        for task in list(self._handler_tasks.values()):
            await self._host.cancel_task(task)
