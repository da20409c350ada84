"""The workers a runner hosts, each with the task it runs in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pipebus.workers.base import BaseWorker


@dataclass
class HostedWorker:
    """One hosted worker and its task (None until started)."""

    worker: BaseWorker
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        """Whether its task was started and has not finished."""
        return self.task is not None and not self.task.done()


class HostedWorkers:
    """A runner's workers by name: starting them, waiting for them, cancelling them."""

    def __init__(self) -> None:
        self._by_name: dict[str, HostedWorker] = {}

    def get(self, name: str) -> HostedWorker | None:
        """The hosted worker called ``name``, if any."""
        return self._by_name.get(name)

    def add(self, worker: BaseWorker) -> HostedWorker:
        """Host ``worker`` (not started yet)."""
        hosted = self._by_name[worker.name] = HostedWorker(worker)
        return hosted

    def all(self) -> list[HostedWorker]:
        """Every hosted worker, in the order they were added."""
        return list(self._by_name.values())

    def roots(self) -> list[HostedWorker]:
        """The hosted workers without a parent."""
        return [h for h in self._by_name.values() if h.worker.parent is None]

    def start(
        self, hosted: HostedWorker, run: Callable[[BaseWorker], Coroutine[Any, Any, None]]
    ) -> None:
        """Start ``run(worker)`` as the worker's task."""
        hosted.task = asyncio.get_running_loop().create_task(
            run(hosted.worker), name=f"pipebus:worker:{hosted.worker.name}"
        )

    async def wait_started(self) -> None:
        """Wait until each running worker has announced itself ready (or has stopped)."""
        while True:
            pending = [
                h.worker
                for h in self._by_name.values()
                if h.running and h.worker.started_at is None
            ]
            if not pending:
                return
            await asyncio.gather(*(worker.wait_started() for worker in pending))

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every task; True if none is left running."""
        tasks = self._running_tasks()
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        # Children may have been added (and started) while we waited.
        return not pending and not any(h.running for h in self._by_name.values())

    def cancel_tasks(self) -> list[asyncio.Task[None]]:
        """Cancel every task still running; returns them."""
        running = self._running_tasks()
        for task in running:
            task.cancel()
        return running

    def _running_tasks(self) -> list[asyncio.Task[None]]:
        hosted = self._by_name.values()
        return [h.task for h in hosted if h.task is not None and not h.task.done()]
