"""``BusSubscription``: one subscriber's two delivery lanes and the tasks that drain them.

System messages have a lane and a task of their own, so one can be handled while a
long data handler is still running. Data messages are handled one at a time, in FIFO
order. One rule keeps a job's messages in send order across the lanes: a system
message of a job (an urgent response, a cancel) that finds data of the same job still
queued or being handled joins the data lane behind it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pipebus.bus.context import ActiveDelivery, current_delivery
from pipebus.bus.subscriber import BusSubscriber
from pipebus.core.envelope import Envelope
from pipebus.core.messages import BusMessage
from pipebus.core.routing import Lane, lane_of

if TYPE_CHECKING:
    from pipebus.bus.base import WorkerBus


class _LaneState:
    """A FIFO of envelopes and the future its task waits on while it is empty."""

    __slots__ = ("items", "task", "waiter")

    def __init__(self) -> None:
        self.items: deque[Envelope] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None

    def push(self, envelope: Envelope) -> None:
        self.items.append(envelope)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)


class BusSubscription:
    """A subscriber's state on the bus.

    Attributes:
        subscriber: The subscriber receiving messages.
        delivered: How many messages its handler has been given.
        filtered: How many it refused through ``accepts_bus_message``.
    """

    def __init__(self, subscriber: BusSubscriber, bus: WorkerBus) -> None:
        self.subscriber = subscriber
        self.name = subscriber.name
        self.wants = subscriber.bus_message_types
        self.delivered = 0
        self.filtered = 0
        self._bus = bus
        self._receive: Callable[[BusMessage], Awaitable[None]] = subscriber.on_bus_message
        overrides_accepts = (
            type(subscriber).accepts_bus_message is not BusSubscriber.accepts_bus_message
        )
        self._accepts = subscriber.accepts_bus_message if overrides_accepts else None
        self._system = _LaneState()
        self._data = _LaneState()
        self._job_pending: dict[str, int] = {}
        self._busy = 0
        self._idle_waiters: list[asyncio.Future[None]] = []

    @property
    def queued(self) -> int:
        """Messages waiting in both lanes."""
        return len(self._system.items) + len(self._data.items)

    def put(self, envelope: Envelope) -> None:
        """Queue a message in the lane its type asks for (see the module docstring)."""
        lane = lane_of(type(envelope.message))
        job_id = envelope.job_id
        if job_id is not None:
            pending = self._job_pending.get(job_id, 0)
            if lane is Lane.SYSTEM and not pending:
                self._system.push(envelope)
                return
            self._job_pending[job_id] = pending + 1
            self._data.push(envelope)
        elif lane is Lane.SYSTEM:
            self._system.push(envelope)
        else:
            self._data.push(envelope)

    def start(self) -> None:
        """Start the lane tasks (the bus calls this when it starts or on subscribe)."""
        tasks = self._bus.task_manager
        if self._system.task is None:
            self._system.task = tasks.create_task(
                self._run_lane(self._system, tracks_jobs=False), f"pipebus:{self.name}:system"
            )
        if self._data.task is None:
            self._data.task = tasks.create_task(
                self._run_lane(self._data, tracks_jobs=True), f"pipebus:{self.name}:data"
            )

    async def stop(self) -> int:
        """Stop the lane tasks; returns how many messages are still queued.

        Queued messages stay queued: a bus started again delivers them (as Pipecat's
        does). A lane stopping itself (a handler that unsubscribes its own subscriber)
        is not cancelled: it finishes the handler and exits. A lane whose handler
        swallows its cancellation is waited for ``bus.lane_stop_grace`` seconds, then
        left running and reported as a handler error, so that a stop never hangs (a
        runner then ends such a task: see ``pipebus.workers.stuck_tasks``).
        """
        current = asyncio.current_task()
        stopping = []
        for lane in (self._system, self._data):
            task, lane.task = lane.task, None
            if task is not None and task is not current and not task.done():
                task.cancel()
                stopping.append(task)
        # Every lane is cancelled before waiting: if our own task is cancelled while it
        # waits, no lane is left pending with nothing referencing it.
        if stopping:
            # Unlike `await task`, never raises the lane's cancel.
            _, still = await asyncio.wait(stopping, timeout=self._bus.lane_stop_grace)
            for task in still:
                note = (
                    f"lane {task.get_name()!r} still runs {self._bus.lane_stop_grace:g}s "
                    "after its cancel: its handler ignores cancellation"
                )
                self._bus.report_handler_error(
                    self.name, task.get_name(), asyncio.CancelledError(note)
                )
        self._resolve_idle()
        return self.queued

    def is_idle(self) -> bool:
        """True when nothing is queued and no handler is running."""
        return self._busy == 0 and not self._system.items and not self._data.items

    def idle(self) -> asyncio.Future[None]:
        """A future resolved the next time this subscription is idle."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.is_idle():
            future.set_result(None)
        else:
            self._idle_waiters.append(future)
        return future

    def _resolve_idle(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _run_lane(self, lane: _LaneState, *, tracks_jobs: bool) -> None:
        loop = asyncio.get_running_loop()
        items = lane.items
        bus = self._bus
        taps = bus.taps
        receive = self._receive
        accepts = self._accepts
        name = self.name
        while lane.task is not None or items:
            if not items:
                if self._idle_waiters and self.is_idle():
                    self._resolve_idle()
                if lane.task is None:
                    return
                waiter: asyncio.Future[None] = loop.create_future()
                lane.waiter = waiter
                await waiter
                continue
            envelope = items.popleft()
            message = envelope.message
            if accepts is not None and not accepts(message):
                self.filtered += 1
            else:
                self.delivered += 1
                delivery = ActiveDelivery(envelope, name, time.time_ns())
                token = current_delivery.set(delivery)
                bridge = bus.trace_bridge
                entered = bridge.enter(delivery) if bridge is not None else None
                self._busy += 1
                error: BaseException | None = None
                try:
                    await receive(message)
                except asyncio.CancelledError as exc:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise
                    error = exc
                    bus.report_handler_error(name, "on_bus_message", exc, delivery)
                except Exception as exc:
                    error = exc
                    bus.report_handler_error(name, "on_bus_message", exc, delivery)
                finally:
                    self._busy -= 1
                    current_delivery.reset(token)
                    if bridge is not None:
                        bridge.leave(entered)
                if taps.delivery_taps:
                    taps.show_delivery(delivery, error)
            if tracks_jobs and envelope.job_id is not None:
                self._job_done(envelope.job_id)

    def _job_done(self, job_id: str) -> None:
        left = self._job_pending.get(job_id, 0) - 1
        if left > 0:
            self._job_pending[job_id] = left
        else:
            self._job_pending.pop(job_id, None)
