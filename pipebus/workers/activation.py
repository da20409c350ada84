"""Activation: a worker becoming active or inactive, and handing off to another."""

from __future__ import annotations

from typing import Any, Protocol

from pipebus.core.messages import BusActivateWorkerMessage, BusDeactivateWorkerMessage, BusMessage
from pipebus.core.types import WorkerActivationArgs
from pipebus.workers.event_source import EventPort


class ActivationHost(Protocol):
    """What activation uses of its worker: public members only."""

    @property
    def name(self) -> str:
        """The worker's name."""
        ...

    @property
    def started_at(self) -> float | None:
        """When the worker announced itself ready: it is activated only after that."""
        ...

    async def send_bus_message(self, message: BusMessage) -> None:
        """Send on the bus."""
        ...

    async def deactivate_worker(self, worker_name: str) -> None:
        """Deactivate a worker (itself, in a handoff)."""
        ...


class Activation:
    """Whether a worker is active; activating and deactivating workers by name.

    Uses the worker through :class:`ActivationHost` and its hooks and events
    (``on_activated``, ``on_deactivated``) through an :class:`EventPort`.

    Args:
        host: The worker.
        events: The worker's hooks and events.
        active: Whether the worker starts active (it becomes so once it is ready).

    Attributes:
        active: Whether the worker takes every bus message.
        pending: Whether an activation waits for the worker to be ready.
        args: Arguments of the latest activation, or None while inactive.
    """

    EVENTS = ("on_activated", "on_deactivated")

    def __init__(self, host: ActivationHost, events: EventPort, *, active: bool) -> None:
        self._host = host
        self._events = events
        self.active = active
        self.pending = active
        self.args: dict[str, Any] | None = None

    async def activate_worker(
        self, worker_name: str, args: WorkerActivationArgs | None, deactivate_self: bool
    ) -> None:
        """Activate ``worker_name``; with ``deactivate_self`` this worker first stops at once."""
        host = self._host
        if self.active and deactivate_self:
            self.active = False
            await host.deactivate_worker(host.name)
        await host.send_bus_message(
            BusActivateWorkerMessage(
                source=host.name, target=worker_name, args=args.to_dict() if args else None
            )
        )

    async def deactivate_worker(self, worker_name: str) -> None:
        """Deactivate the worker called ``worker_name``."""
        await self._host.send_bus_message(
            BusDeactivateWorkerMessage(source=self._host.name, target=worker_name)
        )

    async def maybe_activate(self) -> None:
        """Carry out a pending activation once the worker is ready."""
        if self._host.started_at is None or not self.pending:
            return
        self.active = True
        self.pending = False
        await self._events.hook("on_activated", self.args)
        self._events.fire("on_activated", self.args)

    async def handle_activate(self, message: BusActivateWorkerMessage) -> None:
        """Activated: now if the worker is ready, else once it is."""
        self.args = message.args
        self.pending = True
        await self.maybe_activate()

    async def handle_deactivate(self, message: BusDeactivateWorkerMessage) -> None:
        """Deactivated: at once, dropping any pending activation."""
        self.active = False
        self.pending = False
        self.args = None
        await self._events.hook("on_deactivated")
        self._events.fire("on_deactivated")
