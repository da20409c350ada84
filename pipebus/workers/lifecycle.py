"""A worker's lifecycle: readiness, end and cancel, children, errors and watches."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from pipebus.core.errors import WorkerError
from pipebus.core.messages import (
    BusAddWorkerMessage,
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerReadyMessage,
)
from pipebus.core.types import WorkerErrorData, WorkerReadyData
from pipebus.workers.core import WorkerCore
from pipebus.workers.decorators import collect_worker_ready_handlers
from pipebus.workers.event_source import default_hook

if TYPE_CHECKING:
    from pipebus.workers.base import BaseWorker

CLEANUP_GRACE = 1.0
"""Seconds a stopping worker gives its event-handler tasks before cancelling them."""


class LifecycleMixin(WorkerCore):
    """Start, stop, end and cancel a worker; manage its children; report errors."""

    def _init_lifecycle(self) -> None:
        self._children: list[BaseWorker] = []
        self._finished_event = asyncio.Event()
        self._announced = asyncio.Event()
        self._stopped = False
        self._stop_status = "stopped"
        self._stop_reason: str | None = None
        self._worker_ready_handlers = collect_worker_ready_handlers(self)
        for event in ("on_worker_ready", "on_worker_failed"):
            self._register_event_handler(event)

    @property
    def parent(self) -> str | None:
        """The parent worker's name, or None for a root worker."""
        return self._parent

    @property
    def children(self) -> list[BaseWorker]:
        """The child workers added with :meth:`add_workers`."""
        return self._children

    @property
    def started_at(self) -> float | None:
        """Unix time at which the worker became ready, or None before."""
        return self._started_at

    @property
    def bridged(self) -> bool:
        """Whether the worker receives pipeline frames from the bus (False here)."""
        return False

    async def _register_ready(self) -> None:
        self._started_at = time.time()
        # The registry folds this message as it is sent: by the time send() returns
        # the worker is registered and its watchers are scheduled.
        await self.send_bus_message(
            BusWorkerReadyMessage(
                source=self.name,
                runner=self.registry.runner_name,
                parent=self._parent,
                active=self._active,
                bridged=self.bridged,
                started_at=self._started_at,
            )
        )
        self._announced.set()

    async def end(self, *, reason: str | None = None) -> None:
        """Ask the runner to end the whole session gracefully."""
        await self.send_bus_message(BusEndMessage(source=self.name, reason=reason))

    async def cancel(self, *, reason: str | None = None) -> None:
        """Ask the runner to cancel the whole session now."""
        await self.send_bus_message(BusCancelMessage(source=self.name, reason=reason))

    async def wait(self) -> None:
        """Wait until this worker has stopped."""
        await self._finished_event.wait()

    async def wait_started(self) -> None:
        """Wait until this worker has announced itself ready (or has stopped)."""
        announced = asyncio.ensure_future(self._announced.wait())
        finished = asyncio.ensure_future(self._finished_event.wait())
        try:
            await asyncio.wait([announced, finished], return_when=asyncio.FIRST_COMPLETED)
        finally:
            announced.cancel()
            finished.cancel()

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

    # --- children ---------------------------------------------------------------------

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
            if worker._parent is not None:
                raise WorkerError(
                    f"worker '{worker.name}' already has parent '{worker._parent}'; "
                    f"it cannot also be a child of '{self.name}'"
                )
        for worker in workers:
            worker._parent = self.name
            self._children.append(worker)
            await self.send_bus_message(BusAddWorkerMessage(source=self.name, worker=worker))
        if watch:
            await self.watch_workers(*(w.name for w in workers))

    async def _handle_worker_end(self, message: BusEndWorkerMessage) -> None:
        self._stop_status, self._stop_reason = "ended", message.reason
        self._stopping = True
        for child in self._children:
            await self.send_bus_message(
                BusEndWorkerMessage(source=self.name, target=child.name, reason=message.reason)
            )
        await asyncio.gather(*(child.wait() for child in self._children))
        await self.stop()

    async def _handle_worker_cancel(self, message: BusCancelWorkerMessage) -> None:
        self._stop_status, self._stop_reason = "cancelled", message.reason
        self._stopping = True
        for child in self._children:
            await self.send_bus_message(
                BusCancelWorkerMessage(source=self.name, target=child.name, reason=message.reason)
            )
        await self.stop()

    async def stop(self) -> None:
        """Stop the worker (``BaseWorker`` implements it)."""
        raise NotImplementedError

    # --- errors -------------------------------------------------------------------------

    async def send_bus_error_message(self, error: str) -> None:
        """Report an error: a child tells its parent only; a root worker tells everyone."""
        if self._parent is not None:
            await self.send_bus_message(BusWorkerLocalErrorMessage(source=self.name, error=error))
        else:
            await self.send_bus_message(BusWorkerErrorMessage(source=self.name, error=error))

    async def _handle_worker_error(
        self, message: BusWorkerErrorMessage | BusWorkerLocalErrorMessage
    ) -> None:
        if any(child.name == message.source for child in self._children):
            data = WorkerErrorData(worker_name=message.source, error=message.error)
            await self._hook("on_worker_failed", data)
            self._fire_event("on_worker_failed", data)

    @default_hook
    async def on_worker_failed(self, data: WorkerErrorData) -> None:
        """Called when a child worker reports an error."""

    # --- watching -------------------------------------------------------------------------

    async def watch_workers(self, *worker_names: str) -> None:
        """Call ``on_worker_ready`` when each named worker is ready (now, if it is)."""
        for worker_name in worker_names:
            await self.registry.watch(worker_name, self._on_watched_worker_ready)

    async def _watch_decorated_workers(self) -> None:
        await self.watch_workers(*self._worker_ready_handlers)

    async def _on_watched_worker_ready(self, data: WorkerReadyData) -> None:
        handler = self._worker_ready_handlers.get(data.worker_name)
        if handler is not None:
            try:
                await handler(data)
            except Exception as exc:
                self._report_error(f"worker_ready:{data.worker_name}", exc)
        await self._hook("on_worker_ready", data)
        self._fire_event("on_worker_ready", data)

    @default_hook
    async def on_worker_ready(self, data: WorkerReadyData) -> None:
        """Called when a watched worker (children are watched by default) is ready."""
