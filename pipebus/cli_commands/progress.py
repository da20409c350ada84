"""A progress bar on stderr for long commands (export, replay checks), drawn on terminals only.

Rich's progress display (rich comes with Textual) draws it, redrawn at most ten times
a second from rich's own thread; when the stream is not a terminal (a pipe, a CI log)
nothing is drawn, so outputs stay clean.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn


class ProgressBar:
    """``label ━━━━━━━╸━━━━━━━  45%  12,345/27,000 unit`` on one redrawn line.

    Args:
        label: What is progressing ("export").
        unit: What is counted ("events").
        stream: Where to draw (default: stderr); nothing is drawn unless a terminal.
    """

    def __init__(self, label: str, unit: str, stream: TextIO | None = None) -> None:
        stream = stream if stream is not None else sys.stderr
        console = Console(file=stream)
        self._label = label
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn(f"{{task.completed:,.0f}}/{{task.total:,.0f}} {unit}"),
            console=console,
            refresh_per_second=10,
            # The stream itself decides, not rich's guess (FORCE_COLOR in a CI's
            # environment makes rich take any stream for a terminal).
            disable=not stream.isatty(),
        )
        self._task: TaskID | None = None

    def update(self, done: int, total: int) -> None:
        """Note progress (the bar appears with the first call)."""
        if self._progress.disable:
            return
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=total, completed=done)
        else:
            self._progress.update(self._task, completed=done, total=total)

    def close(self) -> None:
        """Draw the bar as it ends and leave its line (if one was drawn)."""
        if self._task is not None:
            self._progress.stop()
            self._task = None
