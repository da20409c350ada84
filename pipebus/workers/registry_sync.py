"""Registry snapshots between runners: tell the others which workers this runner has.

A runner sends a ``BusWorkerRegistryMessage`` (its ready workers) when its root
workers become ready, and again whenever a runner it has not heard of sends one, so
runners sharing a bus learn each other's workers whichever started first.
"""

from __future__ import annotations

import asyncio

from pipebus.bus.base import WorkerBus
from pipebus.messages import BusWorkerRegistryMessage
from pipebus.registry import WorkerRegistry
from pipebus.types import WorkerReadyData, WorkerRegistryEntry


class RegistrySync:
    """One runner's side of the snapshot exchange.

    Args:
        runner_name: The runner.
        bus: Its bus.
        registry: Its registry (which folds the snapshots it receives).
    """

    def __init__(self, runner_name: str, bus: WorkerBus, registry: WorkerRegistry) -> None:
        self._runner_name = runner_name
        self._bus = bus
        self._registry = registry
        self._due = False
        self.known_runners: set[str] = set()

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
