"""Taps: observers that see every envelope the bus stamps, and optionally every delivery.

A tap is how the event log, the live projections and tracing watch the bus without
being subscribers: they see messages in stamp order, synchronously, including
record-only events and messages nobody receives.
"""

from __future__ import annotations

from typing import Protocol

from pipebus.bus.context import ActiveDelivery
from pipebus.core.envelope import Envelope


class BusTap(Protocol):
    """Sees each envelope as the bus stamps it.

    Guarantee asked of implementors: ``on_envelope`` returns quickly, never awaits and
    never blocks on I/O (buffer and hand off instead). An exception it raises is
    logged and counted by the bus, and the message goes on.
    """

    def on_envelope(self, envelope: Envelope) -> None:
        """Observe one stamped envelope."""


class DeliveryTap(Protocol):
    """Sees each finished delivery: which subscriber handled which message, how long.

    Same guarantee as :class:`BusTap`. ``error`` is the exception the handler raised,
    or None.
    """

    def on_delivery(
        self, delivery: ActiveDelivery, end_ns: int, error: BaseException | None
    ) -> None:
        """Observe one delivery after its handler returned or raised."""
