"""``BaseWorker``: a worker on the bus, composed of its lifecycle, activation and job parts.

Each part owns its state and offers methods; it uses the worker only through the
small interface its module states (a ``Protocol`` of public worker members, plus an
``EventPort`` for hooks and events). ``BaseWorker`` holds the worker's name and its
attachment to a bus, keeps Pipecat's public API by delegating to the parts, and
dispatches: the bus hands each delivery to :meth:`BaseWorker.on_bus_message`, which
finds the built-in handler for the message's type (a bound method of the owning
part) with one lookup in the worker's table, then fires the ``on_bus_message``
event handlers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pipebus.bus.base import WorkerBus
from pipebus.bus.context import shutdown_sends
from pipebus.bus.subscriber import BusSubscriber
from pipebus.bus.tasks import TaskManager
from pipebus.core.errors import WorkerError
from pipebus.core.messages import (
    BusActivateWorkerMessage,
    BusCancelWorkerMessage,
    BusDeactivateWorkerMessage,
    BusEndWorkerMessage,
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
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerStoppedMessage,
    WorkerHandle,
)
from pipebus.core.routing import job_id_of
from pipebus.core.types import (
    JobGroupParams,
    JobParams,
    JobStatus,
    WorkerActivationArgs,
    WorkerParams,
)
from pipebus.live.worker_registry import WorkerRegistry
from pipebus.workers.activation import Activation
from pipebus.workers.decorators import collect_job_handlers, collect_worker_ready_handlers
from pipebus.workers.event_source import EventSource
from pipebus.workers.hooks import WorkerHooks
from pipebus.workers.job_client import JobClient
from pipebus.workers.job_group import JobContext, JobGroup, JobGroupContext
from pipebus.workers.job_params import resolve_params
from pipebus.workers.job_server import JobServer
from pipebus.workers.lifecycle import Lifecycle

if TYPE_CHECKING:
    from pipebus.live.live_jobs import LiveJobs
    from pipebus.workers.runner import WorkerRunner

logger = logging.getLogger("pipebus.worker")

CLEANUP_GRACE = 1.0
"""Seconds a stopping worker gives its event-handler tasks before cancelling them."""

Handler = Callable[[Any], Awaitable[None]]

_counter = itertools.count(1)

_BUILTIN_TYPES: frozenset[type[BusMessage]] = frozenset(
    {
        BusWorkerErrorMessage,
        BusWorkerLocalErrorMessage,
        BusActivateWorkerMessage,
        BusDeactivateWorkerMessage,
        BusEndWorkerMessage,
        BusCancelWorkerMessage,
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
        BusWorkerStoppedMessage,
    }
)

_DELIVERED_WHEN_INACTIVE: frozenset[type[BusMessage]] = frozenset(
    {
        BusActivateWorkerMessage,
        BusDeactivateWorkerMessage,
        BusEndWorkerMessage,
        BusCancelWorkerMessage,
        BusJobCancelMessage,
        BusJobRequestMessage,
        BusWorkerStoppedMessage,
        BusWorkerErrorMessage,
        BusWorkerLocalErrorMessage,
    }
)

_registered_base_of: dict[type, type[BusMessage] | None] = {}


def _registered_base(message_type: type) -> type[BusMessage] | None:
    """The nearest class in ``message_type``'s MRO that has a built-in handler, cached."""
    try:
        return _registered_base_of[message_type]
    except KeyError:
        pass
    found = next((base for base in message_type.__mro__ if base in _BUILTIN_TYPES), None)
    _registered_base_of[message_type] = found
    return found


class _BuiltinHandlers(dict[type, Handler | None]):
    """One worker's built-in handlers by message type: bound methods of its parts.

    Holds an entry per registered type from the start; any other type (a subclass of
    one, or a type without built-in handling) is resolved on first sight and kept, so
    every later delivery of it costs one lookup.
    """

    __slots__ = ()

    def __missing__(self, message_type: type) -> Handler | None:
        base = _registered_base(message_type)
        handler = self[base] if base is not None else None
        self[message_type] = handler
        return handler


class BaseWorker(WorkerHooks, EventSource, BusSubscriber, WorkerHandle):
    """Base of every worker: connects to a bus, registers, takes activation, runs jobs.

    Override the ``on_*`` hooks (``on_activated``, ``on_job_request``, ...) or attach
    event handlers with ``@worker.event_handler("on_job_completed")``. Hooks need not
    call ``super()``. A hook or handler that raises is recorded and reported; the
    worker goes on.

    Args:
        name: Unique name. None gives ``"<ClassName>#<n>"``.
        active: Whether the worker starts active. An inactive worker waits, doing
            nothing, until it is activated (a handoff).
        check_dangling_tasks: Warn, when the worker stops, about tasks of its own task
            manager still running (only when it was given one: a worker on the
            runner's leaves that report to the runner).
        task_manager: The task manager of the worker's tasks; its own by default.
        refuse_unhandled_jobs: Answer a job request that no ``@job`` handler,
            ``on_job_request`` override or ``on_job_request`` event handler takes
            with an ``ERROR`` at once. Off by default, as in Pipecat: such a job stays
            active until :meth:`send_job_response` answers it. A runner's
            ``refuse_unhandled_jobs=True`` turns it on for the workers it hosts.
    """

    receives_all_messages = False

    def __init__(
        self,
        name: str | None = None,
        *,
        active: bool = True,
        check_dangling_tasks: bool = True,
        task_manager: TaskManager | None = None,
        refuse_unhandled_jobs: bool = False,
    ) -> None:
        super().__init__(task_manager)
        self._name = name or f"{type(self).__name__}#{next(_counter)}"
        self._bus: WorkerBus | None = None
        self._registry: WorkerRegistry | None = None
        self._worker_runner: WorkerRunner | None = None
        self._check_dangling_tasks = check_dangling_tasks and task_manager is not None
        self.refuse_unhandled_jobs = refuse_unhandled_jobs
        events = self._event_port()
        self._lifecycle = Lifecycle(self, events, collect_worker_ready_handlers(self))
        self._activation = Activation(self, events, active=active)
        self._job_server = JobServer(self, events, collect_job_handlers(self))
        self._job_client = JobClient(self, events)
        for event in (
            *Lifecycle.EVENTS,
            *Activation.EVENTS,
            *JobServer.EVENTS,
            *JobClient.EVENTS,
            "on_bus_message",
        ):
            self._register_event_handler(event)
        lifecycle, activation = self._lifecycle, self._activation
        server, client = self._job_server, self._job_client
        self._builtin = _BuiltinHandlers(
            {
                BusWorkerErrorMessage: lifecycle.handle_worker_error,
                BusWorkerLocalErrorMessage: lifecycle.handle_worker_error,
                BusEndWorkerMessage: lifecycle.handle_end,
                BusCancelWorkerMessage: lifecycle.handle_cancel,
                BusActivateWorkerMessage: activation.handle_activate,
                BusDeactivateWorkerMessage: activation.handle_deactivate,
                BusJobRequestMessage: server.handle_request,
                BusJobUpdateRequestMessage: server.handle_update_request,
                BusJobCancelMessage: server.handle_cancel,
                BusJobResponseMessage: client.handle_response,
                BusJobResponseUrgentMessage: client.handle_response,
                BusJobUpdateMessage: client.handle_update,
                BusJobUpdateUrgentMessage: client.handle_update,
                BusJobStreamStartMessage: client.handle_stream_start,
                BusJobStreamDataMessage: client.handle_stream_data,
                BusJobStreamEndMessage: client.handle_stream_end,
                BusWorkerStoppedMessage: client.handle_worker_stopped,
            }
        )

    # --- identity and attachment ----------------------------------------------------------

    @property
    def name(self) -> str:
        """Unique name of this worker on its bus."""
        return self._name

    def _error_bus(self) -> WorkerBus | None:
        return self._bus

    @property
    def bus(self) -> WorkerBus:
        """The bus this worker is attached to.

        Raises:
            WorkerError: Before :meth:`attach` (a ``RuntimeError``, as in Pipecat).
        """
        if self._bus is None:
            raise WorkerError(
                f"worker '{self.name}' has no bus: attach() it (or add it to a runner) first"
            )
        return self._bus

    @property
    def registry(self) -> WorkerRegistry:
        """The worker registry shared with this worker's runner.

        Raises:
            WorkerError: Before :meth:`attach`.
        """
        if self._registry is None:
            raise WorkerError(
                f"worker '{self.name}' has no registry: attach() it (or add it to a runner) first"
            )
        return self._registry

    @property
    def worker_runner(self) -> WorkerRunner:
        """The runner hosting this worker.

        Raises:
            WorkerError: If the worker was attached without a runner.
        """
        if self._worker_runner is None:
            raise WorkerError(f"worker '{self.name}' is not hosted by a runner")
        return self._worker_runner

    async def attach(
        self,
        *,
        registry: WorkerRegistry,
        bus: WorkerBus,
        worker_runner: WorkerRunner | None = None,
        jobs: LiveJobs | None = None,
    ) -> None:
        """Attach the worker to a bus and registry, and subscribe it.

        Runners call this from ``add_workers()``; after it the worker is listening,
        so messages sent by workers started later reach it. The registry is made a tap
        of the bus, so it learns about workers from the messages themselves.
        """
        self._registry = registry
        self._bus = bus
        self._worker_runner = worker_runner
        self._job_client.attach(jobs, bus.record)
        bus.add_tap(registry)
        registry.set_error_reporter(bus.report_handler_error)
        await bus.subscribe(self)

    async def send_bus_message(self, message: BusMessage) -> None:
        """Send a message on the bus.

        While the worker stops, its messages (cancels, CANCELLED answers, its stop
        announcement) go out even if a strict event log has failed.

        Raises:
            WorkerError: If the worker is not attached to a bus.
        """
        if self._lifecycle.stopping:
            with shutdown_sends():
                await self.bus.send(message)
        else:
            await self.bus.send(message)

    def __str__(self) -> str:
        return self.name

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def parent(self) -> str | None:
        """The parent worker's name, or None for a root worker."""
        return self._lifecycle.parent

    @property
    def children(self) -> list[BaseWorker]:
        """The child workers added with :meth:`add_workers`."""
        return self._lifecycle.children

    @property
    def started_at(self) -> float | None:
        """Unix time at which the worker became ready, or None before."""
        return self._lifecycle.started_at

    @property
    def bridged(self) -> bool:
        """Whether the worker receives pipeline frames from the bus (False here)."""
        return False

    async def run(self, params: WorkerParams | None = None) -> None:
        """Run until the worker stops: start, wait for end or cancel, then clean up.

        A cancellation from outside stops the worker (status ``"cancelled"``) and is
        re-raised; an exception stops it as ``"failed"`` and is re-raised.
        """
        try:
            await self.start()
            await self._lifecycle.finished.wait()
        except asyncio.CancelledError:
            self._mark_stop("cancelled", "the worker's task was cancelled")
            raise
        except Exception as exc:
            self._mark_stop("failed", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            await self.stop()
            await self.cleanup()
            if self._check_dangling_tasks:
                self._warn_dangling_tasks()

    def _warn_dangling_tasks(self) -> None:
        current = asyncio.current_task()
        dangling = [t.get_name() for t in self.task_manager.current_tasks() if t is not current]
        if dangling:
            logger.warning("%s stopped with tasks still running: %s", self.name, dangling)

    def _mark_stop(self, status: str, reason: str | None) -> None:
        """Say how the worker stops (``"failed"``, ...), unless something already did."""
        self._lifecycle.mark_stop(status, reason)

    async def start(self) -> None:
        """Announce the worker ready, activate it if it starts active, watch its workers."""
        await self._lifecycle.announce()
        await self._activation.maybe_activate()
        await self._lifecycle.watch_decorated()

    async def stop(self) -> None:
        """Stop: cancel the groups it waits on, answer its jobs CANCELLED, announce it.

        Idempotent. Requesters waiting on this worker's jobs get their answer at once
        instead of waiting for a timeout.
        """
        lifecycle = self._lifecycle
        if not lifecycle.begin_stop():
            return
        await self._job_client.cancel_all(f"worker '{self.name}' stopped")
        await self._job_server.cancel_all()
        if self._bus is not None and lifecycle.started_at is not None:
            await self.send_bus_message(
                BusWorkerStoppedMessage(
                    source=self.name,
                    runner=self.registry.runner_name,
                    status=lifecycle.stop_status,
                    reason=lifecycle.stop_reason,
                )
            )
        lifecycle.finished.set()

    async def end(self, *, reason: str | None = None) -> None:
        """Ask the runner to end the whole session gracefully."""
        await self._lifecycle.end_session(reason)

    async def cancel(self, *, reason: str | None = None) -> None:
        """Ask the runner to cancel the whole session now."""
        await self._lifecycle.cancel_session(reason)

    async def wait(self) -> None:
        """Wait until this worker has stopped."""
        await self._lifecycle.wait()

    async def wait_started(self) -> None:
        """Wait until this worker has announced itself ready (or has stopped)."""
        await self._lifecycle.wait_started()

    async def cleanup(self) -> None:
        """Release the worker: let handlers finish (briefly), cancel its tasks, unsubscribe."""
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current]
        if pending:
            _, still_running = await asyncio.wait(pending, timeout=CLEANUP_GRACE)
            for task in still_running:
                task.cancel()
            if still_running:
                await asyncio.wait(still_running, timeout=CLEANUP_GRACE)
        if self._bus is not None:
            await self._bus.unsubscribe(self)

    async def add_workers(self, *workers: BaseWorker, watch: bool = True) -> None:
        """Add child workers: the runner starts them; this worker ends and cancels them.

        With ``watch`` (the default) this worker's ``on_worker_ready`` fires as each
        child becomes ready.

        Raises:
            WorkerError: If a worker already has a parent, or is this worker.
        """
        for worker in workers:
            if worker is self:
                raise WorkerError(f"worker '{self.name}' cannot be its own child")
            if worker.parent is not None:
                raise WorkerError(
                    f"worker '{worker.name}' already has parent '{worker.parent}'; "
                    f"it cannot also be a child of '{self.name}'"
                )
        for worker in workers:
            worker._parent = self.name
            await self._lifecycle.add_child(worker)
        if watch:
            await self.watch_workers(*(w.name for w in workers))

    async def send_bus_error_message(self, error: str) -> None:
        """Report an error: a child tells its parent only; a root worker tells everyone."""
        await self._lifecycle.send_error(error)

    async def watch_workers(self, *worker_names: str) -> None:
        """Call ``on_worker_ready`` when each named worker is ready (now, if it is)."""
        await self._lifecycle.watch(worker_names)

    # --- activation -----------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether the worker takes bus messages.

        An inactive worker is handed only activation, deactivation, end and cancel
        messages, job cancels and answers to its own job groups. A job request that
        reaches it is answered with an ERROR (pipebus never leaves it unanswered).
        """
        return self._activation.active

    @property
    def activation_args(self) -> dict[str, Any] | None:
        """Arguments of the latest activation, or None while inactive."""
        return self._activation.args

    async def activate_worker(
        self,
        worker_name: str,
        *,
        args: WorkerActivationArgs | None = None,
        deactivate_self: bool = False,
    ) -> None:
        """Activate the worker called ``worker_name``; its ``on_activated`` gets ``args``.

        With ``deactivate_self`` this worker stops taking messages at once (before the
        target is activated), so the two are never active together: a handoff.
        """
        await self._activation.activate_worker(worker_name, args, deactivate_self)

    async def deactivate_worker(self, worker_name: str) -> None:
        """Deactivate the worker called ``worker_name``."""
        await self._activation.deactivate_worker(worker_name)

    # --- the jobs this worker handles -----------------------------------------------------

    @property
    def active_jobs(self) -> dict[str, BusJobRequestMessage]:
        """The job requests this worker is working on, by job id."""
        return self._job_server.jobs

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
        await self._job_server.respond(job_id, response, status, urgent)

    async def send_job_update(
        self, job_id: str, update: dict[str, Any] | None = None, *, urgent: bool = False
    ) -> None:
        """Send progress on a job to its requester.

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        await self._job_server.update(job_id, update, urgent)

    async def send_job_stream_start(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """Start streaming a job's result.

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        await self._job_server.stream_start(job_id, data)

    async def send_job_stream_data(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """Send one chunk of a streamed result.

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        await self._job_server.stream_data(job_id, data)

    async def send_job_stream_end(self, job_id: str, data: dict[str, Any] | None = None) -> None:
        """End the stream; this completes the job (``data`` becomes its response).

        Raises:
            WorkerError: If there is no active job ``job_id``.
        """
        await self._job_server.stream_end(job_id, data)

    # --- the jobs this worker requests ----------------------------------------------------

    @property
    def job_groups(self) -> dict[str, JobGroup]:
        """The job groups this worker launched that have not ended, by job id."""
        return self._job_client.groups

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
        """Wait for the workers to be ready, create the group and send the requests.

        Returns without waiting for answers: use ``group.wait()`` or :meth:`job_group`.

        Raises:
            JobGroupError: If a worker is not ready within the timeout, or has stopped.
            ValueError: If no worker, or the same worker twice, is named.
        """
        group_params = resolve_params(
            params,
            JobGroupParams,
            name=name,
            payload=payload,
            timeout=timeout,
            cancel_on_error=cancel_on_error,
        )
        return await self._job_client.start_group(worker_names, group_params)

    async def request_job(
        self,
        worker_name: str,
        *,
        params: JobParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> str:
        """Send a job to one worker without waiting for its answer; returns the job id."""
        job_params = resolve_params(params, JobParams, name=name, payload=payload, timeout=timeout)
        return await self._job_client.request_job(worker_name, job_params)

    async def request_job_group(
        self,
        *worker_names: str,
        params: JobGroupParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
        cancel_on_error: bool | None = None,
    ) -> str:
        """Send a job to several workers without waiting for answers; returns the job id."""
        group_params = resolve_params(
            params,
            JobGroupParams,
            name=name,
            payload=payload,
            timeout=timeout,
            cancel_on_error=cancel_on_error,
        )
        return await self._job_client.request_job_group(list(worker_names), group_params)

    def job(
        self,
        worker_name: str,
        *,
        params: JobParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> JobContext:
        """``async with self.job("w", payload=...) as t``: one job, its events, its answer."""
        job_params = resolve_params(params, JobParams, name=name, payload=payload, timeout=timeout)
        return self._job_client.job(worker_name, job_params)

    def job_group(
        self,
        *worker_names: str,
        params: JobGroupParams | None = None,
        name: str | None = None,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
        cancel_on_error: bool | None = None,
    ) -> JobGroupContext:
        """``async with self.job_group("a", "b") as tg``: a group, its events, its answers."""
        group_params = resolve_params(
            params,
            JobGroupParams,
            name=name,
            payload=payload,
            timeout=timeout,
            cancel_on_error=cancel_on_error,
        )
        return self._job_client.job_group(list(worker_names), group_params)

    async def request_job_update(self, job_id: str, worker_name: str) -> None:
        """Ask a worker for progress on a job."""
        await self._job_client.request_update(job_id, worker_name)

    async def cancel_job_group(self, job_id: str, *, reason: str | None = None) -> None:
        """Cancel a running group: its workers get a cancel, its waiters a ``JobGroupError``."""
        await self._job_client.cancel_group(job_id, reason)

    async def request_cancel_job_group(self, job_id: str, *, reason: str | None = None) -> bool:
        """Cancel on behalf of an outside requester, if the group allows it.

        Returns:
            Whether the group was cancelled (False: unknown or not cancellable).
        """
        return await self._job_client.request_cancel_group(job_id, reason)

    # --- dispatch -------------------------------------------------------------------------

    def accepts_bus_message(self, message: BusMessage) -> bool:
        """Whether to take a message: everything while active, less when inactive.

        An inactive worker takes lifecycle messages, job requests (refused with an
        ERROR answer), job cancels and answers to its own job groups.
        """
        if self._activation.active:
            return True
        if type(message) in _DELIVERED_WHEN_INACTIVE:
            return True
        job_id = job_id_of(message)
        return job_id is not None and job_id in self._job_client.groups

    async def on_bus_message(self, message: BusMessage) -> None:
        """Handle a delivered message: the bus calls this for each one, as in Pipecat.

        Runs the built-in handling of the message's type (activation, end, cancel,
        jobs, ...), then fires the ``on_bus_message`` event handlers. A message
        targeted at another worker is ignored. Override it to handle your own message
        types, and call ``super().on_bus_message(message)`` for the rest.
        """
        target = message.target
        if target is not None and target != self._name:
            return
        handler = self._builtin[type(message)]
        if handler is not None:
            await handler(message)
        if self._event_handlers["on_bus_message"]:
            self._fire_event("on_bus_message", message)

    # --- Pipecat's private names, which its tests read and set ----------------------------

    @property
    def _finished_event(self) -> asyncio.Event:
        """Set once the worker has stopped."""
        return self._lifecycle.finished

    @property
    def _active(self) -> bool:
        return self._activation.active

    @_active.setter
    def _active(self, value: bool) -> None:
        self._activation.active = value

    @property
    def _pending_activation(self) -> bool:
        return self._activation.pending

    @_pending_activation.setter
    def _pending_activation(self, value: bool) -> None:
        self._activation.pending = value

    @property
    def _parent(self) -> str | None:
        return self._lifecycle.parent

    @_parent.setter
    def _parent(self, value: str | None) -> None:
        self._lifecycle.parent = value

    @property
    def _job_groups(self) -> dict[str, JobGroup]:
        return self._job_client.groups
