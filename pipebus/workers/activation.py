"""Activation: a worker becoming active or inactive, and handing off to another."""

from __future__ import annotations

from typing import Any

from pipebus.core.messages import BusActivateWorkerMessage, BusDeactivateWorkerMessage
from pipebus.core.types import WorkerActivationArgs
from pipebus.workers.core import WorkerCore
from pipebus.workers.event_source import default_hook


class ActivationMixin(WorkerCore):
    """Activate and deactivate workers by name; react to being (de)activated."""

    def _init_activation(self) -> None:
        self._pending_activation = self._active
        self._activation_args: dict[str, Any] | None = None
        for event in ("on_activated", "on_deactivated"):
            self._register_event_handler(event)

    @property
    def active(self) -> bool:
        """Whether the worker takes bus messages.

        An inactive worker is handed only activation, deactivation, end and cancel
        messages, job cancels and answers to its own job groups. A job request that
        reaches it is answered with an ERROR (pipebus never leaves it unanswered).
        """
        return self._active

    @property
    def activation_args(self) -> dict[str, Any] | None:
        """Arguments of the latest activation, or None while inactive."""
        return self._activation_args

    async def activate_worker(
        self,
        worker_name: str,
        *,
        args: WorkerActivationArgs | None = None,
        deactivate_self: bool = False,
    ) -> None:
        """Activate the worker called ``worker_name``; its ``on_activated`` gets ``args``.

        With ``deactivate_self`` this worker stops taking messages at once (before the
        target is activated), so the two are never active together: a handoff.
        """
        if self._active and deactivate_self:
            self._active = False
            await self.deactivate_worker(self.name)
        await self.send_bus_message(
            BusActivateWorkerMessage(
                source=self.name, target=worker_name, args=args.to_dict() if args else None
            )
        )

    async def deactivate_worker(self, worker_name: str) -> None:
        """Deactivate the worker called ``worker_name``."""
        await self.send_bus_message(
            BusDeactivateWorkerMessage(source=self.name, target=worker_name)
        )

    @default_hook
    async def on_activated(self, args: dict[str, Any] | None) -> None:
        """Called when this worker is activated, with the activation's arguments."""

    @default_hook
    async def on_deactivated(self) -> None:
        """Called when this worker is deactivated."""

    async def _maybe_activate(self) -> None:
        if self._started_at is None or not self._pending_activation:
            return
        self._active = True
        self._pending_activation = False
        await self._hook("on_activated", self._activation_args)
        self._fire_event("on_activated", self._activation_args)

    async def _handle_worker_activate(self, message: BusActivateWorkerMessage) -> None:
        self._activation_args = message.args
        self._pending_activation = True
        await self._maybe_activate()

    async def _handle_worker_deactivate(self, message: BusDeactivateWorkerMessage) -> None:
        self._active = False
        self._pending_activation = False
        self._activation_args = None
        await self._hook("on_deactivated")
        self._fire_event("on_deactivated")
