"""``WorkerRegistry``: the live registry, the registry projection plus watches and waiters.

The registry is a bus tap. It folds every envelope its bus stamps with
:func:`pipebus.projections.registry.apply` (the same fold a replay runs), then turns
what changed into notifications: watch handlers run when a worker becomes ready,
and waiters resolve or fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from pipebus.core.envelope import Envelope
from pipebus.core.errors import WorkerError
from pipebus.core.messages import (
    BusMessage,
    BusWorkerReadyMessage,
    BusWorkerRegistryMessage,
    BusWorkerStoppedMessage,
)
from pipebus.core.types import WorkerReadyData
from pipebus.projections import registry as projection
from pipebus.projections.registry import RegistryState, WorkerInfo

logger = logging.getLogger("pipebus.live.worker_registry")

WatchHandler = Callable[[WorkerReadyData], Coroutine[Any, Any, None]]
ErrorReporter = Callable[[str, str, BaseException], None]


class WorkerRegistry:
    """Tracks every known worker, local (this runner) and remote (other runners).

    Args:
        runner_name: The runner that owns this registry.
    """

    envelope_types = projection.MESSAGE_TYPES

    def __init__(self, runner_name: str) -> None:
        self._runner_name = runner_name
        self._state: RegistryState = projection.EMPTY
        self._watches: dict[str, list[WatchHandler]] = {}
        self._waiters: dict[str, list[asyncio.Future[WorkerInfo]]] = {}
        self._report: ErrorReporter | None = None
        self._watch_tasks: set[asyncio.Task[None]] = set()
        # The WorkerReadyData handed out for each ready worker: the object given to
        # register(), else one made when the worker became ready; get() returns it.
        self._entries: dict[str, WorkerReadyData] = {}

    @property
    def runner_name(self) -> str:
        """The runner that owns this registry."""
        return self._runner_name

    @property
    def state(self) -> RegistryState:
        """The registry projection as of the last envelope."""
        return self._state

    @property
    def local_workers(self) -> list[str]:
        """Names of the ready workers of this runner."""
        return [
            w.name
            for w in self._state.workers.values()
            if w.ready and w.runner == self._runner_name
        ]

    @property
    def remote_workers(self) -> list[str]:
        """Names of the ready workers of other runners."""
        return [
            w.name
            for w in self._state.workers.values()
            if w.ready and w.runner != self._runner_name
        ]

    def get(self, worker_name: str) -> WorkerReadyData | None:
        """The ready worker called ``worker_name``, or None.

        The same object each time: the one passed to :meth:`register`, if that is
        how the worker came.
        """
        info = self._state.ready(worker_name)
        if info is None:
            return None
        return self._entry(info)

    def _entry(self, info: WorkerInfo) -> WorkerReadyData:
        entry = self._entries.get(info.name)
        if entry is None or entry.runner != info.runner:
            entry = self._entries[info.name] = WorkerReadyData(
                worker_name=info.name, runner=info.runner
            )
        return entry

    def __contains__(self, worker_name: object) -> bool:
        return isinstance(worker_name, str) and self._state.ready(worker_name) is not None

    def set_error_reporter(self, report: ErrorReporter) -> None:
        """Where a failing watch handler is reported: ``report(owner, handler, error)``."""
        self._report = report

    # --- watching ---------------------------------------------------------------

    async def watch(self, worker_name: str, handler: WatchHandler) -> None:
        """Call ``handler`` when ``worker_name`` becomes ready; now, if it already is.

        Watching with the same handler twice does nothing. A handler that raises is
        reported and does not stop the other handlers.
        """
        handlers = self._watches.setdefault(worker_name, [])
        if handler in handlers:
            return
        handlers.append(handler)
        existing = self.get(worker_name)
        if existing is not None:
            await self._run_watch(handler, existing)

    def unwatch(self, worker_name: str, handler: WatchHandler) -> None:
        """Stop calling ``handler`` for ``worker_name``."""
        handlers = self._watches.get(worker_name)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self._watches[worker_name]

    def watch_count(self) -> int:
        """How many watch handlers and waiters are registered (for leak checks)."""
        return sum(len(h) for h in self._watches.values()) + sum(
            len(w) for w in self._waiters.values()
        )

    async def wait_ready(self, worker_names: list[str], timeout: float | None = None) -> None:
        """Wait until every named worker is ready.

        Raises:
            WorkerError: If one of them has stopped, or stops while waited for.
            TimeoutError: If they are not all ready within ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        futures: dict[str, asyncio.Future[WorkerInfo]] = {}
        for name in dict.fromkeys(worker_names):
            info = self._state.workers.get(name)
            if info is not None and info.ready:
                continue
            if info is not None:
                raise WorkerError(_stopped_text(info))
            future: asyncio.Future[WorkerInfo] = loop.create_future()
            self._waiters.setdefault(name, []).append(future)
            futures[name] = future
        if not futures:
            return
        try:
            async with asyncio.timeout(timeout):
                for future in futures.values():
                    await future
        finally:
            for name, future in futures.items():
                self._drop_waiter(name, future)

    def _drop_waiter(self, name: str, future: asyncio.Future[WorkerInfo]) -> None:
        waiters = self._waiters.get(name)
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._waiters[name]
        if not future.done():
            future.cancel()
        elif not future.cancelled():
            future.exception()  # mark it retrieved: the caller already has its answer

    # --- folding -------------------------------------------------------------------

    def on_envelope(self, envelope: Envelope) -> None:
        """Fold one envelope (the bus calls this) and notify what changed."""
        old = self._state
        new = projection.apply(old, envelope)
        if new is old:
            return
        self._state = new
        for name in _names_in(envelope.message):
            before, after = old.ready(name), new.ready(name)
            if after is not None and before is None:
                self._became_ready(after)
            elif before is not None and after is None:
                self._went_away(new.workers.get(name) or before)

    async def register(self, worker_data: WorkerReadyData) -> bool:
        """Register a worker by hand; True if it was new.

        As in Pipecat, the watch handlers of that worker have run when this returns,
        and :meth:`get` returns ``worker_data`` itself. Runners do not need this: the
        registry learns from ``BusWorkerReadyMessage`` and
        ``BusWorkerRegistryMessage`` on the bus.
        """
        if self._state.ready(worker_data.worker_name) is not None:
            return False
        info = WorkerInfo(name=worker_data.worker_name, runner=worker_data.runner)
        self._state = RegistryState(
            self._state.workers.set(info.name, info),
            tuple(n for n in self._state.stopped if n != info.name),
        )
        self._entries[info.name] = worker_data
        self._resolve_waiters(info)
        for handler in list(self._watches.get(info.name, ())):
            await self._run_watch(handler, worker_data)
        return True

    def _became_ready(self, info: WorkerInfo) -> None:
        """A worker became ready through a message: wake its waiters, start its watches.

        The watches run as tasks: a bus tap must not await.
        """
        self._resolve_waiters(info)
        data = self._entry(info)
        for handler in list(self._watches.get(info.name, ())):
            task = asyncio.get_running_loop().create_task(
                self._run_watch(handler, data), name=f"pipebus:watch:{info.name}"
            )
            self._watch_tasks.add(task)
            task.add_done_callback(self._watch_tasks.discard)

    def _resolve_waiters(self, info: WorkerInfo) -> None:
        for future in self._waiters.pop(info.name, []):
            if not future.done():
                future.set_result(info)

    def _went_away(self, info: WorkerInfo) -> None:
        self._entries.pop(info.name, None)
        for future in self._waiters.pop(info.name, []):
            if not future.done():
                future.set_exception(WorkerError(_stopped_text(info)))

    async def _run_watch(self, handler: WatchHandler, data: WorkerReadyData) -> None:
        try:
            await handler(data)
        except Exception as exc:
            owner = getattr(getattr(handler, "__self__", None), "name", self._runner_name)
            if self._report is not None:
                self._report(str(owner), f"watch:{data.worker_name}", exc)
            else:
                logger.exception("watch handler for %r raised", data.worker_name)


def _names_in(message: BusMessage) -> list[str]:
    if isinstance(message, (BusWorkerReadyMessage, BusWorkerStoppedMessage)):
        return [message.source]
    if isinstance(message, BusWorkerRegistryMessage):
        return [entry.name for entry in message.workers]
    return []


def _stopped_text(info: WorkerInfo) -> str:
    reason = f": {info.stop_reason}" if info.stop_reason else ""
    return f"worker '{info.name}' on runner '{info.runner}' has stopped ({info.status}{reason})"
