"""``BusSubscriber``: what an object implements to receive messages from a bus."""

from __future__ import annotations

from typing import ClassVar

from pipebus.messages import BusMessage


class BusSubscriber:
    """Mixin for objects that receive messages from a ``WorkerBus``.

    Implementors give a unique ``name`` and override :meth:`on_bus_message`.
    A targeted message reaches only the subscriber of that name; a broadcast reaches
    every subscriber. Set ``receives_all_messages = True`` on an observer that must
    also see messages targeted at others (the bus then queues those for it too).
    Set ``bus_message_types`` to the classes a subscriber handles to have broadcasts
    of other types never queued for it (messages targeted at it still arrive).
    """

    receives_all_messages: ClassVar[bool] = False
    bus_message_types: ClassVar[tuple[type[BusMessage], ...] | None] = None

    @property
    def name(self) -> str:
        """Unique name of this subscriber on its bus."""
        raise NotImplementedError

    def accepts_bus_message(self, message: BusMessage) -> bool:
        """Whether to hand this message to this subscriber; checked at delivery time.

        Returning False skips the message for this subscriber alone (the bus counts
        it as filtered). The default takes everything.
        """
        return True

    async def on_bus_message(self, message: BusMessage) -> None:
        """Handle a message."""

    async def receive_bus_message(self, message: BusMessage) -> None:
        """What the bus calls for each delivery; the default calls :meth:`on_bus_message`.

        ``BaseWorker`` runs its built-in handling (activation, jobs, ...) here before
        calling ``on_bus_message``, so an override of ``on_bus_message`` need not call
        ``super()``.
        """
        await self.on_bus_message(message)
