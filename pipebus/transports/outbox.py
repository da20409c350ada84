"""The outbox: encoded envelopes waiting to be written, by one task, in batches, in order.

Publishing only appends to the outbox. The writer task wakes on the first message
of an event-loop turn and runs after that turn, so everything sent in the turn goes
out in one round trip; whatever is sent while a write is on the wire goes out in the
next one. A failed write is kept and tried again (with backoff) until it succeeds or
the bus stops: a write that the transport executed but whose answer was lost may then arrive
twice, which readers drop by message id. When the outbox holds ``limit`` envelopes,
senders wait for the writer (back-pressure) instead of memory growing without end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from pipebus.transports.backoff import Backoff
from pipebus.transports.stats import Counters

logger = logging.getLogger("pipebus.transports")

Entry = tuple[str, bytes]
"""One message to write: the runner it is addressed to (``""``: everyone) and its bytes."""

Write = Callable[[list[Entry]], Awaitable[None]]


class Outbox:
    """Envelopes waiting to be written, and the task that writes them.

    Args:
        write: Writes one batch in one round trip; raises to have it tried again.
        counters: Where written batches and retries are counted.
        limit: Envelopes waiting before senders wait.
        label: Names the bus in log messages.
        transport: Names what the messages are written to (``"Redis"``), in log messages.
    """

    def __init__(
        self, write: Write, counters: Counters, *, limit: int, label: str, transport: str
    ) -> None:
        self._write = write
        self._counters = counters
        self._limit = limit
        self.label = label
        self._transport = transport
        self._items: list[Entry] = []
        self._in_flight = 0
        self._wake: asyncio.Future[None] | None = None
        self._room = asyncio.Event()
        self._room.set()
        self._flushed: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def put(self, to: str, data: bytes) -> None:
        """Queue one message; the writer wakes after this turn of the event loop."""
        items = self._items
        items.append((to, data))
        if len(items) == 1:
            wake = self._wake
            if wake is not None:
                self._wake = None
                if not wake.done():
                    wake.set_result(None)
        elif len(items) >= self._limit:
            self._room.clear()

    @property
    def full(self) -> bool:
        """Whether senders should wait for the writer (see :meth:`room`)."""
        return len(self._items) >= self._limit

    @property
    def pending(self) -> int:
        """Messages queued or being written."""
        return len(self._items) + self._in_flight

    async def room(self) -> None:
        """Wait until the writer has taken the queued messages."""
        while len(self._items) >= self._limit:
            await self._room.wait()

    async def flushed(self) -> None:
        """Wait until every message queued so far is written."""
        if not self.pending or self._task is None or self._task.done():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flushed.append(future)
        await future

    def start(self) -> None:
        """Start the writer task."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"pipebus:{self.label}:writer"
            )

    async def close(self, timeout: float) -> int:
        """Write what is queued (for at most ``timeout`` seconds), then stop the writer.

        Returns:
            How many messages could not be written (counted as ``unpublished``).
        """
        task, self._task = self._task, None
        self._closing = True
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)
        if task is not None:
            done, _ = await asyncio.wait([task], timeout=timeout)
            if not done:
                task.cancel()
                await asyncio.wait([task])
        left = len(self._items) + self._in_flight
        self._items = []
        self._in_flight = 0
        self._room.set()
        self._resolve_flushed()
        if left:
            self._counters.unpublished += left
            logger.error(
                "%s stopped with %d message(s) not written to %s", self.label, left, self._transport
            )
        return left

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff()
        counters = self._counters
        while True:
            if not self._items:
                self._resolve_flushed()
                if self._closing:
                    return
                self._wake = loop.create_future()
                await self._wake
                continue
            batch, self._items = self._items, []
            self._in_flight = len(batch)
            self._room.set()
            failing_since: float | None = None
            while True:
                try:
                    await self._write(batch)
                    break
                except Exception as exc:
                    counters.publish_retries += 1
                    if failing_since is None:
                        failing_since = time.monotonic()
                        logger.warning(
                            "%s: writing %d message(s) to %s failed (%s); retrying",
                            self.label,
                            len(batch),
                            self._transport,
                            exc,
                        )
                    await asyncio.sleep(backoff.next())
            if failing_since is not None:
                backoff.reset()
                logger.warning(
                    "%s: %s took writes again after %.2fs",
                    self.label,
                    self._transport,
                    time.monotonic() - failing_since,
                )
            counters.published += len(batch)
            counters.batches += 1
            self._in_flight = 0

    def _resolve_flushed(self) -> None:
        waiters, self._flushed = self._flushed, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
