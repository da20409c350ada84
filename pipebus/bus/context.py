"""The delivery in progress: which message's handler is running, for causation and tracing.

The bus sets it around each handler call. Tasks a handler starts inherit it (asyncio
copies the context), so a message sent from a job's task names the job request as
its cause and continues its trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pipebus.core.envelope import Envelope
from pipebus.core.ids import delivery_span_id, name_key


class ActiveDelivery:
    """One message being handled by one subscriber.

    Attributes:
        envelope: The message's envelope.
        subscriber: The subscriber handling it.
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
        """The id of this delivery's (consumer) span; messages the handler sends are its children.

        Derived from the message's send span and the subscriber's name (see
        :func:`pipebus.core.ids.delivery_span_id`), so an export of the recorded
        session names the span as the live tracer did. Computed on first use.
        """
        if not self._span_id:
            self._span_id = delivery_span_id(self.envelope.span_id, name_key(self.subscriber))
        return self._span_id


current_delivery: ContextVar[ActiveDelivery | None] = ContextVar(
    "pipebus_current_delivery", default=None
)
"""The delivery whose handler is running in this context, if any."""


_shutting_down: ContextVar[bool] = ContextVar("pipebus_shutting_down", default=False)


def sending_past_gates() -> bool:
    """Whether sends in this context skip the back-pressure gates (see :func:`shutdown_sends`)."""
    return _shutting_down.get()


@contextmanager
def shutdown_sends() -> Iterator[None]:
    """Within this block, ``bus.send()`` never waits on a gate.

    For what a stopping worker or runner must get out (cancels, CANCELLED answers,
    stop announcements) even when a strict event log has failed and its gate would
    raise. A context variable rather than a ``send()`` argument, so that ``send``
    keeps Pipecat's signature and wrappers of it see every message.
    """
    token = _shutting_down.set(True)
    try:
        yield
    finally:
        _shutting_down.reset(token)
