"""The live job group and the ``job()`` / ``job_group()`` context managers.

A ``JobGroup`` is the requester's handle on a job: what each worker answered, an
event queue for ``async for``, and completion. Its ``state`` is the jobs projection's
view of the same job, the one a replay shows.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from pipebus.core.errors import JobError, JobGroupError
from pipebus.core.types import JobEvent, JobGroupEvent, JobGroupParams, JobParams, JobStatus
from pipebus.projections.jobs import RUNNING, JobState

if TYPE_CHECKING:
    from pipebus.live.live_jobs import LiveJobs


@dataclass(eq=False, slots=True)
class JobGroup:
    """Tracks a job sent to one or more workers.

    Attributes:
        job_id: Shared by every worker of the group.
        worker_names: The workers, in dispatch order.
        responses: Each worker's response, by worker name.
        timeout_task: Kept for Pipecat compatibility; pipebus times groups out with a
            loop timer, so this stays None.
        cancel_on_error: Whether one worker's ERROR, FAILED or CANCELLED answer cancels
            the rest of the group.
        label: Human-readable description of the work.
        cancellable: Whether an outside requester may cancel it.
        terminated: Workers that answered (a response or a stream end).
        statuses: (pipebus) Each worker's answer status.
        status: (pipebus) ``"running"``, ``"completed"``, ``"failed"``, ``"cancelled"``
            or ``"timeout"``.
    """

    job_id: str
    worker_names: list[str]
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeout_task: asyncio.Task[None] | None = None
    cancel_on_error: bool = True
    label: str | None = None
    cancellable: bool = True
    terminated: set[str] = field(default_factory=set)
    statuses: dict[str, JobStatus] = field(default_factory=dict)
    status: str = RUNNING
    _events: deque[JobGroupEvent | None] = field(default_factory=deque, repr=False)
    _queue: asyncio.Queue[JobGroupEvent | None] | None = field(default=None, repr=False)
    _waiters: list[asyncio.Future[None]] = field(default_factory=list, repr=False)
    _done: bool = field(default=False, repr=False)
    _error: str | None = field(default=None, repr=False)
    _error_worker: str | None = field(default=None, repr=False)
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    _jobs: LiveJobs | None = field(default=None, repr=False)

    @property
    def event_queue(self) -> asyncio.Queue[JobGroupEvent | None]:
        """Updates and stream events for ``async for``, then None once the group is done.

        Events are kept from the moment the group exists, so none sent while the
        requests were still going out is lost.
        """
        if self._queue is None:
            self._queue = asyncio.Queue()
            for event in self._events:
                self._queue.put_nowait(event)
            self._events.clear()
        return self._queue

    @property
    def is_done(self) -> bool:
        """Whether the group has completed or failed."""
        return self._done

    @property
    def error(self) -> str | None:
        """Why the group failed, or None."""
        return self._error

    @property
    def state(self) -> JobState | None:
        """The jobs projection's view of this job (what a replay of the session shows)."""
        return self._jobs.get(self.job_id) if self._jobs is not None else None

    async def wait(self) -> None:
        """Wait until every worker has answered.

        Raises:
            JobGroupError: If the group failed, was cancelled or timed out.
        """
        if not self._done:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        if self._error is not None:
            worker = self._error_worker
            raise JobGroupError(
                self._error,
                job_id=self.job_id,
                worker_name=worker,
                response=self.responses.get(worker) if worker is not None else None,
            )

    def time_out_at(self, when: float, on_timeout: Callable[[str], object]) -> None:
        """Call ``on_timeout(job_id)`` at loop time ``when`` unless the group is done by then."""
        self._timer = asyncio.get_running_loop().call_at(when, on_timeout, self.job_id)

    def complete(self) -> None:
        """Mark the group completed and end its event stream."""
        if not self._done:
            self.status = "completed"
            self._finish()

    def fail(
        self, reason: str | None = None, *, status: str = "failed", worker: str | None = None
    ) -> None:
        """Mark the group failed (or cancelled, or timed out) and end its event stream."""
        if not self._done:
            self.status = status
            self._error = reason or status
            self._error_worker = worker
            self._finish()

    def _finish(self) -> None:
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._put(None)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def push_event(self, event: JobGroupEvent) -> None:
        """Queue an update or stream event for ``async for`` (ignored once done)."""
        if not self._done:
            self._put(event)

    def _put(self, event: JobGroupEvent | None) -> None:
        if self._queue is not None:
            self._queue.put_nowait(event)
        else:
            self._events.append(event)


class JobRequester(Protocol):
    """What the context managers use of the worker that requests the job."""

    async def create_job_group_and_request_job(
        self,
        worker_names: list[str],
        *,
        params: JobGroupParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
        cancel_on_error: bool | None = None,
    ) -> JobGroup:
        """Start the group: wait for its workers, then send the requests."""
        ...

    async def cancel_job_group(self, job_id: str, *, reason: str | None = None) -> None:
        """Cancel the group (when the block raises or is cancelled)."""
        ...


class _GroupContextBase:
    """What the two context managers share: start on enter, wait or cancel on exit."""

    def __init__(
        self, requester: JobRequester, worker_names: list[str], params: JobGroupParams
    ) -> None:
        self._requester = requester
        self._worker_names = worker_names
        self._params = params
        self._group: JobGroup | None = None

    @property
    def group(self) -> JobGroup:
        """The underlying group.

        Raises:
            RuntimeError: Before the ``async with`` block was entered.
        """
        if self._group is None:
            raise RuntimeError("the job has not been started: use it with 'async with'")
        return self._group

    @property
    def job_id(self) -> str:
        """The job id."""
        return self.group.job_id

    async def _next_event(self) -> JobGroupEvent:
        queue = self.group.event_queue
        event = await queue.get()
        if event is None:
            queue.put_nowait(None)  # keep the end marker for any later iteration
            raise StopAsyncIteration
        return event

    async def _start(self) -> None:
        self._group = await self._requester.create_job_group_and_request_job(
            self._worker_names, params=self._params
        )

    async def _exit(self, exc: BaseException | None) -> None:
        group = self._group
        if group is None:
            return
        if exc is not None:
            if not group.is_done:
                await asyncio.shield(
                    self._requester.cancel_job_group(
                        group.job_id, reason="context exited with error"
                    )
                )
            return
        try:
            await group.wait()
        except asyncio.CancelledError:
            if not group.is_done:
                await asyncio.shield(
                    self._requester.cancel_job_group(group.job_id, reason="requester was cancelled")
                )
            raise


class JobGroupContext(_GroupContextBase):
    """``async with worker.job_group(...) as tg``: requests on enter, all answers on exit.

    ``async for event in tg`` yields each worker's updates and stream events. On exit
    the answers are in ``tg.responses``; a failed group raises ``JobGroupError``. If
    the block raises, the group is cancelled.
    """

    @property
    def responses(self) -> dict[str, dict[str, Any]]:
        """Each worker's response, by name."""
        return self.group.responses

    def __aiter__(self) -> JobGroupContext:
        return self

    async def __anext__(self) -> JobGroupEvent:
        return await self._next_event()

    async def __aenter__(self) -> JobGroupContext:
        await self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._exit(exc)


class JobContext(_GroupContextBase):
    """``async with worker.job(...) as t``: one worker's job, its events and its answer.

    On exit ``t.response`` holds the answer; an ERROR, FAILED or CANCELLED answer, a
    timeout or a lost worker raises ``JobError``.
    """

    def __init__(self, requester: JobRequester, worker_name: str, params: JobParams) -> None:
        super().__init__(requester, [worker_name], JobGroupParams.from_job_params(params))
        self._worker_name = worker_name

    @property
    def response(self) -> dict[str, Any]:
        """The worker's response ({} until it answered)."""
        return self.group.responses.get(self._worker_name, {})

    def __aiter__(self) -> JobContext:
        return self

    async def __anext__(self) -> JobEvent:
        event = await self._next_event()
        return JobEvent(type=event.type, data=event.data)

    async def __aenter__(self) -> JobContext:
        try:
            await self._start()
        except JobGroupError as error:
            raise _single(error) from error
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._exit(exc)
        except JobGroupError as error:
            raise _single(error) from error


def _single(error: JobGroupError) -> JobError:
    return JobError(
        error.reason, job_id=error.job_id, worker_name=error.worker_name, response=error.response
    )
