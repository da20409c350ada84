"""SIGINT and SIGTERM handling for a runner: the first signal cancels, a second one kills."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipebus.workers.runner import WorkerRunner

logger = logging.getLogger("pipebus.runner")


class SignalHandling:
    """Installs the runner's signal handlers while it runs, and removes them after.

    The first signal cancels the runner (its workers get ``BusCancelWorkerMessage``);
    a signal while it is already cancelling cancels the worker tasks outright.
    """

    def __init__(self, runner: WorkerRunner, *, sigint: bool, sigterm: bool) -> None:
        self._runner = runner
        self._wanted = [
            sig for sig, on in ((signal.SIGINT, sigint), (signal.SIGTERM, sigterm)) if on
        ]
        self._installed: list[signal.Signals] = []

    def install(self) -> None:
        """Handle the wanted signals on the running loop (main thread only)."""
        loop = asyncio.get_running_loop()
        for sig in self._wanted:
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):
                logger.debug(
                    "runner %s: cannot handle %s here (not the main thread?)",
                    self._runner.name,
                    sig.name,
                )
                continue
            self._installed.append(sig)

    def remove(self) -> None:
        """Give the signals back to whoever handled them before."""
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed.clear()

    def _on_signal(self, sig: signal.Signals) -> None:
        runner = self._runner
        if runner.phase == "cancelling":
            logger.warning("runner %s: %s again, cancelling worker tasks", runner.name, sig.name)
            runner.cancel_worker_tasks()
            return
        logger.warning("runner %s: %s received, cancelling", runner.name, sig.name)
        runner.create_task(runner.cancel(reason=f"{sig.name} received"), "signal")
