"""A progress bar on stderr for long commands (export, replay checks), drawn on terminals only.

Redrawn at most ten times a second; when stderr is not a terminal (a pipe, a CI log)
nothing is drawn, so outputs stay clean.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    """``label [#########.........]  45%  12,345/27,000 unit`` on one redrawn line.

    Args:
        label: What is progressing ("export").
        unit: What is counted ("events").
        stream: Where to draw (default: stderr); nothing is drawn unless a terminal.
    """

    def __init__(self, label: str, unit: str, stream: TextIO | None = None) -> None:
        self._label = label
        self._unit = unit
        self._stream = stream if stream is not None else sys.stderr
        self._shown = self._stream.isatty()
        self._last = 0.0
        self._drawn = False

    def update(self, done: int, total: int) -> None:
        """Note progress; redraws when enough time has passed or it is complete."""
        if not self._shown:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        fraction = min(done / total, 1.0) if total > 0 else 1.0
        filled = int(WIDTH * fraction)
        bar = "#" * filled + "." * (WIDTH - filled)
        line = f"{self._label} [{bar}] {fraction:4.0%}  {done:,}/{total:,} {self._unit}"
        self._stream.write("\r" + line)
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line (if one was drawn)."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
