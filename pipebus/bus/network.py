"""``BusNetwork``: several buses in one process linked like runners on a shared transport.

Each bus delivers its own messages locally at once and hands a copy of each envelope
to every other bus on the network, which receives it as a message from another runner
(new local sequence, recorded as remote). Useful to run and test several runners in
one process; between processes use ``RedisBus``.
"""

from __future__ import annotations

import copy

from pipebus.bus.base import WorkerBus
from pipebus.core.envelope import Envelope
from pipebus.core.messages import BusMessage


class BusNetwork:
    """The set of buses that see each other's published messages."""

    def __init__(self) -> None:
        self._buses: list[NetworkBus] = []

    def bus(self) -> NetworkBus:
        """A new bus joined to this network."""
        bus = NetworkBus(self)
        self._buses.append(bus)
        return bus

    def leave(self, bus: NetworkBus) -> None:
        """Take ``bus`` off the network."""
        if bus in self._buses:
            self._buses.remove(bus)

    def carry(self, sender: NetworkBus, envelope: Envelope) -> None:
        """Deliver ``envelope`` to every bus but its sender."""
        for bus in self._buses:
            if bus is not sender and bus.running:
                bus.receive_envelope(copy.copy(envelope))


class NetworkBus(WorkerBus):
    """A bus on a :class:`BusNetwork`: local delivery first, then every other bus."""

    def __init__(self, network: BusNetwork) -> None:
        super().__init__()
        self._network = network

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Deliver locally, then hand the envelope to the other buses of the network."""
        self.route(envelope)
        self._network.carry(self, envelope)

    async def publish(self, message: BusMessage) -> None:
        """Stamp ``message``, deliver it here and on the other buses of the network."""
        await self.publish_envelope(self.stamp(message))

    async def stop(self) -> None:
        """Stop delivering and leave the network."""
        await super().stop()
        self._network.leave(self)
