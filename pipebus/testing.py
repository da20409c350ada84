"""Helpers for testing code built on pipebus: capture what crosses a bus, run a runner.

::

    async with running(runner) as r:          # runs in the background, ends on exit
        capture = EnvelopeCapture(r.bus)       # sees every envelope from now on
        ...
        await r.bus.drain()                    # wait for deliveries instead of sleeping
        assert capture.of_type(BusJobResponseMessage)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from pipebus.bus.base import WorkerBus
from pipebus.core.envelope import Envelope
from pipebus.core.messages import BusMessage
from pipebus.workers.runner import WorkerRunner

__all__ = ["EnvelopeCapture", "running", "until"]

M = TypeVar("M", bound=BusMessage)


class EnvelopeCapture:
    """A bus tap that keeps every envelope the bus stamps, in order.

    Args:
        bus: The bus to watch; the capture adds itself as a tap.
    """

    def __init__(self, bus: WorkerBus) -> None:
        self.envelopes: list[Envelope] = []
        self._bus = bus
        bus.add_tap(self)

    def on_envelope(self, envelope: Envelope) -> None:
        """Keep one envelope (the bus calls this)."""
        self.envelopes.append(envelope)

    @property
    def messages(self) -> list[BusMessage]:
        """The captured messages, in stamp order."""
        return [e.message for e in self.envelopes]

    def of_type(self, message_type: type[M]) -> list[M]:
        """The captured messages of one type (subclasses included), in order."""
        return [m for m in self.messages if isinstance(m, message_type)]

    def type_names(self) -> list[str]:
        """The class name of each captured message, in order."""
        return [type(m).__name__ for m in self.messages]

    def close(self) -> None:
        """Stop capturing."""
        self._bus.remove_tap(self)


@asynccontextmanager
async def running(
    runner: WorkerRunner, *, auto_end: bool = False, timeout: float = 10.0
) -> AsyncIterator[WorkerRunner]:
    """Run ``runner`` in the background for the ``async with`` block.

    The block starts once every worker added so far has announced itself ready.
    On exit the runner is ended gracefully (if the block did not end it) and awaited
    for at most ``timeout`` seconds; an exception from ``run()`` is re-raised.
    """
    task = asyncio.get_running_loop().create_task(runner.run(auto_end=auto_end))
    started = asyncio.ensure_future(runner.wait_started())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        started.cancel()
        await task  # run() failed or ended at once: surface it
    try:
        yield runner
    finally:
        if not task.done():
            await runner.end(reason="test finished")
        async with asyncio.timeout(timeout):
            await task


async def until(condition: Callable[[], object], *, timeout: float = 5.0) -> None:
    """Wait until ``condition()`` is true, checking once per event-loop turn.

    For conditions no event signals (a worker's private state). Prefer
    ``await bus.drain()`` or an ``asyncio.Event`` when one exists.

    Raises:
        TimeoutError: If the condition is still false after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition still false after {timeout}s")
        await asyncio.sleep(0)
