"""The delivery in progress: which message's handler is running, for causation and tracing.

The bus sets it around each handler call. Tasks a handler starts inherit it (asyncio
copies the context), so a message sent from a job's task names the job request as
its cause and continues its trace.
"""

from __future__ import annotations

import random
from contextvars import ContextVar

from pipebus.core.envelope import Envelope


class ActiveDelivery:
    """One message being handled by one subscriber.

    Attributes:
        envelope: The message's envelope.
        subscriber: The subscriber handling it.
        span_id: 64-bit id of this delivery (consumer) span; messages sent by the
            handler are its children.
        start_ns: Unix time at which the handler started, in nanoseconds.
    """

    __slots__ = ("_span_id", "envelope", "start_ns", "subscriber")

    def __init__(self, envelope: Envelope, subscriber: str, start_ns: int) -> None:
        self.envelope = envelope
        self.subscriber = subscriber
        self.start_ns = start_ns
        self._span_id = 0

    @property
    def span_id(self) -> int:
        """The delivery span's id, drawn the first time anything asks for it."""
        if not self._span_id:
            self._span_id = random.getrandbits(64) or 1
        return self._span_id


current_delivery: ContextVar[ActiveDelivery | None] = ContextVar(
    "pipebus_current_delivery", default=None
)
"""The delivery whose handler is running in this context, if any."""
