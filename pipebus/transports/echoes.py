"""``PendingEchoes``: the sends a bus waits to hear back, by the bytes it published.

A bus whose own messages reach its subscribers only through the round trip to its
transport (Pipecat's way) stamps each message when it is sent. When the same bytes come back,
the bus delivers them under that envelope instead of stamping them a second time, so
the event log records each send once. This holds the envelopes in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from pipebus.core.envelope import Envelope

logger = logging.getLogger("pipebus.transports")


class PendingEchoes:
    """Bytes published -> envelopes of the sends waiting for those bytes, oldest first.

    Identical messages give identical bytes, so one key may hold several envelopes;
    they come back in the order they were published (one channel, one connection).
    Bytes that another runner happens to publish identically while one of ours waits
    are taken for ours: the envelope differs, the message does not.

    Args:
        limit: How many envelopes may wait at once; past it the oldest is given up.
        owner: Named in log lines (the bus).
    """

    def __init__(self, limit: int, owner: object) -> None:
        if limit < 1:
            raise ValueError(f"the limit of pending echoes must be positive, not {limit}")
        self._limit = limit
        self._owner = owner
        self._waiting: dict[bytes, deque[Envelope]] = {}
        self._count = 0
        self._empty = asyncio.Event()
        self._empty.set()
        self._warned_full = False
        self.given_up = 0
        """Envelopes whose echo was given up on (never delivered by the bus)."""

    @property
    def pending(self) -> int:
        """Envelopes waiting for their echo now."""
        return self._count

    def expect(self, data: bytes, envelope: Envelope) -> None:
        """Wait for ``data`` to come back, then hand out ``envelope`` for it."""
        # Bounded because pub/sub may lose an echo (a subscription redis-py reconnected
        # by itself, a client that does not echo): without a bound every lost echo
        # would be kept for as long as the bus runs.
        if self._count >= self._limit:
            self._pop(next(iter(self._waiting)))
            self.given_up += 1
            if not self._warned_full:
                self._warned_full = True
                logger.warning(
                    "%s: %d sent messages are waiting to come back; the oldest "
                    "is given up (if it comes later, it is taken for another runner's)",
                    self._owner,
                    self._limit,
                )
        self._waiting.setdefault(data, deque()).append(envelope)
        self._count += 1
        self._empty.clear()

    @contextmanager
    def expected(self, data: bytes, envelope: Envelope, *, when: bool) -> Iterator[None]:
        """Wait for ``data`` (if ``when``) if the block, which publishes it, succeeds."""
        if not when:
            yield
            return
        self.expect(data, envelope)
        try:
            yield
        except BaseException:
            self.forget(data, envelope)
            raise

    def take(self, data: bytes) -> Envelope | None:
        """The oldest envelope waiting for ``data`` (no longer waiting), or None."""
        if data not in self._waiting:
            return None
        return self._pop(data)

    def forget(self, data: bytes, envelope: Envelope) -> None:
        """Stop waiting for ``envelope`` (its publish failed)."""
        waiting = self._waiting.get(data)
        if waiting is None or envelope not in waiting:
            return
        waiting.remove(envelope)
        if not waiting:
            del self._waiting[data]
        self._counted_out()

    def give_up(self, why: str, level: int = logging.WARNING) -> None:
        """Stop waiting for every echo; a log line at ``level`` says how many and ``why``."""
        if not self._count:
            return
        logger.log(
            level,
            "%s: %d sent message(s) never came back (%s); they were not delivered on this runner",
            self._owner,
            self._count,
            why,
        )
        self.given_up += self._count
        self._waiting.clear()
        self._count = 0
        self._empty.set()

    async def wait(self, timeout: float) -> None:
        """Wait until no echo is pending; after ``timeout`` seconds, give up on the rest."""
        if not self._count:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._empty.wait()
        except TimeoutError:
            self.give_up(f"not back after {timeout:g}s")

    def _pop(self, data: bytes) -> Envelope:
        waiting = self._waiting[data]
        envelope = waiting.popleft()
        if not waiting:
            del self._waiting[data]
        self._counted_out()
        return envelope

    def _counted_out(self) -> None:
        self._count -= 1
        if not self._count:
            self._empty.set()
