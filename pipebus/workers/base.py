"""``BaseWorker``: a worker on the bus, composed of its lifecycle, activation and job parts.

The bus hands each delivery to :meth:`BaseWorker.on_bus_message`, which runs the
built-in handling for the message's type (one table lookup) and then the
``on_bus_message`` event handlers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pipebus.bus.tasks import TaskManager
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
)
from pipebus.core.routing import job_id_of
from pipebus.core.types import WorkerParams
from pipebus.workers.activation import ActivationMixin
from pipebus.workers.job_answers import JobAnswersMixin
from pipebus.workers.job_handling import JobHandlingMixin
from pipebus.workers.lifecycle import LifecycleMixin

logger = logging.getLogger("pipebus.worker")

Handler = Callable[[Any, Any], Awaitable[None]]

_BUILTIN_NAMES: dict[type[BusMessage], str] = {
    BusWorkerErrorMessage: "_handle_worker_error",
    BusWorkerLocalErrorMessage: "_handle_worker_error",
    BusActivateWorkerMessage: "_handle_worker_activate",
    BusDeactivateWorkerMessage: "_handle_worker_deactivate",
    BusEndWorkerMessage: "_handle_worker_end",
    BusCancelWorkerMessage: "_handle_worker_cancel",
    BusJobRequestMessage: "_handle_job_request",
    BusJobResponseMessage: "_handle_job_response",
    BusJobResponseUrgentMessage: "_handle_job_response",
    BusJobUpdateMessage: "_handle_job_update",
    BusJobUpdateUrgentMessage: "_handle_job_update",
    BusJobUpdateRequestMessage: "_handle_job_update_request",
    BusJobCancelMessage: "_handle_job_cancel",
    BusJobStreamStartMessage: "_handle_job_stream_start",
    BusJobStreamDataMessage: "_handle_job_stream_data",
    BusJobStreamEndMessage: "_handle_job_stream_end",
    BusWorkerStoppedMessage: "_handle_worker_stopped",
}

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

_handler_cache: dict[tuple[type, type], Handler | None] = {}


def _builtin_handler(worker_type: type, message_type: type) -> Handler | None:
    """The built-in handler of a message type (its nearest registered base), cached."""
    key = (worker_type, message_type)
    try:
        return _handler_cache[key]
    except KeyError:
        pass
    handler: Handler | None = None
    for base in message_type.__mro__:
        name = _BUILTIN_NAMES.get(base)
        if name is not None:
            handler = getattr(worker_type, name)
            break
    _handler_cache[key] = handler
    return handler


class BaseWorker(LifecycleMixin, ActivationMixin, JobHandlingMixin, JobAnswersMixin):
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

    def __init__(
        self,
        name: str | None = None,
        *,
        active: bool = True,
        check_dangling_tasks: bool = True,
        task_manager: TaskManager | None = None,
        refuse_unhandled_jobs: bool = False,
    ) -> None:
        super().__init__(name, active=active, task_manager=task_manager)
        self._check_dangling_tasks = check_dangling_tasks and task_manager is not None
        self.refuse_unhandled_jobs = refuse_unhandled_jobs
        self._init_lifecycle()
        self._init_activation()
        self._init_job_handling()
        self._init_job_requests()
        self._register_event_handler("on_bus_message")

    async def run(self, params: WorkerParams | None = None) -> None:
        """Run until the worker stops: start, wait for end or cancel, then clean up.

        A cancellation from outside stops the worker (status ``"cancelled"``) and is
        re-raised; an exception stops it as ``"failed"`` and is re-raised.
        """
        try:
            await self.start()
            await self._finished_event.wait()
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

    def _mark_stop(self, status: str, reason: str) -> None:
        if self._stop_status == "stopped":
            self._stop_status, self._stop_reason = status, reason

    async def start(self) -> None:
        """Announce the worker ready, activate it if it starts active, watch its workers."""
        await self._register_ready()
        await self._maybe_activate()
        await self._watch_decorated_workers()

    async def stop(self) -> None:
        """Stop: cancel the groups it waits on, answer its jobs CANCELLED, announce it.

        Idempotent. Requesters waiting on this worker's jobs get their answer at once
        instead of waiting for a timeout.
        """
        if self._stopped:
            return
        self._stopped = True
        self._stopping = True
        await self._cancel_own_job_groups(f"worker '{self.name}' stopped")
        await self._cancel_active_jobs()
        if self._bus is not None and self._started_at is not None:
            await self.send_bus_message(
                BusWorkerStoppedMessage(
                    source=self.name,
                    runner=self.registry.runner_name,
                    status=self._stop_status,
                    reason=self._stop_reason,
                )
            )
        self._finished_event.set()

    def accepts_bus_message(self, message: BusMessage) -> bool:
        """Whether to take a message: everything while active, less when inactive.

        An inactive worker takes lifecycle messages, job requests (refused with an
        ERROR answer), job cancels and answers to its own job groups.
        """
        if self._active:
            return True
        message_type = type(message)
        if message_type in _DELIVERED_WHEN_INACTIVE:
            return True
        job_id = job_id_of(message)
        return job_id is not None and job_id in self._job_groups

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
        handler = _builtin_handler(type(self), type(message))
        if handler is not None:
            await handler(self, message)
        if self._event_handlers["on_bus_message"]:
            self._fire_event("on_bus_message", message)
