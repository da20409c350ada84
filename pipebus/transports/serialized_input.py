"""What a bus in Pipecat's wire format reads: its own echoes, others' messages, bad input.

A bus that carries a ``MessageSerializer``'s bytes (``RedisBus`` or ``PgmqBus`` given a
serializer) hears its own messages come back, as in Pipecat. Each one is delivered
under the envelope stamped when it was sent (recorded once); anything else is
deserialized and delivered as another runner's. Input the serializer cannot read is
counted, logged (once per kind at WARNING) and recorded, never fatal: a serializer is
user code, and its failure must not end reading.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipebus.core.messages import BusDecodeErrorMessage
from pipebus.transports.echoes import PendingEchoes
from pipebus.transports.inbound import EXCERPT_BYTES

if TYPE_CHECKING:
    from pipebus.bus.base import WorkerBus
    from pipebus.core.serializers import MessageSerializer

logger = logging.getLogger("pipebus.transports")


class Arrival(enum.Enum):
    """What became of one input."""

    ECHO = "echo"
    """This bus's own message, delivered under the envelope stamped on send."""
    MESSAGE = "message"
    """Another runner's message, deserialized and delivered."""
    DROPPED = "dropped"
    """Not a message: counted, logged and recorded."""


class SerializedInput:
    """Reads what one serialized bus receives and delivers it on that bus.

    Args:
        bus: The bus that reads (deliveries and decode errors go to it).
        channel: Where it reads, named in log lines and decode-error events.
        serializer: Reads others' messages.
        echoes: The bus's sends waiting to come back, by the key of their bytes.
        dropped: Counts one dropped input of a kind (the bus's counters).
    """

    def __init__(
        self,
        bus: WorkerBus,
        channel: str,
        serializer: MessageSerializer,
        echoes: PendingEchoes,
        dropped: Callable[[str], None],
    ) -> None:
        self._bus = bus
        self._channel = channel
        self._serializer = serializer
        self._echoes = echoes
        self._dropped = dropped
        self._logged_kinds: set[str] = set()

    def arrived(self, data: bytes, key: bytes) -> Arrival:
        """Deliver ``data``: under its envelope if ``key`` is an own send's, else deserialized."""
        envelope = self._echoes.take(key)
        if envelope is not None:
            self._bus.route(envelope)
            return Arrival.ECHO
        try:
            message = self._serializer.deserialize(data)
        except Exception as exc:  # a serializer is user code: its failure must not end reading
            self.drop(data, "serializer_error", f"{type(exc).__name__}: {exc}", exc)
            return Arrival.DROPPED
        if message is None:
            self.drop(data, "not_a_message", "the serializer read no message from it")
            return Arrival.DROPPED
        self._bus.on_message_received(message)
        return Arrival.MESSAGE

    def drop(self, data: bytes, kind: str, reason: str, error: BaseException | None = None) -> None:
        """Count, log (at WARNING once per kind) and record one input that is no message."""
        self._dropped(kind)
        bus = self._bus
        channel = self._channel
        first = kind not in self._logged_kinds
        self._logged_kinds.add(kind)
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "%s skipped %d bytes on %r: %s%s",
            bus,
            len(data),
            channel,
            reason,
            "; further inputs like it are logged at DEBUG" if first else "",
            exc_info=error if first else None,
        )
        bus.record(
            BusDecodeErrorMessage(
                source=bus.runner_name,
                kind=kind,
                error=reason[:500],
                raw_excerpt=data[:EXCERPT_BYTES].decode("utf-8", "replace"),
                size=len(data),
                channel=channel,
            )
        )
