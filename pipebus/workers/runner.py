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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pipebus.bus.async_queue import AsyncQueueBus
from pipebus.bus.base import WorkerBus
from pipebus.bus.context import shutdown_sends
from pipebus.bus.subscriber import BusSubscriber
from pipebus.core.errors import BusError, DuplicateNameError
from pipebus.core.messages import (
    BusAddWorkerMessage,
    BusCancelMessage,
    BusCancelWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusMessage,
    BusRunnerLeftMessage,
    BusWorkerRegistryMessage,
)
from pipebus.core.types import WorkerErrorData
from pipebus.live.live_jobs import LiveJobs
from pipebus.live.worker_registry import WorkerRegistry
from pipebus.workers.base import BaseWorker
from pipebus.workers.event_source import EventSource
from pipebus.workers.hosting import HostedWorkers
from pipebus.workers.loop_watchdog import LoopWatchdog, threshold_from
from pipebus.workers.recording import DEFAULT_LOG, SessionRecording, _DefaultLog
from pipebus.workers.runner_exchange import RegistrySync
from pipebus.workers.session_tracing import SessionTracing
from pipebus.workers.signals import SignalHandling
from pipebus.workers.stuck_tasks import end_stuck_tasks, owner_of_bus_task

if TYPE_CHECKING:
    from pipebus.eventlog.recorder import Durability, Recorder
    from pipebus.eventlog.store import EventLog
    from pipebus.tracing.live import LiveTracer
    from pipebus.tracing.setup import TracingSettings

logger = logging.getLogger("pipebus.runner")


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
        event_log: Where sessions are recorded: a path, a URL, an open ``EventLog``, or
            None (recording off). Default: ``$PIPEBUS_EVENT_LOG``, else ``./pipebus.db``.
        session_name: A name for the recorded sessions, shown by tools.
        session_id: Record into this session id (runners of one distributed session
            share it, on a PostgreSQL log); default: a new id per ``run()``.
        durability: ``"batch"`` (default), ``"full"`` or ``"sync"``: see the README.
        strict: Deliver a sent message only once its event is committed; a send whose
            event cannot be stored raises ``EventLogError``, undelivered.
        record_deliveries: ``"all"``: every delivery's timing and outcome, so that an
            export rebuilds exactly the spans live tracing reported; ``"errors"``:
            failed deliveries only (about half the recording cost on a busy bus; an
            export infers the others). Default (None): ``"all"`` when the runner
            traces live, ``"errors"`` when it does not.
        snapshot_every: Events between snapshots of the registry and jobs (default 1000).
        log_buffer: Events the recorder buffers before senders wait (default 5,000; more
            for a distant PostgreSQL, whose commits take longer).
        tracing: Live OpenTelemetry tracing: None (default: when configured, see
            :mod:`pipebus.tracing.setup`), True, False, or ``TracingSettings``.
        refuse_unhandled_jobs: Make every worker this runner hosts answer a job it
            has no handler for with an ``ERROR`` at once (see ``BaseWorker``).
        loop_blocked_ms: Record a ``BusLoopBlockedMessage`` whenever the event loop is
            blocked this many milliseconds or longer (``0``: no watchdog). Default:
            ``$PIPEBUS_LOOP_BLOCKED_MS`` (a number, or ``off``), else 100. See
            :mod:`pipebus.workers.loop_watchdog`.

    Event handlers: ``on_ready(runner)`` once the runner has started its workers;
    ``on_error(runner, data: WorkerErrorData)`` when a worker's ``run()`` raises.
    """

    receives_all_messages = False
    bus_message_types = (
        BusEndMessage,
        BusCancelMessage,
        BusAddWorkerMessage,
        BusWorkerRegistryMessage,
        BusRunnerLeftMessage,
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
        event_log: EventLog | str | Path | _DefaultLog | None = DEFAULT_LOG,
        session_name: str | None = None,
        session_id: str | None = None,
        durability: Durability = "batch",
        strict: bool = False,
        record_deliveries: Literal["errors", "all"] | None = None,
        snapshot_every: int = 1000,
        log_buffer: int = 5_000,
        tracing: bool | TracingSettings | None = None,
        refuse_unhandled_jobs: bool = False,
        loop_blocked_ms: float | None = None,
    ) -> None:
        super().__init__()
        self._refuse_unhandled_jobs = refuse_unhandled_jobs
        self._name = name or f"runner-{uuid.uuid4().hex[:8]}"
        threshold = threshold_from(loop_blocked_ms)
        self._watchdog = LoopWatchdog(threshold, self._name) if threshold else None
        self._bus = bus if bus is not None else AsyncQueueBus()
        self._bus.runner_name = self.name
        self._bus.lane_stop_grace = shutdown_timeout
        self._registry = WorkerRegistry(runner_name=self.name)
        self._registry.set_error_reporter(self._bus.report_handler_error)
        self._live_jobs = LiveJobs()
        self._bus.add_tap(self._registry)
        self._bus.add_tap(self._live_jobs)
        self._workers = HostedWorkers()
        self._registry_sync = RegistrySync(self._name, self._bus, self._registry)
        self._phase = "idle"  # idle -> running -> ending|cancelling -> done
        self._auto_end = True
        self._shutdown = asyncio.Event()
        self._started = asyncio.Event()
        self._shutdown_timeout = shutdown_timeout
        self._signals = SignalHandling(self, sigint=handle_sigint, sigterm=handle_sigterm)
        self._force_gc = force_gc
        if session_id is not None:
            self._bus.session_id = session_id
        self._recording = SessionRecording(
            event_log,
            name=session_name,
            durability=durability,
            strict=strict,
            record_deliveries=record_deliveries,
            snapshot_every=snapshot_every,
            buffer_size=log_buffer,
        )
        self._tracing = SessionTracing(tracing)
        self._cancel_requested = False
        self._before_run: tuple[Callable[[str | None], Awaitable[None]], str | None] | None = None
        self._register_event_handler("on_ready")
        self._register_event_handler("on_error")

    @property
    def loop_watchdog(self) -> LoopWatchdog | None:
        """The loop watchdog (None when ``loop_blocked_ms=0`` turned it off)."""
        return self._watchdog

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
    def session_id(self) -> str:
        """The id of the session this runner records (its bus's)."""
        return self._bus.session_id

    @property
    def recorder(self) -> Recorder | None:
        """The recorder of the running session, if it is recorded."""
        return self._recording.recorder

    @property
    def tracer(self) -> LiveTracer | None:
        """The live tracer of the running session, if it is traced."""
        return self._tracing.tracer

    async def flush(self) -> None:
        """Wait until every event so far is committed to the event log."""
        if self._recording.recorder is not None:
            await self._recording.recorder.flush()

    @property
    def phase(self) -> str:
        """``"idle"``, ``"running"``, ``"ending"``, ``"cancelling"`` or ``"done"``."""
        return self._phase

    async def wait_started(self) -> None:
        """Wait until the runner runs and each of its workers has announced itself ready.

        A worker that stopped before announcing itself counts as started.
        """
        await self._started.wait()
        await self._workers.wait_started()

    def cancel_worker_tasks(self) -> None:
        """Cancel every worker's task at once: the last resort of a shutdown."""
        self._workers.cancel_tasks()

    def get_worker(self, name: str) -> BaseWorker | None:
        """The worker of this runner called ``name``, if any."""
        hosted = self._workers.get(name)
        return hosted.worker if hosted is not None else None

    # --- workers --------------------------------------------------------------------

    async def add_workers(self, *workers: BaseWorker) -> None:
        """Attach workers to this runner's bus and registry, and start them if running.

        While the runner runs, this returns once each worker has announced itself
        ready. Adding the same worker object twice does nothing.

        Raises:
            DuplicateNameError: If another worker of this runner has the same name.
        """
        # Subscribed from the first worker on, so that what workers send before run()
        # (a child added with add_workers) reaches the runner once the bus starts.
        await self.bus.subscribe(self)
        for worker in workers:
            hosted = self._workers.get(worker.name)
            if hosted is not None:
                if hosted.worker is worker:
                    continue
                raise DuplicateNameError(
                    f"runner '{self.name}' already has a worker named '{worker.name}'"
                )
            if self._refuse_unhandled_jobs:
                worker.refuse_unhandled_jobs = True
            await worker.attach(
                registry=self.registry, bus=self.bus, worker_runner=self, jobs=self._live_jobs
            )
            hosted = self._workers.add(worker)
            if worker.parent is None:
                await self.registry.watch(worker.name, self._registry_sync.root_ready)
            if self._phase == "running":
                self._workers.start(hosted, self._run_worker)
                await worker.wait_started()

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
                if not any(h.running for h in self._workers.roots() if h.worker is not worker):
                    self._shutdown.set()

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
        status = "failed"
        try:
            await self._recording.begin(self)
            await self._tracing.begin(self.bus)
            if self._tracing.tracer is not None:
                self._recording.traced()
            await self.bus.subscribe(self)
            await self.bus.start()
            if self._watchdog is not None:
                self._watchdog.start(self.bus)
            self._signals.install()
            for hosted in self._workers.all():
                self._workers.start(hosted, self._run_worker)
            # As in Pipecat, on_ready's handlers are scheduled before anything the
            # workers do once started (a handoff in a ready handler comes after them).
            await self._call_event_handler("on_ready")
            await asyncio.sleep(0)
            self._started.set()
            early, self._before_run = self._before_run, None
            if early is not None:  # end() or cancel() was called before run()
                ask, reason = early
                await ask(reason)
            if auto_end and not self._workers.all():
                logger.warning(
                    "runner %s has no workers: run() returns at once and its bus refuses "
                    "sends from then on; add workers first, or run(auto_end=False)",
                    self.name,
                )
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
            status = "cancelled" if self._cancel_requested else "ended"
        finally:
            self._signals.remove()
            await self.cleanup_tasks()
            await self.bus.unsubscribe(self)
            await self.bus.stop()
            await end_stuck_tasks(self.bus, self._tasks_left(), self._shutdown_timeout)
            # Nothing delivers or writes what is sent from now on: refuse it (a later
            # bus.start() by the application takes sends again).
            self.bus.refuse_sends(f"runner '{self.name}' has finished (its run() returned)")
            if self._watchdog is not None:
                self._watchdog.stop()
            # Tracing ends first: spans it loses up to its final flush (a collector
            # down) are recorded in the session, for `pipebus export --only-lost`.
            try:
                await self._tracing.end()
            finally:
                try:
                    await self._recording.end(status)
                finally:
                    self._phase = "done"
        if self._force_gc:
            await asyncio.to_thread(gc.collect)
        if cancelled_from_outside:
            raise asyncio.CancelledError

    def _tasks_left(self) -> list[tuple[str, asyncio.Task[Any]]]:
        """The tasks of this runner's workers and bus still running after the shutdown.

        Each worker's task, and every task of a worker's or the bus's task manager that
        was cancelled and has not ended (a task manager may be shared: tasks nobody
        cancelled are left alone).
        """
        left: list[tuple[str, asyncio.Task[Any]]] = []
        for hosted in self._workers.all():
            name = hosted.worker.name
            if hosted.task is not None and not hosted.task.done():
                left.append((name, hosted.task))
            left.extend(
                (name, t) for t in hosted.worker.task_manager.current_tasks() if t.cancelling()
            )
        for task in self.bus.task_manager.current_tasks():
            if task.cancelling():
                left.append((owner_of_bus_task(task, self.name), task))
        return left

    async def _shut_down_workers(self) -> None:
        timeout = self._shutdown_timeout
        if not await self._workers.wait(timeout) and self._phase == "ending":
            logger.warning("runner %s: workers did not end in %ss; cancelling", self.name, timeout)
            await self.cancel(reason="graceful end timed out")
            await self._workers.wait(timeout)
        if self._phase == "running":  # auto-end: every root finished on its own
            self._phase = "ending"
            await self._send_to_running_roots(BusEndWorkerMessage, "runner ending")
            await self._workers.wait(timeout)
        leftovers = self._workers.cancel_tasks()
        if leftovers:
            logger.warning("runner %s: cancelled %d worker task(s)", self.name, len(leftovers))
            await asyncio.wait(leftovers, timeout=timeout)

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
        """End gracefully (idempotent; not once cancelling): roots get an end, then a cancel.

        Called before :meth:`run`, the end is kept and sent once ``run()`` has started
        the workers, and ``run()`` then returns when they have ended (as in Pipecat).
        """
        if self._phase == "idle":
            if self._before_run is None:
                self._before_run = (self.end, reason)
            return
        if self._phase != "running":
            return
        self._phase = "ending"
        self._shutdown.set()
        await self._send_to_running_roots(BusEndWorkerMessage, reason)

    async def cancel(self, reason: str | None = None) -> None:
        """Cancel now (idempotent): root workers get a cancel. After :meth:`end` it escalates.

        Called before :meth:`run`, the cancel is kept and carried out as soon as
        ``run()`` has started the workers.
        """
        if self._phase == "idle":
            self._before_run = (self.cancel, reason)
            return
        if self._phase in ("cancelling", "done"):
            return
        if self._phase != "ending" or reason != "graceful end timed out":
            self._cancel_requested = True
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
        with shutdown_sends():
            for hosted in self._workers.roots():
                if hosted.running:
                    await self.bus.send(
                        message_type(source=self.name, target=hosted.worker.name, reason=reason)
                    )

    # --- bus -----------------------------------------------------------------------------

    async def on_bus_message(self, message: BusMessage) -> None:
        """Handle runner-level messages: end, cancel, add worker, registry, runners leaving."""
        if isinstance(message, BusEndMessage):
            self.create_task(self.end(message.reason), "end")
        elif isinstance(message, BusCancelMessage):
            self.create_task(self.cancel(message.reason), "cancel")
        elif isinstance(message, BusAddWorkerMessage):
            if isinstance(message.worker, BaseWorker):
                await self.add_workers(message.worker)
            else:
                logger.error(
                    "runner %s: %s asked to add %r, which is not a BaseWorker; not added",
                    self.name,
                    message.source,
                    message.worker,
                )
        elif isinstance(message, BusWorkerRegistryMessage):
            await self._registry_sync.received(message)
        elif isinstance(message, BusRunnerLeftMessage):
            self._registry_sync.runner_left(message)

    def __repr__(self) -> str:
        return f"WorkerRunner({self.name!r}, phase={self._phase!r})"


class PipelineRunner(WorkerRunner):
    """Deprecated alias of :class:`WorkerRunner`, kept as Pipecat keeps it.

    Creating one warns with a ``DeprecationWarning``; it behaves as ``WorkerRunner``.
    """

    def __init__(self, **kwargs: Any) -> None:
        warnings.warn(
            "`PipelineRunner` is deprecated since Pipecat 1.3.0 and will be removed in 2.0.0. "
            "Use `WorkerRunner` instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(**kwargs)
