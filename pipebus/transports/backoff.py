"""``Backoff``: the delays between a transport's reconnection or retry attempts."""

from __future__ import annotations

import random


class Backoff:
    """Delays between reconnection attempts: doubling from ``first`` up to ``cap``, jittered.

    Args:
        first: The first delay, in seconds.
        cap: The longest delay.
    """

    def __init__(self, first: float = 0.05, cap: float = 2.0) -> None:
        self._first = first
        self._cap = cap
        self._next = first

    def next(self) -> float:
        """The delay before the next attempt."""
        delay = self._next
        self._next = min(self._cap, self._next * 2)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        """Start again from the first delay (after a success)."""
        self._next = self._first
