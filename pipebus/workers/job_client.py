"""The jobs a worker requests: send them, follow their answers, updates and streams to the end.

A job to one worker is a group of one. The timeout covers waiting for the workers to
be ready and the work together, counted once from the call. Every event of a group
reaches its ``async for`` in send order, and the group ends when every worker has
answered, when an answer is an error (with ``cancel_on_error``), when a worker it
waits on stops, when it times out or when it is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pipebus.core.errors import JobGroupError, WorkerError
from pipebus.core.messages import (
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
    BusMessage,
    BusWorkerStoppedMessage,
)
from pipebus.core.types import JobGroupEvent, JobGroupParams, JobGroupResponse, JobParams, JobStatus
from pipebus.workers.event_source import EventPort
from pipebus.workers.job_group import JobContext, JobGroup, JobGroupContext, JobRequester
from pipebus.workers.job_params import new_job_id

if TYPE_CHECKING:
    from pipebus.live.live_jobs import LiveJobs
    from pipebus.live.worker_registry import WorkerRegistry

T = TypeVar("T")


class JobClientHost(JobRequester, Protocol):
    """What the job client uses of its worker: public members only.

    Starting and cancelling a group go through the worker's own methods
    (:class:`JobRequester`), so a subclass that overrides them is used by
    ``request_job``, ``job()`` and ``job_group()`` too.
    """

    @property
    def name(self) -> str:
        """The worker's name."""
        ...

    @property
    def registry(self) -> WorkerRegistry:
        """The registry (waiting for the workers of a group to be ready)."""
        ...

    async def send_bus_message(self, message: BusMessage) -> None:
        """Send on the bus."""
        ...

    def create_task(
        self, coroutine: Coroutine[Any, Any, T], name: str | None = None
    ) -> asyncio.Task[T]:
        """Start a task owned by the worker (a group's timeout)."""
        ...


class JobClient:
    """The job groups a worker launched: requests out, answers in, until each group ends.

    Uses the worker through :class:`JobClientHost`, its hooks and events
    (``on_job_response``, ``on_job_completed``, ...) through an :class:`EventPort`,
    and, once attached, the live jobs projection and the bus's ``record``.

    Args:
        host: The worker.
        events: The worker's hooks and events.

    Attributes:
        groups: The groups that have not ended, by job id (``BaseWorker.job_groups``).
    """

    EVENTS = (
        "on_job_response",
        "on_job_update",
        "on_job_completed",
        "on_job_error",
        "on_job_stream_start",
        "on_job_stream_data",
        "on_job_stream_end",
    )

    def __init__(self, host: JobClientHost, events: EventPort) -> None:
        self._host = host
        self._events = events
        self._live_jobs: LiveJobs | None = None
        self._record: Callable[[BusMessage], object] | None = None
        self.groups: dict[str, JobGroup] = {}

    def attach(self, jobs: LiveJobs | None, record: Callable[[BusMessage], object]) -> None:
        """Use ``jobs`` for the groups' ``state`` and ``record`` for their verdicts."""
        self._live_jobs = jobs
        self._record = record

    # --- starting jobs --------------------------------------------------------------------

    async def start_group(self, worker_names: list[str], params: JobGroupParams) -> JobGroup:
        """Wait for the workers to be ready, create the group and send the requests.

        Raises:
            JobGroupError: If a worker is not ready within the timeout, or has stopped.
            ValueError: If no worker, or the same worker twice, is named.
        """
        host = self._host
        names = list(worker_names)
        if not names:
            raise ValueError("a job needs at least one worker name")
        if len(set(names)) != len(names):
            raise ValueError(f"a job group names the same worker twice: {names}")
        loop = asyncio.get_running_loop()
        deadline = None if params.timeout is None else loop.time() + params.timeout
        registry = host.registry
        try:
            await registry.wait_ready(names, params.timeout)
        except TimeoutError:
            missing = [n for n in names if n not in registry]
            raise JobGroupError(
                f"workers not ready within {params.timeout}s: {', '.join(missing)}",
                worker_name=missing[0] if missing else None,
            ) from None
        except WorkerError as error:
            raise JobGroupError(str(error)) from error
        group = JobGroup(
            job_id=new_job_id(),
            worker_names=names,
            cancel_on_error=params.cancel_on_error,
            label=params.label,
            cancellable=params.cancellable,
            _jobs=self._live_jobs,
        )
        self.groups[group.job_id] = group
        if deadline is not None:
            group.time_out_at(deadline, self._timed_out)
        sent = 0
        try:
            for worker in names:
                await host.send_bus_message(
                    BusJobRequestMessage(
                        source=host.name,
                        target=worker,
                        job_id=group.job_id,
                        job_name=params.name,
                        payload=params.payload,
                    )
                )
                sent += 1
        except BaseException as error:
            # A request the bus refused (a payload it cannot encode) must not leave a
            # group waiting for answers, nor a timeout that later cancels nothing.
            if sent:
                await asyncio.shield(
                    self.cancel_group(group.job_id, f"sending the request failed: {error}")
                )
            else:
                self.groups.pop(group.job_id, None)
                group.fail(f"the request could not be sent: {error}")
            raise
        return group

    async def request_job(self, worker_name: str, params: JobParams) -> str:
        """Send a job to one worker without waiting for its answer; returns the job id."""
        group = await self._host.create_job_group_and_request_job(
            [worker_name], params=JobGroupParams.from_job_params(params)
        )
        return group.job_id

    async def request_job_group(self, worker_names: list[str], params: JobGroupParams) -> str:
        """Send a job to several workers without waiting for answers; returns the job id."""
        group = await self._host.create_job_group_and_request_job(worker_names, params=params)
        return group.job_id

    def job(self, worker_name: str, params: JobParams) -> JobContext:
        """One job as an ``async with`` block."""
        return JobContext(self._host, worker_name, params)

    def job_group(self, worker_names: list[str], params: JobGroupParams) -> JobGroupContext:
        """A group as an ``async with`` block."""
        return JobGroupContext(self._host, worker_names, params)

    async def request_update(self, job_id: str, worker_name: str) -> None:
        """Ask a worker for progress on a job."""
        await self._host.send_bus_message(
            BusJobUpdateRequestMessage(source=self._host.name, target=worker_name, job_id=job_id)
        )

    # --- ending jobs ----------------------------------------------------------------------

    async def cancel_group(self, job_id: str, reason: str | None) -> None:
        """Cancel a running group: its workers get a cancel, its waiters a ``JobGroupError``."""
        group = self.groups.get(job_id)
        if group is not None:
            await self._end_group(group, "cancelled", reason or "cancelled by the requester")

    async def request_cancel_group(self, job_id: str, reason: str | None) -> bool:
        """Cancel on behalf of an outside requester, if the group allows it."""
        group = self.groups.get(job_id)
        if group is None or not group.cancellable:
            return False
        await self._host.cancel_job_group(job_id, reason=reason)
        return True

    async def cancel_all(self, reason: str) -> None:
        """On stop: cancel every group the worker is still waiting on."""
        for group in list(self.groups.values()):
            await self._end_group(group, "cancelled", reason)

    def _timed_out(self, job_id: str) -> None:
        group = self.groups.get(job_id)
        if group is not None:
            self._host.create_task(
                self._end_group(group, "timeout", "timeout"), f"timeout:{job_id[:8]}"
            )

    async def _end_group(
        self, group: JobGroup, status: str, reason: str, worker: str | None = None
    ) -> None:
        """Fail a group: cancel the workers still on it, release waiters, record the verdict."""
        if self.groups.pop(group.job_id, None) is None:
            return
        host = self._host
        for name in group.worker_names:
            if name not in group.terminated:
                await host.send_bus_message(
                    BusJobCancelMessage(
                        source=host.name, target=name, job_id=group.job_id, reason=reason
                    )
                )
        group.fail(reason, status=status, worker=worker)
        self._record_verdict(group, status, reason)

    def _record_verdict(self, group: JobGroup, status: str, reason: str | None) -> None:
        if self._record is not None:
            self._record(
                BusJobGroupFinishedMessage(
                    source=self._host.name, job_id=group.job_id, status=status, reason=reason
                )
            )

    # --- what comes back ------------------------------------------------------------------

    async def handle_response(
        self, message: BusJobResponseMessage | BusJobResponseUrgentMessage
    ) -> None:
        """A worker's answer: count it; an error may end the group, the last completes it."""
        group = self.groups.get(message.job_id)
        status = JobStatus(message.status)
        if group is not None:
            group.terminated.add(message.source)
            group.statuses[message.source] = status
        events = self._events
        await events.hook("on_job_response", message)
        events.fire("on_job_response", message)
        if group is None or group.is_done:
            return
        if status is not JobStatus.COMPLETED and group.cancel_on_error:
            group.responses[message.source] = message.response or {}
            await events.hook("on_job_error", message)
            events.fire("on_job_error", message)
            if status is JobStatus.CANCELLED:
                reason, verdict = f"worker '{message.source}' answered cancelled", "cancelled"
            else:  # Pipecat's text; the worker's own error is in the group's responses
                reason, verdict = f"worker '{message.source}' errored", "failed"
            await self._end_group(group, verdict, reason, worker=message.source)
            return
        await self._track_answer(group, message.source, message.response)

    async def handle_stream_end(self, message: BusJobStreamEndMessage) -> None:
        """A worker ended its stream: that is its (completed) answer."""
        group = self.groups.get(message.job_id)
        if group is not None:
            group.terminated.add(message.source)
            group.statuses[message.source] = JobStatus.COMPLETED
        await self._events.hook("on_job_stream_end", message)
        self._events.fire("on_job_stream_end", message)
        if group is not None:
            group.push_event(JobGroupEvent(JobGroupEvent.STREAM_END, message.source, message.data))
            await self._track_answer(group, message.source, message.data)

    async def _track_answer(
        self, group: JobGroup, worker: str, response: dict[str, Any] | None
    ) -> None:
        group.responses[worker] = response or {}
        if group.is_done or not group.terminated.issuperset(group.worker_names):
            return
        self.groups.pop(group.job_id, None)
        result = JobGroupResponse(job_id=group.job_id, responses=group.responses)
        failed = [w for w in group.worker_names if group.statuses.get(w) is not JobStatus.COMPLETED]
        if failed:  # otherwise the answers already say "completed": nothing to add
            self._record_verdict(group, "completed", f"not completed by: {', '.join(failed)}")
        # As in Pipecat, the hook and the event handlers come before the group is done,
        # so they have run (the handlers have started) when `job_group()` exits.
        await self._events.hook("on_job_completed", result)
        self._events.fire("on_job_completed", result)
        group.complete()

    async def handle_update(self, message: BusJobUpdateMessage | BusJobUpdateUrgentMessage) -> None:
        """Progress from a worker: the hook, the handlers, then the group's ``async for``."""
        await self._events.hook("on_job_update", message)
        self._events.fire("on_job_update", message)
        self._push(
            message.job_id, JobGroupEvent(JobGroupEvent.UPDATE, message.source, message.update)
        )

    async def handle_stream_start(self, message: BusJobStreamStartMessage) -> None:
        """A worker starts streaming."""
        await self._events.hook("on_job_stream_start", message)
        self._events.fire("on_job_stream_start", message)
        self._push(
            message.job_id, JobGroupEvent(JobGroupEvent.STREAM_START, message.source, message.data)
        )

    async def handle_stream_data(self, message: BusJobStreamDataMessage) -> None:
        """One chunk of a worker's stream."""
        await self._events.hook("on_job_stream_data", message)
        self._events.fire("on_job_stream_data", message)
        self._push(
            message.job_id, JobGroupEvent(JobGroupEvent.STREAM_DATA, message.source, message.data)
        )

    def _push(self, job_id: str, event: JobGroupEvent) -> None:
        group = self.groups.get(job_id)
        if group is not None:
            group.push_event(event)

    async def handle_worker_stopped(self, message: BusWorkerStoppedMessage) -> None:
        """A worker stopped: the groups still waiting on it cannot complete as asked."""
        reason = f"worker '{message.source}' stopped ({message.status}) before answering"
        for group in list(self.groups.values()):
            if message.source not in group.worker_names or message.source in group.terminated:
                continue
            if group.cancel_on_error:
                await self._end_group(group, "failed", reason, worker=message.source)
            else:
                group.terminated.add(message.source)
                group.statuses[message.source] = JobStatus.CANCELLED
                await self._track_answer(group, message.source, {"error": reason})
