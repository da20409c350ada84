"""``Recorder``: writes every envelope a bus stamps to the event log, off the send path.

The send path never awaits the disk: ``on_envelope`` appends to a buffer and returns.
A background task commits whatever has gathered, in one transaction (group commit),
so under load batches grow and at rest an event is committed at once. When the buffer
holds ``buffer_size`` events, senders wait until the writer has caught up
(back-pressure); nothing is dropped to make room.

Durability (README: what each loses on a crash):

- ``"batch"`` (default): committed by the writer within a few milliseconds (at most
  50 ms under load); SQLite syncs the WAL at checkpoints, so a power loss can lose
  the last commits, a killed process loses only what was not yet committed.
- ``"full"``: each commit is synced to disk (SQLite ``synchronous=FULL``, PostgreSQL
  ``synchronous_commit=on``): a power loss loses only the uncommitted tail.
- ``"sync"``: ``send()`` returns only once its event is committed.

If the log cannot be written (disk full, database gone), the error is logged once with
its cause, the lost events are counted and the session is marked with the first lost
position; the bus keeps running. With ``strict=True`` the next send raises instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Literal

from pipebus.bus.base import WorkerBus
from pipebus.bus.context import ActiveDelivery
from pipebus.core.envelope import Envelope
from pipebus.errors import EventLogError
from pipebus.eventlog.rows import recordable_row
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import Batch, DeliveryRecord, SessionWriter
from pipebus.projections import SessionState

logger = logging.getLogger("pipebus.eventlog")

Durability = Literal["batch", "full", "sync"]
DURABILITIES = ("batch", "full", "sync")
HEARTBEAT_SECONDS = 5.0
"""How often an idle recorder tells the log its session is still alive."""


class Recorder:
    """A bus tap (and send gate) that records one session into an event log.

    Args:
        log: The event log.
        session_id: The session to record into (created by :meth:`start`).
        runner_name: The recording runner.
        name: A name for the session, shown by tools.
        durability: ``"batch"``, ``"full"`` or ``"sync"`` (see the module docstring).
        buffer_size: Events held before senders must wait.
        strict: Make sends raise once the log cannot be written.
        record_deliveries: ``"errors"`` (failed handlers only, as events) or ``"all"``
            (also every delivery's timing, in the ``deliveries`` table).
        snapshot_every: Events between two snapshots of the projections.
        state: Gives the live projections' state (registry, jobs) after a given
            event; snapshots are taken from it, so recording never folds twice.
    """

    def __init__(
        self,
        log: EventLog,
        session_id: str,
        *,
        runner_name: str,
        name: str | None = None,
        durability: Durability = "batch",
        buffer_size: int = 50_000,
        strict: bool = False,
        record_deliveries: Literal["errors", "all"] = "errors",
        snapshot_every: int = 2000,
        state: Callable[[int], SessionState] | None = None,
    ) -> None:
        if durability not in DURABILITIES:
            raise ValueError(
                f"durability must be one of {', '.join(DURABILITIES)}, not {durability!r}"
            )
        if record_deliveries not in ("errors", "all"):
            raise ValueError(
                f"record_deliveries must be 'errors' or 'all', not {record_deliveries!r}"
            )
        if snapshot_every < 1 or buffer_size < 1:
            raise ValueError("snapshot_every and buffer_size must be positive")
        self.log = log
        self.session_id = session_id
        self._runner_name = runner_name
        self._name = name
        self._durability = durability
        self._capacity = buffer_size
        self._strict = strict
        self._record_all = record_deliveries == "all"
        self._snapshot_every = snapshot_every
        self._state = state
        self._writer: SessionWriter | None = None
        self._bus: WorkerBus | None = None
        self._task: asyncio.Task[None] | None = None
        self._seq = 0
        self._pending: list[tuple[Any, ...]] = []
        self._deliveries: list[DeliveryRecord] = []
        self._snapshots: list[tuple[int, SessionState]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._committed = 0
        self._room_waiters: list[asyncio.Future[None]] = []
        self._commit_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._in_flight = False
        self.written = 0
        self.most_buffered = 0
        self.lost = 0
        self.first_lost_seq: int | None = None
        self.failure: BaseException | None = None
        self._loss_marked: tuple[int, int | None] = (0, None)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, bus: WorkerBus) -> None:
        """Create the session in the log and start recording what ``bus`` stamps.

        Raises:
            EventLogError: If the session cannot be created (the log is unreachable, or
                another runner already records this session into an SQLite log).
        """
        created = await self.log.begin_session(
            self.session_id,
            runner=self._runner_name,
            name=self._name,
            snapshot_every=self._snapshot_every,
            durability=self._durability,
        )
        shared = not created
        if shared:
            self._state = None  # the merged stream is not this runner's: no live snapshots
        self._writer = self.log.writer(self.session_id, shared=shared, durability=self._durability)
        self._bus = bus
        bus.add_tap(self)
        bus.add_gate(self)
        if self._record_all:
            bus.add_delivery_tap(self)
        self._task = asyncio.get_running_loop().create_task(
            self._write_loop(), name=f"pipebus:recorder:{self.session_id[:8]}"
        )

    async def flush(self) -> None:
        """Wait until everything recorded so far is committed (or counted as lost)."""
        if self._task is None or self._task.done():
            return
        if (
            not self._pending
            and not self._in_flight
            and not self._deliveries
            and not self._snapshots
        ):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(waiter)
        self._wake.set()
        await waiter

    async def stop(self, status: str) -> None:
        """Flush, mark the session ``status`` (ended, cancelled, failed) and stop recording."""
        if self._bus is not None:
            self._bus.remove_tap(self)
            self._bus.remove_gate(self)
            self._bus.remove_delivery_tap(self)
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await asyncio.wait([self._task])
        try:
            await self._mark_loss()
            await self.log.end_session(self.session_id, status)
        except EventLogError as exc:
            self._fail(exc, count=0)
        finally:
            if self._writer is not None:
                await self._writer.close()

    # --- the tap --------------------------------------------------------------------------

    def on_envelope(self, envelope: Envelope) -> None:
        """Buffer one envelope (the bus calls this as it stamps it; it never waits)."""
        self._seq = seq = self._seq + 1
        pending = self._pending
        # The row is built now, so the writer only hands ready rows to the database
        # thread and that thread always has the next batch while the loop goes on.
        pending.append(recordable_row(envelope, self.session_id, seq))
        if len(pending) > self.most_buffered:
            self.most_buffered = len(pending)
        if self._state is not None and seq % self._snapshot_every == 0:
            self._snapshots.append((seq, self._state(seq)))
        self._wake.set()

    def on_delivery(
        self, delivery: ActiveDelivery, end_ns: int, error: BaseException | None
    ) -> None:
        """Keep a delivery's timing (with ``record_deliveries="all"``)."""
        self._deliveries.append(DeliveryRecord.of(delivery, end_ns, error))

    # --- the gate -------------------------------------------------------------------------

    def must_wait(self) -> bool:
        """Whether the sender must wait: buffer full, sync durability, or strict failure."""
        return (
            len(self._pending) >= self._capacity
            or self._durability == "sync"
            or (self._strict and self.failure is not None)
        )

    async def wait(self) -> None:
        """Wait for room in the buffer, or (sync) for the commit of what was just sent.

        Raises:
            EventLogError: With ``strict=True``, once the log could not be written.
        """
        self._raise_if_strict()
        loop = asyncio.get_running_loop()
        if self._durability == "sync" and self._committed < self._seq:
            waiter: asyncio.Future[None] = loop.create_future()
            self._commit_waiters.append((self._seq, waiter))
            await waiter
        while len(self._pending) >= self._capacity:
            room: asyncio.Future[None] = loop.create_future()
            self._room_waiters.append(room)
            await room
        self._raise_if_strict()

    def _raise_if_strict(self) -> None:
        if self._strict and self.failure is not None:
            raise EventLogError(
                f"the event log {self.log.url} cannot be written: {self.failure}"
            ) from self.failure

    # --- the writer ---------------------------------------------------------------------

    async def _write_loop(self) -> None:
        assert self._writer is not None
        while True:
            if not self._pending and not self._deliveries and not self._snapshots:
                self._resolve(self._idle_waiters)
                if self._stopping:
                    return
                self._wake.clear()
                try:
                    async with asyncio.timeout(HEARTBEAT_SECONDS):
                        await self._wake.wait()
                except TimeoutError:
                    await self._write(Batch([], [], []))  # a heartbeat: the session lives
                continue
            batch = Batch(self._pending, self._deliveries, self._snapshots)
            self._pending, self._deliveries, self._snapshots = [], [], []
            self._resolve(self._room_waiters)
            await self._write(batch)

    async def _write(self, batch: Batch) -> None:
        assert self._writer is not None
        self._in_flight = True
        try:
            last = await self._writer.append(batch)
        except Exception as exc:
            first = batch.rows[0][1] if batch.rows else None
            self._fail(exc, count=len(batch.rows), first=first)
            await self._writer.discard_connection()
        else:
            self.written += len(batch.rows)
            if last > self._committed:
                self._committed = last
            if self.lost and self._loss_marked != (self.lost, self.first_lost_seq):
                await self._mark_loss()
        finally:
            self._in_flight = False
        if batch.rows and self._commit_waiters:
            # Committed or counted lost: either way the senders waiting on it go on
            # (and a strict recorder makes them raise).
            top = batch.rows[-1][1]
            done = [w for seq, w in self._commit_waiters if seq <= top]
            self._commit_waiters = [(s, w) for s, w in self._commit_waiters if s > top]
            self._resolve(done)

    def _fail(self, error: BaseException, *, count: int, first: int | None = None) -> None:
        if self.failure is None:
            logger.error(
                "event log %s cannot be written; the bus goes on, and lost events are "
                "counted on session %s",
                self.log.url,
                self.session_id,
                exc_info=(type(error), error, error.__traceback__),
            )
            self.failure = error
        self.lost += count
        if first is not None and self.first_lost_seq is None:
            self.first_lost_seq = first

    async def _mark_loss(self) -> None:
        if not self.lost or self._writer is None:
            return
        try:
            await self._writer.mark_lost(self.lost, self.first_lost_seq)
            self._loss_marked = (self.lost, self.first_lost_seq)
        except Exception as exc:  # still failing: counted, logged once already
            self._fail(exc, count=0)
            await self._writer.discard_connection()

    @staticmethod
    def _resolve(waiters: list[asyncio.Future[None]]) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        waiters.clear()
