"""``BusSubscriber``: what an object implements to receive messages from a bus."""

from __future__ import annotations

from typing import ClassVar

from pipebus.core.messages import BusMessage


class BusSubscriber:
    """Mixin for objects that receive messages from a ``WorkerBus``.

    Implementors give a unique ``name`` and override :meth:`on_bus_message`.
    As in Pipecat, a subscriber receives every message, targeted at it or not. One
    that sets ``receives_all_messages = False`` (every worker and runner does) gets
    only broadcasts and the messages targeted at it, which the bus routes to it
    with one lookup instead of queueing every message for every subscriber.
    Set ``bus_message_types`` to the classes a subscriber handles to have broadcasts
    of other types never queued for it (messages targeted at it still arrive).
    """

    receives_all_messages: ClassVar[bool] = True
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
        """Handle a message; the bus calls this for each delivery."""
