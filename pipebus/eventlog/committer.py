"""``Committer``: the recorder's second stage, committing encoded rows and counting losses.

It takes chunks of ready rows (and delivery records, and snapshots) and hands them to
the log's :class:`~pipebus.eventlog.writer.Writer` one transaction at a time, whatever
has gathered meanwhile (group commit). While a commit is under way the recorder's
first stage goes on encoding, so with a writer process the two work side by side. A
batch the log refuses is counted as lost, the first failure is logged with its cause,
and the session is marked with the first lost position as soon as the log accepts
writes again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from pipebus.eventlog.writer import Batch, DeliveryRecord, Writer
from pipebus.projections import SessionState

logger = logging.getLogger("pipebus.eventlog")

HEARTBEAT_SECONDS = 5.0
"""How often an idle recorder tells the log its session is still alive."""

BATCH_ROWS = 20_000
"""Most rows one transaction carries."""


def resolve(waiters: list[asyncio.Future[None]]) -> None:
    """Wake every waiter of a list and empty it."""
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
    waiters.clear()


class Committer:
    """Commits what the recorder encoded, in order, through one writer.

    Args:
        writer: The session's log writer.
        where: The log, for messages.
        session_id: The session, for messages.
    """

    def __init__(self, writer: Writer, where: str, session_id: str) -> None:
        self.writer = writer
        self._where = where
        self._session_id = session_id
        self._chunks: deque[list[tuple[Any, ...]]] = deque()
        self.backlog = 0
        self._deliveries: list[DeliveryRecord] = []
        self._snapshots: list[tuple[int, SessionState]] = []
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._closing = False
        self._room: list[asyncio.Future[None]] = []
        self._commits: list[tuple[int, asyncio.Future[bool]]] = []
        self._failed: list[tuple[int, int]] = []  # first and last position of each lost batch
        self._idle: list[asyncio.Future[None]] = []
        self.committed = 0
        self.written = 0
        self.lost = 0
        self.first_lost_seq: int | None = None
        self.failure: BaseException | None = None
        self._loss_marked: tuple[int, int | None] = (0, None)

    # --- what the recorder hands over --------------------------------------------------

    def submit(self, rows: list[tuple[Any, ...]]) -> None:
        """Queue a chunk of encoded rows."""
        self._chunks.append(rows)
        self.backlog += len(rows)
        self._wake.set()

    def add_delivery(self, record: DeliveryRecord) -> None:
        """Queue a delivery record."""
        self._deliveries.append(record)

    def add_snapshot(self, seq: int, state: SessionState) -> None:
        """Queue a snapshot taken after event ``seq``."""
        self._snapshots.append((seq, state))

    @property
    def idle(self) -> bool:
        """Whether nothing is queued and nothing is being committed."""
        return (
            not self._in_flight
            and not self._chunks
            and not self._deliveries
            and not self._snapshots
        )

    async def room(self, limit: int) -> None:
        """Wait until fewer than ``limit`` encoded rows wait for a commit."""
        while self.backlog >= limit:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._room.append(waiter)
            await waiter

    async def committed_up_to(self, seq: int) -> None:
        """Wait until event ``seq`` is committed (or counted lost)."""
        await self.stored(seq)

    async def stored(self, seq: int) -> bool:
        """Wait until event ``seq`` is committed or counted lost; whether it was stored."""
        if self.committed >= seq:
            return not any(first <= seq <= last for first, last in self._failed)
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._commits.append((seq, waiter))
        self._wake.set()
        return await waiter

    def idle_waiter(self) -> asyncio.Future[None]:
        """A future resolved the next time the committer is idle."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle.append(waiter)
        self._wake.set()
        return waiter

    def wake(self) -> None:
        """Look again (after the recorder's state changed)."""
        self._wake.set()

    def close(self) -> None:
        """Commit what is queued, then end :meth:`run`."""
        self._closing = True
        self._wake.set()

    # --- the loop ---------------------------------------------------------------------

    async def run(self, nothing_to_come: Any) -> None:
        """Commit until closed; ``nothing_to_come()`` says whether the encoder is idle.

        Up to the writer's ``in_flight`` batches are under way at once, each taking
        whatever has gathered when a slot frees up.
        """
        slots = asyncio.Semaphore(max(1, self.writer.in_flight))
        try:
            while True:
                if not self._chunks and not self._deliveries and not self._snapshots:
                    if not self._in_flight and nothing_to_come():
                        resolve(self._idle)
                        if self._closing:
                            return
                    self._wake.clear()
                    try:
                        async with asyncio.timeout(HEARTBEAT_SECONDS):
                            await self._wake.wait()
                    except TimeoutError:
                        if not self._in_flight:
                            await self._commit(Batch([], [], []))  # a heartbeat: it lives
                    continue
                await slots.acquire()
                rows: list[tuple[Any, ...]] = []
                while self._chunks and len(rows) < BATCH_ROWS:
                    rows.extend(self._chunks.popleft())
                self.backlog -= len(rows)
                resolve(self._room)
                deliveries, self._deliveries = self._deliveries, []
                snapshots, self._snapshots = self._snapshots, []
                task = asyncio.get_running_loop().create_task(
                    self._commit(Batch(rows, deliveries, snapshots)), name="pipebus:log-commit"
                )
                self._in_flight.add(task)
                task.add_done_callback(lambda done: self._finished(done, slots))
        finally:
            if self._in_flight:  # stopped from outside: the batches under way still land
                await asyncio.wait(set(self._in_flight))

    def _finished(self, task: asyncio.Task[None], slots: asyncio.Semaphore) -> None:
        self._in_flight.discard(task)
        slots.release()
        self._wake.set()  # a slot is free, or all is committed: look again

    async def _commit(self, batch: Batch) -> None:
        stored = True
        try:
            await self.writer.append(batch)
        except Exception as exc:  # the writer recovers by itself for the next batch
            stored = False
            self.fail(exc, count=len(batch.rows), first=batch.rows[0][1] if batch.rows else None)
            if batch.rows:
                self._failed.append((batch.rows[0][1], batch.rows[-1][1]))
        else:
            self.written += len(batch.rows)
            if batch.rows:
                # The recorder's own position, not the writer's answer: in a shared
                # session that is the session's, which runs ahead of this runner's.
                self.committed = max(self.committed, batch.rows[-1][1])
            if self.lost and self._loss_marked != (self.lost, self.first_lost_seq):
                await self.mark_loss()
        if batch.rows and self._commits:
            # Committed or counted lost: either way the senders waiting on its events go
            # on, told which (a strict recorder makes a sender whose event was lost raise).
            first, top = batch.rows[0][1], batch.rows[-1][1]
            waiting = []
            for seq, waiter in self._commits:
                if first <= seq <= top:
                    if not waiter.done():
                        waiter.set_result(stored)
                else:
                    waiting.append((seq, waiter))
            self._commits = waiting

    def fail(self, error: BaseException, *, count: int, first: int | None = None) -> None:
        """Count ``count`` lost events (the first failure is logged, with its cause)."""
        if self.failure is None:
            logger.error(
                "event log %s cannot be written; the bus goes on, and lost events are "
                "counted on session %s",
                self._where,
                self._session_id,
                exc_info=(type(error), error, error.__traceback__),
            )
            self.failure = error
        self.lost += count
        if first is not None and self.first_lost_seq is None:
            self.first_lost_seq = first

    async def mark_loss(self) -> None:
        """Record the loss on the session (again later, if the log still fails)."""
        if not self.lost:
            return
        try:
            await self.writer.mark_lost(self.lost, self.first_lost_seq)
            self._loss_marked = (self.lost, self.first_lost_seq)
        except Exception as exc:  # still failing: counted, logged once already
            self.fail(exc, count=0)
