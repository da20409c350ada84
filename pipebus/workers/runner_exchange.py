"""Registry snapshots between runners: tell the others which workers this runner has.

A runner sends a ``BusWorkerRegistryMessage`` (its ready workers) when its root
workers become ready, and again whenever a runner it has not heard of sends one, so
runners sharing a bus learn each other's workers whichever started first. When
another runner leaves (its goodbye, or silence past its transport's heartbeat
timeout: a ``BusRunnerLeftMessage``), each of its workers still known as ready is
stopped here as ``"lost"``, so jobs waiting on them fail at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from pipebus.bus.base import WorkerBus
from pipebus.core.messages import (
    BusRunnerLeftMessage,
    BusWorkerRegistryMessage,
    BusWorkerStoppedMessage,
)
from pipebus.core.types import WorkerReadyData, WorkerRegistryEntry
from pipebus.live.worker_registry import WorkerRegistry


@runtime_checkable
class RoutesByRunner(Protocol):
    """A transport that sends a targeted message to its target's runner only."""

    def set_runner_lookup(self, lookup: Callable[[str], str | None]) -> None:
        """Use ``lookup(worker_name)`` to find the runner a worker lives on."""


class RegistrySync:
    """One runner's side of the snapshot exchange.

    Args:
        runner_name: The runner.
        bus: Its bus. A transport that routes by runner gets :meth:`runner_of`.
        registry: Its registry (which folds the snapshots it receives).
    """

    def __init__(self, runner_name: str, bus: WorkerBus, registry: WorkerRegistry) -> None:
        self._runner_name = runner_name
        self._bus = bus
        self._registry = registry
        self._due = False
        self.known_runners: set[str] = set()
        if isinstance(bus, RoutesByRunner):
            bus.set_runner_lookup(self.runner_of)

    def runner_of(self, worker_name: str) -> str | None:
        """The runner of the ready worker called ``worker_name``, if the registry knows it."""
        info = self._registry.state.ready(worker_name)
        return None if info is None else info.runner

    async def root_ready(self, data: WorkerReadyData) -> None:
        """A local root worker is ready: send one snapshot for all that start together."""
        if data.runner != self._runner_name or self._due:
            return
        # Workers started together become ready in the same loop turn: one snapshot
        # after that turn tells other runners about all of them.
        self._due = True
        await asyncio.sleep(0)
        self._due = False
        await self.send()

    async def received(self, message: BusWorkerRegistryMessage) -> None:
        """Another runner's snapshot: answer with ours the first time we hear of it."""
        if message.runner == self._runner_name or message.runner in self.known_runners:
            return
        self.known_runners.add(message.runner)
        await self.send()

    def runner_left(self, message: BusRunnerLeftMessage) -> None:
        """Another runner left: stop here, as lost, each of its workers still ready.

        The stops are stamped and delivered on this runner only (every runner sees the
        departure for itself), so the registry forgets those workers and job groups
        waiting on them fail with an error that names the worker.
        """
        runner = message.runner
        if runner == self._runner_name:
            return
        self.known_runners.discard(runner)  # if it comes back, it gets our snapshot again
        reason = f"runner '{runner}' {message.status}"
        if message.reason:
            reason += f": {message.reason}"
        lost = [
            info.name
            for info in self._registry.state.workers.values()
            if info.ready and info.runner == runner
        ]
        for name in lost:
            stopped = BusWorkerStoppedMessage(
                source=name, runner=runner, status="lost", reason=reason
            )
            self._bus.route(self._bus.stamp(stopped))

    async def send(self) -> None:
        """Send this runner's ready workers."""
        workers = [
            WorkerRegistryEntry(
                name=info.name,
                parent=info.parent,
                active=info.active,
                bridged=info.bridged,
                started_at=info.started_at,
            )
            for info in self._registry.state.workers.values()
            if info.ready and info.runner == self._runner_name
        ]
        if workers and self._bus.running:
            await self._bus.send(
                BusWorkerRegistryMessage(
                    source=self._runner_name, runner=self._runner_name, workers=workers
                )
            )
