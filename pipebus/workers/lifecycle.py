"""A worker's lifecycle: readiness, end and cancel, children, errors and watches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from pipebus.core.messages import (
    BusAddWorkerMessage,
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerReadyMessage,
)
from pipebus.core.types import WorkerErrorData, WorkerReadyData
from pipebus.workers.event_source import EventPort

if TYPE_CHECKING:
    from pipebus.live.worker_registry import WorkerRegistry
    from pipebus.workers.base import BaseWorker


class LifecycleHost(Protocol):
    """What the lifecycle uses of its worker: public members only."""

    @property
    def name(self) -> str:
        """The worker's name."""
        ...

    @property
    def registry(self) -> WorkerRegistry:
        """The registry (its runner's name; watching workers)."""
        ...

    @property
    def active(self) -> bool:
        """Whether the worker is active (announced in its ready message)."""
        ...

    @property
    def bridged(self) -> bool:
        """Whether it receives pipeline frames (announced in its ready message)."""
        ...

    async def send_bus_message(self, message: BusMessage) -> None:
        """Send on the bus."""
        ...

    async def watch_workers(self, *worker_names: str) -> None:
        """Watch workers (the decorated ones are watched at start)."""
        ...

    async def stop(self) -> None:
        """Stop the worker (what an end or a cancel ends with)."""
        ...


class Lifecycle:
    """A worker's readiness, its stop, its children, the errors they report and its watches.

    Uses the worker through :class:`LifecycleHost` and its hooks and events
    (``on_worker_ready``, ``on_worker_failed``) through an :class:`EventPort`.

    Args:
        host: The worker.
        events: The worker's hooks and events.
        worker_ready_handlers: The worker's ``@worker_ready`` methods, by watched name.

    Attributes:
        parent: The parent worker's name, or None for a root worker.
        children: The child workers, in the order they were added.
        started_at: Unix time at which the worker announced itself ready, or None.
        finished: Set once the worker has stopped.
        stopping: Whether the worker is on its way out (an end, a cancel or a stop).
        stopped: Whether its stop has begun; a stop runs once.
        stop_status: The status its stop announces: ``"stopped"`` until something
            says otherwise (``"ended"``, ``"cancelled"``, ``"failed"``).
        stop_reason: Why, if known.
    """

    EVENTS = ("on_worker_ready", "on_worker_failed")

    def __init__(
        self,
        host: LifecycleHost,
        events: EventPort,
        worker_ready_handlers: Mapping[str, Callable[[WorkerReadyData], Awaitable[None]]],
    ) -> None:
        self._host = host
        self._events = events
        self._ready_handlers = worker_ready_handlers
        self._announced = asyncio.Event()
        self.parent: str | None = None
        self.children: list[BaseWorker] = []
        self.started_at: float | None = None
        self.finished = asyncio.Event()
        self.stopping = False
        self.stopped = False
        self.stop_status = "stopped"
        self.stop_reason: str | None = None

    # --- start and stop -------------------------------------------------------------------

    async def announce(self) -> None:
        """Send the worker's ready message; the registry has it once this returns."""
        host = self._host
        self.started_at = time.time()
        # The registry folds this message as it is sent: by the time send() returns
        # the worker is registered and its watchers are scheduled.
        await host.send_bus_message(
            BusWorkerReadyMessage(
                source=host.name,
                runner=host.registry.runner_name,
                parent=self.parent,
                active=host.active,
                bridged=host.bridged,
                started_at=self.started_at,
            )
        )
        self._announced.set()

    async def wait(self) -> None:
        """Wait until the worker has stopped."""
        await self.finished.wait()

    async def wait_started(self) -> None:
        """Wait until the worker has announced itself ready (or has stopped)."""
        announced = asyncio.ensure_future(self._announced.wait())
        finished = asyncio.ensure_future(self.finished.wait())
        try:
            await asyncio.wait([announced, finished], return_when=asyncio.FIRST_COMPLETED)
        finally:
            announced.cancel()
            finished.cancel()

    def mark_stop(self, status: str, reason: str | None) -> None:
        """Say how the worker stops, unless something already did."""
        if self.stop_status == "stopped":
            self.stop_status, self.stop_reason = status, reason

    def begin_stop(self) -> bool:
        """Begin the stop; False if it had begun already (a stop runs once)."""
        if self.stopped:
            return False
        self.stopped = True
        self.stopping = True
        return True

    # --- the session ----------------------------------------------------------------------

    async def end_session(self, reason: str | None) -> None:
        """Ask the runner to end the whole session gracefully."""
        await self._host.send_bus_message(BusEndMessage(source=self._host.name, reason=reason))

    async def cancel_session(self, reason: str | None) -> None:
        """Ask the runner to cancel the whole session now."""
        await self._host.send_bus_message(BusCancelMessage(source=self._host.name, reason=reason))

    async def handle_end(self, message: BusEndWorkerMessage) -> None:
        """End: end the children, wait for them, then stop."""
        host = self._host
        self.stop_status, self.stop_reason = "ended", message.reason
        self.stopping = True
        for child in self.children:
            await host.send_bus_message(
                BusEndWorkerMessage(source=host.name, target=child.name, reason=message.reason)
            )
        await asyncio.gather(*(child.wait() for child in self.children))
        await host.stop()

    async def handle_cancel(self, message: BusCancelWorkerMessage) -> None:
        """Cancel: cancel the children and stop without waiting for them."""
        host = self._host
        self.stop_status, self.stop_reason = "cancelled", message.reason
        self.stopping = True
        for child in self.children:
            await host.send_bus_message(
                BusCancelWorkerMessage(source=host.name, target=child.name, reason=message.reason)
            )
        await host.stop()

    # --- children -------------------------------------------------------------------------

    async def add_child(self, child: BaseWorker) -> None:
        """Keep ``child`` (already given this worker as parent) and ask the runner to start it."""
        self.children.append(child)
        await self._host.send_bus_message(BusAddWorkerMessage(source=self._host.name, worker=child))

    # --- errors ---------------------------------------------------------------------------

    async def send_error(self, error: str) -> None:
        """Report an error: a child tells its parent only; a root worker tells everyone."""
        host = self._host
        if self.parent is not None:
            await host.send_bus_message(BusWorkerLocalErrorMessage(source=host.name, error=error))
        else:
            await host.send_bus_message(BusWorkerErrorMessage(source=host.name, error=error))

    async def handle_worker_error(
        self, message: BusWorkerErrorMessage | BusWorkerLocalErrorMessage
    ) -> None:
        """A worker reported an error: ``on_worker_failed`` if it is one of the children."""
        if any(child.name == message.source for child in self.children):
            data = WorkerErrorData(worker_name=message.source, error=message.error)
            await self._events.hook("on_worker_failed", data)
            self._events.fire("on_worker_failed", data)

    # --- watching -------------------------------------------------------------------------

    async def watch(self, worker_names: tuple[str, ...]) -> None:
        """Call ``on_worker_ready`` when each named worker is ready (now, if it is)."""
        registry = self._host.registry
        for worker_name in worker_names:
            await registry.watch(worker_name, self._on_watched_worker_ready)

    async def watch_decorated(self) -> None:
        """Watch the workers the ``@worker_ready`` methods name."""
        await self._host.watch_workers(*self._ready_handlers)

    async def _on_watched_worker_ready(self, data: WorkerReadyData) -> None:
        handler = self._ready_handlers.get(data.worker_name)
        if handler is not None:
            try:
                await handler(data)
            except Exception as exc:
                self._events.report_error(f"worker_ready:{data.worker_name}", exc)
        await self._events.hook("on_worker_ready", data)
        self._events.fire("on_worker_ready", data)
