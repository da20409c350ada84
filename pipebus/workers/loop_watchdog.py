"""The loop watchdog: notices when a runner's event loop is blocked, and by what.

A handler that calls blocking code (``time.sleep(2)``, a synchronous HTTP client, a
long computation) stops every other worker of its runner, and nothing else says so.
The watchdog has two halves, and nothing of it runs per message:

- in the loop, a timer due every ``threshold / 2``. When it runs ``threshold`` or more
  late, the loop ran nothing else for that long: the watchdog logs a warning and
  records a ``BusLoopBlockedMessage`` on the runner's bus (so the event log and the
  inspector show the stall), caused by the message whose handler was running. The
  delay is a lower bound of the stall, short by at most ``threshold / 2``: a stall
  of 1.5 thresholds or more is always recorded, a shorter one may be;
- a daemon thread that wakes as often. When the timer is overdue by half the
  threshold, the loop is stuck right now: the thread takes the loop thread's stack
  (``sys._current_frames()``) and the delivery in progress, so that the event names the
  handler and the line it was blocked in.

Only the loop's own doing counts. On Linux, the time the loop's thread spent waiting
for a CPU (``/proc/self/task/<tid>/schedstat``: a busy machine) is taken off the
delay; and a delay is recorded only if the loop was busy: the thread saw it outside
its selector, or (when the thread could not run, because the loop held the GIL) the
loop's thread used CPU for at least half of it. A process that the machine did not
run, or that was stopped, records nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from types import FrameType

from pipebus.bus.base import WorkerBus
from pipebus.bus.context import ActiveDelivery, current_delivery
from pipebus.bus.subscriber import BusSubscriber
from pipebus.core.messages import BusLoopBlockedMessage

logger = logging.getLogger("pipebus.runner")

DEFAULT_THRESHOLD_MS = 100.0
"""A stall this long or longer is recorded, unless the runner or the environment says.

asyncio's debug mode calls a callback slow from 100 ms on, too.
"""

ENV_VAR = "PIPEBUS_LOOP_BLOCKED_MS"
"""The environment variable that sets the default threshold (``0`` or ``off``: no watchdog)."""

_LANE = ("_run_lane", os.path.join("pipebus", "bus", "subscription.py"))
_SELECTOR = os.path.join("", "selectors.py")
_ASYNCIO_RUN = os.path.join("asyncio", "events.py")
_NOT_THE_APPLICATION = tuple(
    os.path.dirname(path) + os.sep
    for path in (
        os.path.dirname(os.path.dirname(__file__)),  # pipebus
        asyncio.__file__,  # asyncio
        os.__file__,  # the standard library
    )
)


def threshold_from(setting: float | None) -> float:
    """The threshold in ms for ``WorkerRunner(loop_blocked_ms=setting)``; 0 means off.

    None takes ``$PIPEBUS_LOOP_BLOCKED_MS`` (a number of ms, or ``off``), else
    :data:`DEFAULT_THRESHOLD_MS`.

    Raises:
        ValueError: If the setting or the environment variable is not a number >= 0.
    """
    if setting is None:
        raw = os.environ.get(ENV_VAR, "").strip()
        if not raw:
            return DEFAULT_THRESHOLD_MS
        if raw.lower() == "off":
            return 0.0
        try:
            setting = float(raw)
        except ValueError:
            raise ValueError(f"{ENV_VAR}={raw!r}: give milliseconds (e.g. 100) or 'off'") from None
    if not setting >= 0:  # also refuses NaN
        raise ValueError(f"loop_blocked_ms={setting!r}: give milliseconds >= 0 (0: off)")
    return float(setting)


@dataclass(frozen=True, slots=True)
class _Sample:
    """What the thread saw of the loop thread during one stall."""

    due: float
    idle: bool
    delivery: ActiveDelivery | None
    subscriber: str | None
    handler: str | None
    blocked_in: str | None
    traceback: str


class LoopWatchdog:
    """Records a ``BusLoopBlockedMessage`` when the running loop is blocked too long.

    Args:
        threshold_ms: The shortest stall recorded, in milliseconds (> 0).
        runner_name: The source of stalls that happen outside any delivery.

    Attributes:
        stalls: How many stalls it has recorded.
    """

    def __init__(self, threshold_ms: float, runner_name: str) -> None:
        self.threshold = threshold_ms / 1000
        self.interval = self.threshold / 2
        self._runner_name = runner_name
        self._bus: WorkerBus | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._loop_thread = 0
        self._due = 0.0  # when the timer should run (loop.time(), i.e. time.monotonic())
        self._cpu = 0.0  # the loop thread's CPU time when the timer was set
        self._run_delay = _RunDelay()
        self._waited = 0.0  # the loop thread's time waiting for a CPU, when the timer was set
        self._sample: _Sample | None = None  # written by the thread, read by the loop
        self.stalls = 0

    @property
    def running(self) -> bool:
        """Whether it watches a loop."""
        return self._thread is not None

    def start(self, bus: WorkerBus) -> None:
        """Watch the running loop and record stalls on ``bus``."""
        if self._thread is not None:
            return
        self._bus = bus
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._run_delay.open()
        self._stopping.clear()
        self._arm()
        self._thread = threading.Thread(
            target=self._watch, name=f"pipebus-loop-watchdog:{self._runner_name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (the thread ends within one interval; no wait here)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._run_delay.close()
        self._bus = None

    # --- the loop's half ---------------------------------------------------------------

    def _arm(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self.interval
        self._cpu = time.thread_time()
        self._waited = self._run_delay.seconds()
        self._timer = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        late = self._loop.time() - self._due
        if late >= self.threshold:
            late -= self._run_delay.seconds() - self._waited  # the machine's share
            if late >= self.threshold:
                self._stalled(late, time.thread_time() - self._cpu)
        self._arm()

    def _stalled(self, late: float, cpu: float) -> None:
        sample = self._sample
        if sample is not None and sample.due != self._due:
            sample = None  # from an earlier stall
        self._sample = None
        if sample is None and cpu < late / 2:
            logger.debug("loop ran %.0f ms late, but idle (the process was not scheduled)", late)
            return
        if sample is not None and sample.idle:
            logger.debug("loop ran %.0f ms late while in its selector: not blocked", late)
            return
        bus = self._bus
        if bus is None:
            return
        delivery = sample.delivery if sample is not None else None
        source = (sample.subscriber if sample is not None else None) or self._runner_name
        handler = sample.handler if sample is not None else None
        where = sample.blocked_in if sample is not None else None
        self.stalls += 1
        logger.warning(
            "event loop blocked for %.0f ms (threshold %.0f ms) by %s%s",
            late * 1000,
            self.threshold * 1000,
            handler or "code that held the GIL",
            f" at {where}" if where else "",
        )
        stall = BusLoopBlockedMessage(
            source=source,
            blocked_ms=round(late * 1000, 1),
            threshold_ms=self.threshold * 1000,
            handler=handler,
            message_id=delivery.envelope.message_id if delivery is not None else None,
            blocked_in=where,
            traceback=sample.traceback if sample is not None else "",
        )
        # Stamped as if sent by the handler that blocked: its cause is the message it
        # was handling, and it joins that message's trace.
        token = current_delivery.set(delivery)
        try:
            bus.record(stall)
        finally:
            current_delivery.reset(token)

    # --- the thread's half -------------------------------------------------------------

    def _watch(self) -> None:
        sampled = 0.0
        while not self._stopping.wait(self.interval):
            due = self._due
            if due != sampled and time.monotonic() - due >= self.threshold / 2:
                sampled = due
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    self._sample = _sample_of(frame, due)

    def __repr__(self) -> str:
        return f"LoopWatchdog(threshold_ms={self.threshold * 1000:g}, stalls={self.stalls})"


class _RunDelay:
    """The calling thread's time spent waiting for a CPU, where Linux tells it (else 0)."""

    def __init__(self) -> None:
        self._fd: int | None = None

    def open(self) -> None:
        """Follow the calling thread."""
        try:
            self._fd = os.open(
                f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY
            )
        except OSError:  # not Linux, or no scheduler statistics: no correction
            self._fd = None

    def seconds(self) -> float:
        """Seconds the thread has waited on a run queue so far."""
        if self._fd is None:
            return 0.0
        try:
            # "<ns on a CPU> <ns waiting for one> <timeslices>"; pread re-reads it.
            return int(os.pread(self._fd, 64, 0).split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    def close(self) -> None:
        """Stop following it."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _sample_of(frame: FrameType, due: float) -> _Sample:
    """What the loop thread is running: its stack from the running task down, and who.

    The handler is the application's code: the outermost frame, within the running
    callback, that is neither pipebus's, asyncio's nor the standard library's (else the
    innermost frame). The subscriber is the one whose delivery is in progress, else
    the innermost ``self`` that is a subscriber (a worker's hook, a job handler).
    """
    frames: list[FrameType] = []
    walking: FrameType | None = frame
    while walking is not None:
        frames.append(walking)
        walking = walking.f_back
    frames.reverse()  # outermost first
    innermost = frames[-1]
    if innermost.f_code.co_filename.endswith(_SELECTOR):
        return _Sample(due, True, None, None, None, None, "")
    # What runs inside one callback of the loop: the frames after asyncio's Handle._run.
    start = 0
    for index, each in enumerate(frames):
        if each.f_code.co_name == "_run" and each.f_code.co_filename.endswith(_ASYNCIO_RUN):
            start = index + 1
    running = frames[start:] or frames
    delivery: ActiveDelivery | None = None
    for each in running:
        code = each.f_code
        if code.co_name == _LANE[0] and code.co_filename.endswith(_LANE[1]):
            found = each.f_locals.get("delivery")
            delivery = found if isinstance(found, ActiveDelivery) else None
    handler = next(
        (f for f in running if not f.f_code.co_filename.startswith(_NOT_THE_APPLICATION)),
        innermost,
    ).f_code.co_qualname
    subscriber = delivery.subscriber if delivery is not None else None
    if subscriber is None:
        for each in reversed(running):
            owner = each.f_locals.get("self") if "self" in each.f_code.co_varnames else None
            if isinstance(owner, BusSubscriber):
                subscriber = owner.name
                break
    code = innermost.f_code
    where = f"{code.co_filename}:{innermost.f_lineno} in {code.co_qualname}"
    stack = "".join(traceback.format_list(traceback.extract_stack(innermost)[-len(running) :]))
    return _Sample(
        due,
        False,
        delivery,
        subscriber,
        handler,
        where,
        "Stack (most recent call last):\n" + stack,
    )
