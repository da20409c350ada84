"""``Recorder``: writes every envelope a bus stamps to the event log, off the send path.

The send path never awaits the disk: ``on_envelope`` appends the envelope to a buffer
and returns. Two background stages follow: the encoder turns buffered envelopes into
rows, in chunks that let the bus run in between; the
:class:`~pipebus.eventlog.committer.Committer` commits whatever rows have gathered in
one transaction (group commit), while the encoder goes on. A small batch waits up to
``linger`` for company. When ``buffer_size`` envelopes wait, senders wait too
(back-pressure); nothing is dropped to make room.

Durability (README: what each loses on a crash):

- ``"batch"`` (default): committed shortly after the send (see ``linger``); SQLite
  syncs the WAL at checkpoints, so a power loss can lose the last commits, a killed
  process loses only what was not yet committed.
- ``"full"``: each commit is synced to disk (SQLite ``synchronous=FULL``, PostgreSQL
  ``synchronous_commit=on``): a power loss loses only the uncommitted tail.
- ``"sync"``: ``send()`` returns only once its event is committed.

If the log cannot be written (disk full, database gone), the error is logged once with
its cause, the lost events are counted and the session is marked with the first lost
position; the bus keeps running. With ``strict=True`` a sent message is delivered only
once its event is committed (each ``send()`` waits for its commit, which concurrent
senders share); if it cannot be, ``send()`` raises
:class:`~pipebus.core.errors.EventLogError` and the message is not delivered, so a
sender that retries never delivers it twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Literal

from pipebus.bus.base import WorkerBus
from pipebus.bus.context import ActiveDelivery
from pipebus.core.envelope import Envelope
from pipebus.core.errors import EventLogError
from pipebus.eventlog.committer import Committer, resolve
from pipebus.eventlog.rows import recordable_row
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import DeliveryRecord
from pipebus.projections import SessionState

logger = logging.getLogger("pipebus.eventlog")

Durability = Literal["batch", "full", "sync"]
DURABILITIES = ("batch", "full", "sync")
ENCODE_CHUNK = 1000
"""Events encoded between two yields to the event loop."""


class Recorder:
    """A bus tap (and send gate) that records one session into an event log.

    Args:
        log: The event log.
        session_id: The session to record into (created by :meth:`start`).
        runner_name: The recording runner.
        name: A name for the session, shown by tools.
        durability: ``"batch"``, ``"full"`` or ``"sync"`` (see the module docstring).
        buffer_size: Envelopes held before senders must wait.
        strict: Deliver a sent message only once its event is committed, and make its
            ``send()`` raise (undelivered) if it cannot be.
        record_deliveries: ``"all"`` (every delivery's timing and outcome, in the
            ``deliveries`` table: what an export needs to rebuild the spans live tracing
            reported) or ``"errors"`` (failed handlers only, as events; the default:
            :meth:`record_every_delivery` switches to ``"all"`` once recording runs).
        snapshot_every: Events between two snapshots of the projections.
        state: Gives the live projections' state (registry, jobs) after a given
            event; snapshots are taken from it, so recording never folds twice.
        linger: Seconds a small batch waits for more events before it is committed
            (group commit); a flush, sync durability or a filling buffer cut it short.
    """

    needs_fields_text = True
    """The bus encodes each message as it is sent (and refuses one the codec cannot
    write); the encoder here only turns the envelope's text into a row."""

    def __init__(
        self,
        log: EventLog,
        session_id: str,
        *,
        runner_name: str,
        name: str | None = None,
        durability: Durability = "batch",
        buffer_size: int = 5_000,
        strict: bool = False,
        record_deliveries: Literal["errors", "all"] = "errors",
        snapshot_every: int = 1000,
        state: Callable[[int], SessionState] | None = None,
        linger: float = 0.02,
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
        self._linger = linger
        self._committer: Committer | None = None
        self._bus: WorkerBus | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._seq = 0
        self._pending: list[tuple[int, Envelope]] = []
        self._deliveries: list[tuple[ActiveDelivery, int, BaseException | None]] = []
        self._encoding = False
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()
        self._stopping = False
        self._room_waiters: list[asyncio.Future[None]] = []
        self.most_buffered = 0

    # --- what the committer knows ----------------------------------------------------

    @property
    def written(self) -> int:
        """Events committed so far."""
        return self._committer.written if self._committer is not None else 0

    @property
    def lost(self) -> int:
        """Events that could not be written."""
        return self._committer.lost if self._committer is not None else 0

    @property
    def first_lost_seq(self) -> int | None:
        """The position of the first event that could not be written."""
        return self._committer.first_lost_seq if self._committer is not None else None

    @property
    def failure(self) -> BaseException | None:
        """The first error the log gave, if any."""
        return self._committer.failure if self._committer is not None else None

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
        if not created:
            self._state = None  # the merged stream is not this runner's: no live snapshots
        writer = self.log.writer(self.session_id, shared=not created, durability=self._durability)
        self._committer = committer = Committer(writer, self.log.url, self.session_id)
        self._bus = bus
        bus.add_tap(self)
        bus.add_gate(self)
        if self._strict:
            bus.add_hold(self)
        if self._record_all:
            bus.add_delivery_tap(self)
        loop = asyncio.get_running_loop()
        name = f"pipebus:recorder:{self.session_id[:8]}"
        self._tasks = [
            loop.create_task(self._encode_loop(), name=f"{name}:encode"),
            loop.create_task(committer.run(self._encoder_idle), name=f"{name}:commit"),
        ]

    def record_every_delivery(self) -> None:
        """Keep every delivery's timing from now on (``record_deliveries="all"``)."""
        if not self._record_all:
            self._record_all = True
            if self._bus is not None:
                self._bus.add_delivery_tap(self)

    async def flush(self) -> None:
        """Wait until everything recorded so far is committed (or counted as lost)."""
        committer = self._committer
        if committer is None or not self._tasks or self._tasks[-1].done():
            return
        if self._encoder_idle() and committer.idle:
            return
        waiter = committer.idle_waiter()
        self._wake.set()
        self._hurry.set()
        await waiter

    async def stop(self, status: str) -> None:
        """Flush, mark the session ``status`` (ended, cancelled, failed) and stop recording."""
        if self._bus is not None:
            self._bus.remove_tap(self)
            self._bus.remove_gate(self)
            self._bus.remove_hold(self)
            self._bus.remove_delivery_tap(self)
        committer = self._committer
        if committer is None:
            return
        self._stopping = True
        self._wake.set()
        self._hurry.set()
        if self._tasks:
            await asyncio.wait([self._tasks[0]])
            committer.close()
            await asyncio.wait([self._tasks[1]])
        try:
            await committer.mark_loss()
            await self.log.end_session(self.session_id, status)
        except EventLogError as exc:
            committer.fail(exc, count=0)
        finally:
            await committer.writer.close()

    # --- the tap --------------------------------------------------------------------------

    def on_envelope(self, envelope: Envelope) -> None:
        """Buffer one envelope (the bus calls this as it stamps it; it never waits)."""
        self._seq = seq = self._seq + 1
        pending = self._pending
        pending.append((seq, envelope))  # encoded later, by the encoder: not on the send path
        buffered = len(pending)
        if buffered > self.most_buffered:
            self.most_buffered = buffered
            if buffered >= self._capacity // 2:
                self._hurry.set()
        if self._state is not None and seq % self._snapshot_every == 0 and self._committer:
            self._committer.add_snapshot(seq, self._state(seq))
        self._wake.set()

    def on_delivery(
        self, delivery: ActiveDelivery, end_ns: int, error: BaseException | None
    ) -> None:
        """Keep a delivery's timing (with ``record_deliveries="all"``).

        Only kept here: the encoder makes its record, off the handler's path.
        """
        self._deliveries.append((delivery, end_ns, error))
        if not self._wake.is_set():
            self._wake.set()

    # --- the gate -------------------------------------------------------------------------

    def must_wait(self) -> bool:
        """Whether the sender must wait: buffer full, or sync durability."""
        return len(self._pending) >= self._capacity or self._durability == "sync"

    async def wait(self) -> None:
        """Wait for room in the buffer, or (sync) for the commit of what was just sent."""
        self._hurry.set()
        if self._durability == "sync" and self._committer is not None:
            await self._committer.committed_up_to(self._seq)
        loop = asyncio.get_running_loop()
        while len(self._pending) >= self._capacity:
            room: asyncio.Future[None] = loop.create_future()
            self._room_waiters.append(room)
            await room

    # --- the hold (strict) --------------------------------------------------------------

    async def until_stored(self, envelope: Envelope) -> None:
        """Return once ``envelope`` (just stamped) is committed.

        Raises:
            EventLogError: If its event could not be stored: the bus then does not
                deliver the message.
        """
        committer = self._committer
        if committer is None:
            return
        # send() stamped it just before, with no await between: its position is the
        # last one this tap gave.
        seq = self._seq
        self._hurry.set()
        self._wake.set()
        if not await committer.stored(seq):
            failure = committer.failure
            raise EventLogError(
                f"the event log {self.log.url} could not store {type(envelope.message).__name__} "
                f"from {envelope.message.source!r} (step {seq}), so it was not delivered: "
                f"{failure}"
            ) from failure

    # --- the encoder --------------------------------------------------------------------

    def _encoder_idle(self) -> bool:
        return not self._pending and not self._deliveries and not self._encoding

    def _delivery_records(self) -> None:
        """Hand the deliveries finished so far to the committer, as records."""
        finished, self._deliveries = self._deliveries, []
        if self._committer is None:
            return
        add, record = self._committer.add_delivery, DeliveryRecord.of
        for delivery, end_ns, error in finished:
            add(record(delivery, end_ns, error))

    async def _encode_loop(self) -> None:
        committer = self._committer
        assert committer is not None
        session_id = self.session_id
        while True:
            if not self._pending and not self._deliveries:
                committer.wake()  # it may be waiting to tell a flush that all is done
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._gather()
            envelopes, self._pending = self._pending, []
            self._encoding = True
            resolve(self._room_waiters)
            for start in range(0, len(envelopes), ENCODE_CHUNK):
                if start:
                    await asyncio.sleep(0)  # let the bus run between chunks
                chunk = envelopes[start : start + ENCODE_CHUNK]
                committer.submit([recordable_row(env, session_id, seq) for seq, env in chunk])
                if self._deliveries:
                    self._delivery_records()
                await committer.room(self._capacity)
            self._delivery_records()
            self._encoding = False

    async def _gather(self) -> None:
        """Group commit: let a small batch grow for ``linger`` seconds, unless hurried."""
        if self._linger <= 0 or self._durability == "sync" or self._hurry.is_set():
            self._hurry.clear()
            return
        try:
            async with asyncio.timeout(self._linger):
                await self._hurry.wait()
        except TimeoutError:
            pass
        self._hurry.clear()
