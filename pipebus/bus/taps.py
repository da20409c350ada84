"""Taps: observers that see every envelope the bus stamps, and optionally every delivery.

A tap is how the event log, the live projections and tracing watch the bus without
being subscribers: they see messages in stamp order, synchronously, including
record-only events and messages nobody receives.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from pipebus.bus.context import ActiveDelivery
from pipebus.core.envelope import Envelope

logger = logging.getLogger("pipebus.bus")


class BusTap(Protocol):
    """Sees each envelope as the bus stamps it.

    Guarantee asked of implementors: ``on_envelope`` returns quickly, never awaits and
    never blocks on I/O (buffer and hand off instead). An exception it raises is
    logged and counted by the bus, and the message goes on.

    A tap that will need the codec's text of each message's fields (the event log's
    recorder) says so with a true ``needs_fields_text`` attribute: while it is on the
    bus, ``send()`` encodes each message before stamping it (a message the codec
    cannot write is refused there) and the envelope carries the text
    (``fields_json``), so the tap never encodes a message itself.
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


class SendGate(Protocol):
    """Asked after each send whether the sender must wait before going on.

    How the event log pushes back: when its buffer is full (or ``durability="sync"``),
    senders wait instead of events being dropped. ``must_wait`` runs on every send and
    must be cheap; ``wait`` may raise to fail the send (a strict log that failed).
    """

    def must_wait(self) -> bool:
        """Whether the sender has to wait now."""

    async def wait(self) -> None:
        """Wait until the sender may go on."""


class DeliveryHold(Protocol):
    """Holds each sent message back until it is stored (a strict event log).

    ``send()`` awaits :meth:`until_stored` after stamping a message and before
    delivering or publishing it; if it raises, the message is not delivered and the
    sender gets the error, so a sender that retries never sends a message twice.
    """

    async def until_stored(self, envelope: Envelope) -> None:
        """Return once the envelope is stored; raise if it cannot be."""


class TraceBridge(Protocol):
    """Joins the bus's trace context to an application's tracer (OpenTelemetry).

    Installed by live tracing only (:attr:`WorkerBus.trace_bridge`); with none, the
    bus pays nothing for it.
    """

    def parent(self, delivery: ActiveDelivery | None) -> tuple[int, int, str | None] | None:
        """The application's current span, if it is not ``delivery``'s own span.

        Returns:
            ``(trace_id, span_id, tracestate)`` to send under, or None to send under
            ``delivery`` (or start a trace when there is none).
        """

    def enter(self, delivery: ActiveDelivery) -> object:
        """Make ``delivery``'s span current for the application while its handler runs."""

    def leave(self, token: object) -> None:
        """Undo :meth:`enter` (given what it returned)."""


class TapSet:
    """The taps of one bus: who sees which envelopes, and how often a tap failed.

    A tap with an ``envelope_types`` attribute (a tuple of message classes) sees only
    envelopes of those types, subclasses included; the set caches that choice per
    message type, so a message costs one dict lookup plus the taps that want it.
    ``need_text`` says whether a tap needs the text of the messages' fields.
    """

    def __init__(self) -> None:
        self.need_text = False
        self._taps: list[BusTap] = []
        self._for_type: dict[type, list[BusTap]] = {}
        self.delivery_taps: list[DeliveryTap] = []
        self.gates: list[SendGate] = []
        self.holds: list[DeliveryHold] = []
        self.errors = 0

    def add(self, tap: BusTap) -> None:
        """Show envelopes to ``tap`` from now on (once, however often it is added)."""
        if tap not in self._taps:
            self._taps.append(tap)
            self._changed()

    def remove(self, tap: BusTap) -> None:
        """Stop showing envelopes to ``tap``."""
        if tap in self._taps:
            self._taps.remove(tap)
            self._changed()

    def _changed(self) -> None:
        self._for_type = {}
        self.need_text = any(getattr(tap, "needs_fields_text", False) for tap in self._taps)

    def add_delivery(self, tap: DeliveryTap) -> None:
        """Show finished deliveries to ``tap`` from now on."""
        if tap not in self.delivery_taps:
            self.delivery_taps.append(tap)

    def remove_delivery(self, tap: DeliveryTap) -> None:
        """Stop showing deliveries to ``tap``."""
        if tap in self.delivery_taps:
            self.delivery_taps.remove(tap)

    def show(self, envelope: Envelope) -> None:
        """Show one envelope to the taps that want its type; a tap that raises is counted."""
        message_type = type(envelope.message)
        taps = self._for_type.get(message_type)
        if taps is None:
            taps = self._for_type[message_type] = [
                tap
                for tap in self._taps
                if (wanted := getattr(tap, "envelope_types", None)) is None
                or issubclass(message_type, wanted)
            ]
        for tap in taps:
            try:
                tap.on_envelope(envelope)
            except Exception:
                self._failed(tap)

    def show_delivery(self, delivery: ActiveDelivery, error: BaseException | None) -> None:
        """Show one finished delivery to the delivery taps."""
        end_ns = time.time_ns()
        for tap in self.delivery_taps:
            try:
                tap.on_delivery(delivery, end_ns, error)
            except Exception:
                self._failed(tap)

    def _failed(self, tap: object) -> None:
        self.errors += 1
        logger.exception("bus tap %r raised; the message goes on", tap)
