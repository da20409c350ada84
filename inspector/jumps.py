"""The jump list: back and forward over the steps the cursor jumped from, as in a browser.

A *jump* is a move that lands far from where it started (go to a step or a time,
the first or last step, the cause, an effect, an error, a find match, a breakpoint
hit, a span's step); stepping (up, down, pages, scrubbing) is not one. Each jump
leaves the step it came from on the back list and empties the forward list; going
back puts the step it leaves on the forward list, and forward the other way round.
Pure Python: the view-model holds one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEPT = 100
"""Steps each list remembers (the oldest forgotten first)."""


@dataclass(slots=True)
class JumpList:
    """The steps to go back and forward to.

    Attributes:
        back: Steps jumped from, the latest last.
        forward: Steps gone back from, the latest last.
    """

    back: list[int] = field(default_factory=list)
    forward: list[int] = field(default_factory=list)

    def jumped(self, origin: int, target: int) -> None:
        """The cursor jumped from ``origin`` to ``target``: ``origin`` is the way back.

        A jump that did not move (or from no step) is none; the forward list empties.
        """
        if origin == target or origin <= 0:
            return
        if not self.back or self.back[-1] != origin:
            self.back.append(origin)
            del self.back[:-KEPT]
        self.forward.clear()

    def go_back(self, current: int) -> int | None:
        """The step to go back to from ``current`` (None: none); ``current`` goes forward."""
        return _shift(self.back, self.forward, current)

    def go_forward(self, current: int) -> int | None:
        """The step to go forward to from ``current`` (None: none); ``current`` goes back."""
        return _shift(self.forward, self.back, current)

    def forget_beyond(self, length: int) -> None:
        """Drop the steps past ``length`` (a session read again, shorter)."""
        self.back[:] = [step for step in self.back if step <= length]
        self.forward[:] = [step for step in self.forward if step <= length]


def _shift(source: list[int], other: list[int], current: int) -> int | None:
    """Take the latest step of ``source`` other than ``current``; ``current`` goes to ``other``."""
    while source and source[-1] == current:  # already there: not a move
        source.pop()
    if not source:
        return None
    target = source.pop()
    if current > 0 and (not other or other[-1] != current):
        other.append(current)
        del other[:-KEPT]
    return target
