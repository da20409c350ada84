"""``WorkerBus``: stamps, observes, routes and delivers messages between subscribers.

The path of one message: :meth:`WorkerBus.send` stamps an :class:`Envelope` (id,
session, sequence, time, trace context, cause), lets the taps see it (event log,
projections, tracing), then delivers it here (local-only), or hands it to the
transport through :meth:`WorkerBus.publish_envelope`. Whatever the transport brings
back goes through :meth:`WorkerBus.receive_envelope` to the subscribers: a targeted
message to its target's subscription (one dict lookup) and to the subscribers that
watch everything, a broadcast to all.

``send(message)``, ``publish(message)`` and ``on_message_received(message)`` keep
Pipecat's signatures, so a bus written for Pipecat (one that implements ``publish``
and calls ``on_message_received``) runs here unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from pipebus.bus.context import ActiveDelivery, current_delivery, sending_past_gates
from pipebus.bus.message_ids import DIGIT_COUNT
from pipebus.bus.subscriber import BusSubscriber
from pipebus.bus.subscription import BusSubscription
from pipebus.bus.taps import BusTap, DeliveryHold, DeliveryTap, SendGate, TapSet, TraceBridge
from pipebus.bus.tasks import UsesTaskManager
from pipebus.core.codec import encode_message
from pipebus.core.envelope import Envelope
from pipebus.core.errors import BusError, DuplicateNameError
from pipebus.core.ids import root_trace_id
from pipebus.core.messages import BusHandlerErrorMessage, BusMessage
from pipebus.core.routing import Delivery, delivery_of, job_id_of

logger = logging.getLogger("pipebus.bus")


@dataclass(frozen=True, slots=True)
class BusStats:
    """Counters of one bus, read with :attr:`WorkerBus.stats`.

    Attributes:
        stamped: Envelopes stamped (sent here, received from others, record-only).
        received: Envelopes that came from another runner.
        delivered: Messages handed to a subscriber's handler.
        filtered: Deliveries a subscriber refused (``accepts_bus_message``).
        handler_errors: Handlers that raised.
        no_local_target: Targeted messages whose target has no subscription here.
        undelivered_on_stop: Messages still queued when the bus stopped (kept for a
            restart).
        tap_errors: Exceptions raised by taps (logged, then ignored).
    """

    stamped: int
    received: int
    delivered: int
    filtered: int
    handler_errors: int
    no_local_target: int
    undelivered_on_stop: int
    tap_errors: int


class WorkerBus(UsesTaskManager, ABC):
    """Abstract base of the buses: pub/sub where each subscriber has its own lanes.

    A bus written to Pipecat's API implements :meth:`publish` and calls
    :meth:`on_message_received` with what arrives; pipebus's own buses also override
    :meth:`publish_envelope` and call :meth:`receive_envelope`, so the envelope (ids,
    trace context) travels with the message. System messages are delivered ahead of
    queued data messages; messages sent before :meth:`start`, or while the bus is
    stopped, are delivered once it (re)starts.

    Args:
        runner_name: The runner this bus serves; stamped on every envelope. A runner
            sets it; standalone buses get a generated one.
        session_id: The recording session; a runner sets one per ``run()``.
    """

    lane_stop_grace: float = 5.0
    """Seconds :meth:`stop` waits for a subscriber's lane whose handler ignores its
    cancellation before leaving it running and reporting it (a runner sets its
    ``shutdown_timeout``)."""

    carries_fields_text: ClassVar[bool] = False
    """Whether the transport carries the codec's text of every published message.

    Then :meth:`send` encodes a published message before stamping it, as it does for
    every message while a tap needs the text (the event log's recorder), so that a
    message the codec cannot write is refused by ``send()`` itself. The envelope keeps
    the text (``fields_json``): the transport and the log use it, nobody encodes again.
    """

    def __init__(self, *, runner_name: str | None = None, session_id: str | None = None) -> None:
        self._id_prefix = secrets.token_hex(6) + "-"
        self.runner_name = runner_name or f"bus-{self._id_prefix[:-1]}"
        self.session_id = session_id or secrets.token_hex(16)
        self._seq = 0
        self._subscriptions: dict[str, BusSubscription] = {}
        self._broadcast: dict[type, list[BusSubscription]] = {}
        self._observers: list[BusSubscription] = []
        self.taps = TapSet()
        self.trace_bridge: TraceBridge | None = None
        self._running = False
        self._received = 0
        self._handler_errors = 0
        self._no_local_target = 0
        self._undelivered_on_stop = 0
        self._left_delivered = 0
        self._left_filtered = 0
        self._outgoing: dict[int, Envelope] = {}
        self._refusing: str | None = None

    # --- lifecycle ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the bus is delivering messages."""
        return self._running

    async def start(self) -> None:
        """Start delivering: every subscription's lanes begin to drain. Idempotent."""
        if self._running:
            return
        self._running = True
        self._refusing = None
        for subscription in self._subscriptions.values():
            subscription.start()
        await asyncio.sleep(0)

    async def stop(self) -> None:
        """Stop delivering and cancel the lane tasks. Idempotent.

        Messages still queued stay queued for a later :meth:`start`; they are counted
        in ``stats.undelivered_on_stop`` and logged, so none goes unnoticed if the bus
        is never started again.
        """
        if not self._running:
            return
        self._running = False
        left = 0
        for subscription in list(self._subscriptions.values()):
            left += await subscription.stop()
        if left:
            self._undelivered_on_stop += left
            logger.info("bus %s stopped with %d message(s) still queued", self.runner_name, left)

    def refuse_sends(self, reason: str) -> None:
        """Make :meth:`send` raise ``BusError`` (saying ``reason``) until the next :meth:`start`.

        A runner calls this when its ``run()`` returns: its stopped bus would never
        deliver or write what is sent after that, and a send that returns would lose
        the message without a word.
        """
        self._refusing = reason

    async def drain(self) -> None:
        """Wait until every queued message has been handled and no handler runs.

        Raises:
            BusError: If the bus is not running (nothing would ever drain).
        """
        if not self._running:
            raise BusError("drain() needs a running bus: call start() first")
        while True:
            busy = [s.idle() for s in self._subscriptions.values() if not s.is_idle()]
            if not busy:
                return
            await asyncio.gather(*busy)

    # --- subscribers ---------------------------------------------------------------

    async def subscribe(self, subscriber: BusSubscriber) -> None:
        """Register a subscriber. Subscribing the same object again does nothing.

        Raises:
            DuplicateNameError: If a different subscriber already has that name.
        """
        name = subscriber.name
        existing = self._subscriptions.get(name)
        if existing is not None:
            if existing.subscriber is subscriber:
                return
            raise DuplicateNameError(
                f"a different subscriber named {name!r} is already on this bus; "
                "subscriber names must be unique"
            )
        subscription = BusSubscription(subscriber, self)
        self._subscriptions[name] = subscription
        self._rebuild_routes()
        if self._running:
            subscription.start()
            await asyncio.sleep(0)

    async def unsubscribe(self, subscriber: BusSubscriber) -> None:
        """Remove a subscriber and stop its lanes; unknown subscribers are ignored."""
        subscription = self._subscriptions.get(subscriber.name)
        if subscription is None or subscription.subscriber is not subscriber:
            return
        del self._subscriptions[subscriber.name]
        self._rebuild_routes()
        self._left_delivered += subscription.delivered
        self._left_filtered += subscription.filtered
        await subscription.stop()

    def subscription(self, name: str) -> BusSubscription | None:
        """The subscription of the subscriber called ``name``, if any."""
        return self._subscriptions.get(name)

    def _rebuild_routes(self) -> None:
        self._broadcast = {}  # rebuilt per message type on first use
        subscriptions = self._subscriptions.values()
        self._observers = [s for s in subscriptions if s.subscriber.receives_all_messages]

    def _broadcast_to(self, message_type: type) -> list[BusSubscription]:
        """The subscriptions a broadcast of this type goes to (those that want the type)."""
        routes = [
            s
            for s in self._subscriptions.values()
            if s.wants is None or issubclass(message_type, s.wants)
        ]
        self._broadcast[message_type] = routes
        return routes

    # --- taps ------------------------------------------------------------------------

    def add_tap(self, tap: BusTap) -> None:
        """Let ``tap`` see every envelope (of its ``envelope_types``, if it says) from now on."""
        self.taps.add(tap)

    def remove_tap(self, tap: BusTap) -> None:
        """Stop showing envelopes to ``tap``."""
        self.taps.remove(tap)

    def add_delivery_tap(self, tap: DeliveryTap) -> None:
        """Let ``tap`` see every finished delivery."""
        self.taps.add_delivery(tap)

    def remove_delivery_tap(self, tap: DeliveryTap) -> None:
        """Stop showing deliveries to ``tap``."""
        self.taps.remove_delivery(tap)

    def add_gate(self, gate: SendGate) -> None:
        """Make senders wait whenever ``gate`` says so (back-pressure)."""
        if gate not in self.taps.gates:
            self.taps.gates.append(gate)

    def remove_gate(self, gate: SendGate) -> None:
        """Stop consulting ``gate``."""
        if gate in self.taps.gates:
            self.taps.gates.remove(gate)

    def add_hold(self, hold: DeliveryHold) -> None:
        """Deliver each sent message only once ``hold`` says it is stored (strict logs)."""
        if hold not in self.taps.holds:
            self.taps.holds.append(hold)

    def remove_hold(self, hold: DeliveryHold) -> None:
        """Stop holding messages back for ``hold``."""
        if hold in self.taps.holds:
            self.taps.holds.remove(hold)

    # --- sending -----------------------------------------------------------------------

    async def send(self, message: BusMessage) -> None:
        """Send a message: stamp it, show it to the taps, then deliver or publish it.

        Local-only messages are delivered on this runner; record-only events reach the
        taps only; everything else goes to :meth:`publish_envelope`. Afterwards the
        sender waits if a gate (the event log's back-pressure) asks it to, except
        inside :func:`shutdown_sends`, for the messages that must go out even when a
        strict log has failed.

        Raises:
            EncodeError: If the message's fields cannot be encoded while something needs
                their text: a recorder (the event log), or a transport between runners
                for a published message. Nothing is then stamped, recorded or
                delivered. On an in-process bus that records nothing, the message is
                delivered as it is, never encoded.
            EventLogError: From a strict event log (a :class:`DeliveryHold`) that could
                not store the message: it is then not delivered.
            BusError: If the bus refuses sends (its runner has finished, see
                :meth:`refuse_sends`); nothing is stamped, queued or delivered.
        """
        if self._refusing is not None:
            raise BusError(
                f"{self} refuses {type(message).__name__} from {message.source!r}: "
                f"{self._refusing}; nothing would deliver it"
            )
        delivery = delivery_of(type(message))
        fields_json = None
        if self.taps.need_text or (self.carries_fields_text and delivery is Delivery.PUBLISH):
            fields_json = encode_message(message)
        envelope = self.stamp(message, fields_json=fields_json)
        if self.taps.holds and not sending_past_gates():
            for hold in self.taps.holds:
                await hold.until_stored(envelope)  # raises: not stored, so not delivered
        if delivery is Delivery.PUBLISH:
            await self.publish_envelope(envelope)
        elif delivery is Delivery.LOCAL:
            self.route(envelope)
        if self.taps.gates and not sending_past_gates():
            for gate in self.taps.gates:
                if gate.must_wait():
                    await gate.wait()

    def record(self, message: BusMessage) -> Envelope:
        """Stamp a message for the taps without delivering it (record-only events)."""
        return self.stamp(message)

    def stamp(
        self, message: BusMessage, *, remote: bool = False, fields_json: str | None = None
    ) -> Envelope:
        """Build the envelope of a message sent on this bus and show it to the taps.

        Its trace context: the handler's delivery span is its parent when one is
        running (or the application's own span, when tracing is on and one is
        current); otherwise it starts a trace. A job's messages sent outside any
        handler share one trace, derived from the job id. ``remote`` marks a message
        that arrived from another runner without an envelope (from a bus written to
        Pipecat's API). ``fields_json``: the codec's text of the message's fields, when
        the sender has encoded them already.
        """
        self._seq = seq = self._seq + 1
        job_id = job_id_of(message)
        delivery = current_delivery.get()
        outer = self.trace_bridge.parent(delivery) if self.trace_bridge is not None else None
        if outer is not None:
            trace_id, parent_span_id, trace_state = outer
            causation_id = delivery.envelope.message_id if delivery is not None else None
        elif delivery is None:
            trace_id = root_trace_id(job_id) if job_id is not None else random.getrandbits(128) or 1
            parent_span_id = 0
            causation_id = trace_state = None
        else:
            cause = delivery.envelope
            trace_id = cause.trace_id
            parent_span_id = delivery.span_id
            causation_id = cause.message_id
            trace_state = cause.trace_state
        digits = str(seq)  # sorted_message_id, inlined: this is the send path
        envelope = Envelope(
            message,
            self._id_prefix + DIGIT_COUNT[len(digits)] + digits,
            self.session_id,
            seq,
            time.time_ns(),
            self.runner_name,
            trace_id,
            random.getrandbits(64) or 1,
            parent_span_id,
            causation_id,
            remote,
            job_id,
            trace_state,
            fields_json,
        )
        self.taps.show(envelope)
        return envelope

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Hand a stamped envelope to the transport.

        pipebus's own buses override this. The default serves a bus written to
        Pipecat's API, which implements only :meth:`publish`: the message goes there,
        and when that bus hands the same object back to :meth:`on_message_received`
        during the call, it is delivered under the envelope stamped here.
        """
        message = envelope.message
        self._outgoing[id(message)] = envelope
        try:
            await self.publish(message)
        finally:
            self._outgoing.pop(id(message), None)

    @abstractmethod
    async def publish(self, message: BusMessage) -> None:
        """Publish a message to the transport (Pipecat's signature).

        A transport delivers it to this runner's subscribers and to other runners,
        calling :meth:`on_message_received` with what arrives.
        """

    # --- receiving ---------------------------------------------------------------------

    def on_message_received(self, message: BusMessage) -> None:
        """Deliver a message that arrived from the transport (Pipecat's signature).

        The message this bus is publishing comes back under the envelope it was sent
        with; any other is stamped on arrival as a message from another runner, so the
        taps record it once.
        """
        envelope = self._outgoing.pop(id(message), None)
        if envelope is None or envelope.message is not message:
            envelope = self.stamp(message, remote=True)
            self._received += 1
        self.route(envelope)

    def receive_envelope(self, envelope: Envelope) -> None:
        """Deliver an envelope that arrived from pipebus's own transports.

        An envelope from another runner is first given this bus's next sequence number
        and shown to the taps, so every runner records its own view of the session.
        """
        if envelope.runner != self.runner_name:
            self._seq = envelope.seq = self._seq + 1
            envelope.remote = True
            self._received += 1
            self.taps.show(envelope)
        self.route(envelope)

    def route(self, envelope: Envelope) -> None:
        """Queue an envelope for its target's subscription, or for all on a broadcast.

        A broadcast skips subscribers whose ``bus_message_types`` exclude its type.
        """
        message = envelope.message
        target = message.target
        if target is None:
            routes = self._broadcast.get(type(message))
            if routes is None:
                routes = self._broadcast_to(type(message))
            for subscription in routes:
                subscription.put(envelope)
            return
        target_subscription = self._subscriptions.get(target)
        if target_subscription is not None:
            target_subscription.put(envelope)
        else:
            self._no_local_target += 1
        for observer in self._observers:
            if observer is not target_subscription:
                observer.put(envelope)

    # --- errors and counters -----------------------------------------------------------

    def report_handler_error(
        self,
        subscriber: str,
        handler: str,
        error: BaseException,
        delivery: ActiveDelivery | None = None,
    ) -> None:
        """Count, log and record a handler's exception; the bus carries on.

        Workers use this for their job handlers, event handlers and watchers too, so
        every failure becomes a ``BusHandlerErrorMessage`` in the event log.
        """
        self._handler_errors += 1
        if delivery is None:
            delivery = current_delivery.get()
        message_id = delivery.envelope.message_id if delivery is not None else None
        duration_ns = time.time_ns() - delivery.start_ns if delivery is not None else 0
        about = f" handling {delivery.envelope.message}" if delivery is not None else ""
        logger.error(
            "%s: %s raised%s",
            subscriber,
            handler,
            about,
            exc_info=(type(error), error, error.__traceback__),
        )
        self.record(
            BusHandlerErrorMessage(
                source=subscriber,
                message_id=message_id,
                handler=handler,
                error_type=type(error).__name__,
                error=str(error),
                traceback="".join(traceback.format_exception(error)),
                duration_ns=duration_ns,
            )
        )

    @property
    def stats(self) -> BusStats:
        """A snapshot of this bus's counters."""
        subscriptions = self._subscriptions.values()
        return BusStats(
            stamped=self._seq,
            received=self._received,
            delivered=self._left_delivered + sum(s.delivered for s in subscriptions),
            filtered=self._left_filtered + sum(s.filtered for s in subscriptions),
            handler_errors=self._handler_errors,
            no_local_target=self._no_local_target,
            undelivered_on_stop=self._undelivered_on_stop,
            tap_errors=self.taps.errors,
        )

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.runner_name})"
