"""``AsyncQueueBus``: the in-process bus, no serialisation, no network."""

from __future__ import annotations

from pipebus.bus.base import WorkerBus
from pipebus.core.envelope import Envelope
from pipebus.core.messages import BusMessage


class AsyncQueueBus(WorkerBus):
    """In-process bus: a published message goes straight to the subscribers' lanes."""

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Deliver to the local subscribers."""
        self.route(envelope)

    async def publish(self, message: BusMessage) -> None:
        """Stamp ``message`` and deliver it to the local subscribers."""
        self.route(self.stamp(message))
