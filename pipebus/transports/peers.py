"""Which other runners share the channel, when each was last heard, and who fell silent.

Any message proves that its sender is alive; a quiet runner sends a heartbeat instead.
A runner says goodbye when its bus stops. One silent past the heartbeat timeout is
lost. Times are ``time.monotonic()`` seconds, passed in, so the rules test without
clocks.
"""

from __future__ import annotations


class PeerWatch:
    """The other runners one bus hears from.

    Args:
        timeout: Seconds of silence after which a runner is lost.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._heard: dict[str, float] = {}

    def heard(self, runner: str, now: float) -> None:
        """``runner`` sent something at ``now``."""
        self._heard[runner] = now

    def left(self, runner: str) -> None:
        """``runner`` said goodbye: it is no longer watched (until heard again)."""
        self._heard.pop(runner, None)

    def grace(self, now: float) -> None:
        """Restart every runner's clock (after this bus could not read for a while)."""
        for runner in self._heard:
            self._heard[runner] = now

    def silent(self, now: float) -> list[tuple[str, float]]:
        """The runners silent past the timeout, with how long; they are no longer watched."""
        gone = [
            (runner, now - last)
            for runner, last in self._heard.items()
            if now - last > self.timeout
        ]
        for runner, _ in gone:
            del self._heard[runner]
        return gone

    @property
    def runners(self) -> list[str]:
        """The runners watched now, by name."""
        return sorted(self._heard)
