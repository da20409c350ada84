"""``WorkerRunner``: hosts workers on a bus, runs them, and ends or cancels them together.

Shutdown is graceful first: root workers get ``BusEndWorkerMessage`` and
``shutdown_timeout`` seconds to finish; what is still running then gets
``BusCancelWorkerMessage``; what survives that is cancelled as a task. A ``cancel()``
at any point skips straight to the cancel step.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
import warnings
from dataclasses import dataclass, field

from pipebus.bus.async_queue import AsyncQueueBus
from pipebus.bus.base import WorkerBus
from pipebus.bus.subscriber import BusSubscriber
from pipebus.errors import BusError, DuplicateNameError
from pipebus.live_jobs import LiveJobs
from pipebus.messages import (
    BusAddWorkerMessage,
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusMessage,
    BusWorkerRegistryMessage,
)
from pipebus.registry import WorkerRegistry
from pipebus.types import WorkerErrorData, WorkerReadyData, WorkerRegistryEntry
from pipebus.workers.base import BaseWorker
from pipebus.workers.events import EventSource
from pipebus.workers.signals import SignalHandling

logger = logging.getLogger("pipebus.runner")


@dataclass
class _Entry:
    worker: BaseWorker
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class WorkerRunner(EventSource, BusSubscriber):
    """Runs workers on a bus, with a registry, signal handling and a graceful shutdown.

    Args:
        name: Unique name of the runner (default ``runner-<random>``); unique across
            runners sharing a bus.
        bus: The bus; a new ``AsyncQueueBus`` by default.
        handle_sigint: Cancel the runner on SIGINT (Ctrl+C).
        handle_sigterm: Cancel the runner on SIGTERM.
        force_gc: Run a garbage collection after the workers finish.
        loop: Ignored; the running loop is used (kept for Pipecat compatibility).
        shutdown_timeout: Seconds each shutdown step waits before escalating
            (end, then cancel, then task cancellation).

    Event handlers: ``on_ready(runner)`` once the runner has started its workers;
    ``on_error(runner, data: WorkerErrorData)`` when a worker's ``run()`` raises.
    """

    bus_message_types = (
        BusEndMessage,
        BusCancelMessage,
        BusAddWorkerMessage,
        BusWorkerRegistryMessage,
    )

    def __init__(
        self,
        *,
        name: str | None = None,
        bus: WorkerBus | None = None,
        handle_sigint: bool = True,
        handle_sigterm: bool = False,
        force_gc: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        shutdown_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self._name = name or f"runner-{uuid.uuid4().hex[:8]}"
        self._bus = bus if bus is not None else AsyncQueueBus()
        self._bus.runner_name = self.name
        self._registry = WorkerRegistry(runner_name=self.name)
        self._registry.set_error_reporter(self._bus.report_handler_error)
        self._live_jobs = LiveJobs()
        self._bus.add_tap(self._registry)
        self._bus.add_tap(self._live_jobs)
        self._entries: dict[str, _Entry] = {}
        self._known_runners: set[str] = set()
        self._snapshot_due = False
        self._phase = "idle"  # idle -> running -> ending|cancelling -> done
        self._auto_end = True
        self._shutdown = asyncio.Event()
        self._started = asyncio.Event()
        self._shutdown_timeout = shutdown_timeout
        self._signals = SignalHandling(self, sigint=handle_sigint, sigterm=handle_sigterm)
        self._force_gc = force_gc
        self._register_event_handler("on_ready")
        self._register_event_handler("on_error")

    @property
    def name(self) -> str:
        """The runner's name (unique across runners sharing a bus)."""
        return self._name

    @property
    def bus(self) -> WorkerBus:
        """The runner's bus."""
        return self._bus

    @property
    def registry(self) -> WorkerRegistry:
        """The worker registry this runner owns."""
        return self._registry

    def _error_bus(self) -> WorkerBus:
        return self._bus

    @property
    def jobs(self) -> LiveJobs:
        """The live jobs projection of this runner's bus."""
        return self._live_jobs

    @property
    def phase(self) -> str:
        """``"idle"``, ``"running"``, ``"ending"``, ``"cancelling"`` or ``"done"``."""
        return self._phase

    async def wait_started(self) -> None:
        """Wait until the runner runs and each of its workers has announced itself ready.

        A worker that stopped before announcing itself counts as started.
        """
        await self._started.wait()
        while True:
            pending = [
                e.worker
                for e in self._entries.values()
                if e.running and e.worker.started_at is None
            ]
            if not pending:
                return
            await asyncio.gather(*(worker.wait_started() for worker in pending))

    def cancel_worker_tasks(self) -> None:
        """Cancel every worker's task at once: the last resort of a shutdown."""
        for entry in self._entries.values():
            if entry.task is not None:
                entry.task.cancel()

    def get_worker(self, name: str) -> BaseWorker | None:
        """The worker of this runner called ``name``, if any."""
        entry = self._entries.get(name)
        return entry.worker if entry is not None else None

    # --- workers --------------------------------------------------------------------

    async def add_workers(self, *workers: BaseWorker) -> None:
        """Attach workers to this runner's bus and registry, and start them if running.

        While the runner runs, this returns once each worker has announced itself
        ready. Adding the same worker object twice does nothing.

        Raises:
            DuplicateNameError: If another worker of this runner has the same name.
        """
        for worker in workers:
            entry = self._entries.get(worker.name)
            if entry is not None:
                if entry.worker is worker:
                    continue
                raise DuplicateNameError(
                    f"runner '{self.name}' already has a worker named '{worker.name}'"
                )
            await worker.attach(
                registry=self.registry, bus=self.bus, worker_runner=self, jobs=self._live_jobs
            )
            entry = _Entry(worker)
            self._entries[worker.name] = entry
            if worker.parent is None:
                await self.registry.watch(worker.name, self._on_local_root_ready)
            if self._phase == "running":
                self._start(entry)
                await worker.wait_started()

    def _start(self, entry: _Entry) -> None:
        entry.task = asyncio.get_running_loop().create_task(
            self._run_worker(entry.worker), name=f"pipebus:worker:{entry.worker.name}"
        )

    async def _run_worker(self, worker: BaseWorker) -> None:
        try:
            await worker.run()
        except asyncio.CancelledError:
            pass  # the runner cancelled this task itself, as its last shutdown step
        except Exception as exc:
            self.bus.report_handler_error(worker.name, "run", exc)
            await self._call_event_handler(
                "on_error",
                WorkerErrorData(worker_name=worker.name, error=f"{type(exc).__name__}: {exc}"),
            )
        finally:
            if self._auto_end and worker.parent is None and self._phase == "running":
                if not any(e.running for e in self._roots() if e.worker is not worker):
                    self._shutdown.set()

    def _roots(self) -> list[_Entry]:
        return [e for e in self._entries.values() if e.worker.parent is None]

    # --- running ---------------------------------------------------------------------

    async def run(self, worker: BaseWorker | None = None, *, auto_end: bool = True) -> None:
        """Run the added workers until the runner ends.

        With ``auto_end`` (the default) the runner ends once every root worker has
        finished; otherwise it runs until :meth:`end` or :meth:`cancel`. A cancellation
        of the task running this method shuts the workers down and is re-raised.

        Raises:
            BusError: If the runner is already running or has run.
        """
        if self._phase != "idle":
            raise BusError(f"runner '{self.name}' is {self._phase}; a runner runs once")
        if worker is not None:
            warnings.warn(
                "WorkerRunner.run(worker) is deprecated: add_workers() then run()",
                DeprecationWarning,
                stacklevel=2,
            )
            await self.add_workers(worker)
        self._auto_end = auto_end
        self._phase = "running"
        cancelled_from_outside = False
        try:
            await self.bus.subscribe(self)
            await self.bus.start()
            self._signals.install()
            for entry in list(self._entries.values()):
                self._start(entry)
            await asyncio.sleep(0)
            self._started.set()
            await self._call_event_handler("on_ready")
            if auto_end and not self._entries:
                self._shutdown.set()
            try:
                await self._shutdown.wait()
            except asyncio.CancelledError:
                # Shut down cleanly first, then re-raise (below) what came from outside.
                cancelled_from_outside = True
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                await self.cancel(reason="the runner's task was cancelled")
            await self._shut_down_workers()
        finally:
            self._signals.remove()
            await self.cleanup_tasks()
            await self.bus.unsubscribe(self)
            await self.bus.stop()
            self._phase = "done"
        if self._force_gc:
            await asyncio.to_thread(gc.collect)
        if cancelled_from_outside:
            raise asyncio.CancelledError

    async def _shut_down_workers(self) -> None:
        if not await self._wait_workers() and self._phase == "ending":
            logger.warning(
                "runner %s: workers did not end within %ss; cancelling",
                self.name,
                self._shutdown_timeout,
            )
            await self.cancel(reason="graceful end timed out")
            await self._wait_workers()
        if self._phase == "running":  # auto-end: every root finished on its own
            self._phase = "ending"
            await self._send_to_running_roots(BusEndWorkerMessage, "runner ending")
            await self._wait_workers()
        still = [e.task for e in self._entries.values() if e.task is not None and not e.task.done()]
        if still:
            logger.warning(
                "runner %s: cancelling %d worker task(s) that outlived shutdown",
                self.name,
                len(still),
            )
            for task in still:
                task.cancel()
            await asyncio.wait(still, timeout=self._shutdown_timeout)

    async def _wait_workers(self) -> bool:
        tasks = [e.task for e in self._entries.values() if e.task is not None and not e.task.done()]
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=self._shutdown_timeout)
        # Children may have been added (and started) while we waited.
        return not pending and not any(e.running for e in self._entries.values())

    async def cleanup_tasks(self) -> None:
        """Cancel the runner's own helper tasks."""
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self._shutdown_timeout)

    async def stop_when_done(self) -> None:
        """Ask each root worker to end once it has handled what is already queued."""
        await self._send_to_running_roots(BusEndWorkerMessage, "stop when done")

    async def end(self, reason: str | None = None) -> None:
        """End gracefully: root workers get an end first (then a cancel after the timeout).

        Idempotent; ignored once the runner is cancelling.
        """
        if self._phase not in ("idle", "running"):
            return
        self._phase = "ending"
        self._shutdown.set()
        await self._send_to_running_roots(BusEndWorkerMessage, reason)

    async def cancel(self, reason: str | None = None) -> None:
        """Cancel now: root workers get a cancel. After :meth:`end` this escalates.

        Idempotent.
        """
        if self._phase in ("cancelling", "done"):
            return
        self._phase = "cancelling"
        self._shutdown.set()
        await self._send_to_running_roots(BusCancelWorkerMessage, reason)

    async def _send_to_running_roots(
        self,
        message_type: type[BusEndWorkerMessage] | type[BusCancelWorkerMessage],
        reason: str | None,
    ) -> None:
        if not self.bus.running:
            return
        for entry in self._roots():
            if entry.running:
                await self.bus.send(
                    message_type(source=self.name, target=entry.worker.name, reason=reason)
                )

    # --- bus -----------------------------------------------------------------------------

    async def receive_bus_message(self, message: BusMessage) -> None:
        """Handle runner-level messages: end, cancel, add worker, registry snapshots."""
        await self.on_bus_message(message)

    async def on_bus_message(self, message: BusMessage) -> None:
        """Handle runner-level messages: end, cancel, add worker, registry snapshots."""
        if isinstance(message, BusEndMessage):
            self.create_task(self.end(message.reason), "end")
        elif isinstance(message, BusCancelMessage):
            self.create_task(self.cancel(message.reason), "cancel")
        elif isinstance(message, BusAddWorkerMessage):
            await self.add_workers(message.worker)
        elif isinstance(message, BusWorkerRegistryMessage) and message.runner != self.name:
            if message.runner not in self._known_runners:
                self._known_runners.add(message.runner)
                await self._send_registry()

    async def _on_local_root_ready(self, data: WorkerReadyData) -> None:
        # Workers started together become ready in the same loop turn: one snapshot
        # after that turn tells other runners about all of them.
        if data.runner == self.name and not self._snapshot_due:
            self._snapshot_due = True
            await asyncio.sleep(0)
            self._snapshot_due = False
            await self._send_registry()

    async def _send_registry(self) -> None:
        workers = [
            WorkerRegistryEntry(
                name=info.name,
                parent=info.parent,
                active=info.active,
                bridged=info.bridged,
                started_at=info.started_at,
            )
            for info in self.registry.state.workers.values()
            if info.ready and info.runner == self.name
        ]
        if workers and self.bus.running:
            await self.bus.send(
                BusWorkerRegistryMessage(source=self.name, runner=self.name, workers=workers)
            )

    def __repr__(self) -> str:
        return f"WorkerRunner({self.name!r}, phase={self._phase!r})"
