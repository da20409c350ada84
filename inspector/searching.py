"""A search over a whole session while the screen stays live: its progress, and Esc.

A filter or a find with a regex over the payloads reads the whole session (a second
over a million events, or, for a pattern that backtracks badly, much longer). It
runs in a Textual worker, says how far it got, and Esc cancels it: the log stops the
query in the database, and the screen shows what it showed before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from textual.worker import NoActiveWorker, Worker, get_current_worker


class Searching:
    """The search a screen runs, if any: its progress notes, and cancelling it.

    Args:
        say: Shows a one-line note (the status bar).
    """

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._worker: Worker[object] | None = None
        self._cancelled: Callable[[], None] = lambda: None

    @property
    def running(self) -> bool:
        """Whether a search is running."""
        return self._worker is not None and not self._worker.is_finished

    @contextmanager
    def search(self, cancelled: Callable[[], None]) -> Iterator[None]:
        """Mark the calling worker as the running search, while the block runs.

        ``cancelled`` is called when Esc cancels it, at once: the worker itself ends
        only once the log stopped the query (a payload's regex may still run a while).
        Outside a worker (a benchmark awaiting the screen's search) it cannot be cancelled.
        """
        try:
            self._worker = get_current_worker()
        except NoActiveWorker:
            self._worker = None
        self._cancelled = cancelled
        try:
            yield
        finally:
            self._worker = None

    def progress(self, what: str) -> Callable[[int, int], None]:
        """A progress callback: ``what`` and how far it got, as a note."""

        def tell(done: int, total: int) -> None:
            share = done / total if total else 1.0
            self._say(f"{what}: {share:.0%} of {total:,} events… (Esc cancels)")

        return tell

    def cancel(self) -> bool:
        """Cancel the running search; False if none runs."""
        if self._worker is None or self._worker.is_finished:
            return False
        self._worker.cancel()
        self._worker = None
        self._cancelled()
        return True
