"""``WorkerCore``: what every part of a worker shares: name, bus, registry, parent.

``BaseWorker`` composes its concerns (lifecycle, activation, jobs it handles, jobs
it requests) as mixins over this core, each in its own module.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from pipebus.bus.base import WorkerBus
from pipebus.bus.context import shutdown_sends
from pipebus.bus.subscriber import BusSubscriber
from pipebus.bus.tasks import TaskManager
from pipebus.core.errors import WorkerError
from pipebus.core.messages import BusMessage, WorkerHandle
from pipebus.live.worker_registry import WorkerRegistry
from pipebus.workers.event_source import EventSource

if TYPE_CHECKING:
    from pipebus.live.live_jobs import LiveJobs
    from pipebus.workers.runner import WorkerRunner

_counter = itertools.count(1)


class WorkerCore(EventSource, BusSubscriber, WorkerHandle):
    """Shared state and plumbing of a worker.

    Args:
        name: Unique name of the worker. None gives ``"<ClassName>#<n>"``.
        active: Whether the worker starts active (see ``BaseWorker.active``).
    """

    receives_all_messages = False

    def __init__(
        self,
        name: str | None = None,
        *,
        active: bool = True,
        task_manager: TaskManager | None = None,
    ) -> None:
        super().__init__(task_manager)
        self._name = name or f"{type(self).__name__}#{next(_counter)}"
        self._bus: WorkerBus | None = None
        self._registry: WorkerRegistry | None = None
        self._worker_runner: WorkerRunner | None = None
        self._live_jobs: LiveJobs | None = None
        self._active = active
        self._parent: str | None = None
        self._started_at: float | None = None
        self._stopping = False

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
        self._live_jobs = jobs
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
        if self._stopping:
            with shutdown_sends():
                await self.bus.send(message)
        else:
            await self.bus.send(message)

    def __str__(self) -> str:
        return self.name
