"""The last step of a runner's shutdown: tasks that ignore their cancellation.

A handler that catches ``CancelledError`` and carries on keeps its task alive through
every step of a shutdown, and ``asyncio.run()`` then waits for it forever at
interpreter exit. Once its bus has stopped, the runner gives every task of its
workers and its bus that is still running after a cancel one more cancel and
``grace`` seconds. A task still running after that is recorded as a
``BusHandlerErrorMessage`` (``error_type="CancelledError"``, the traceback showing the
``await`` it is stuck in), then ended: :class:`StuckTaskClosed` is raised at that
``await``, in the task itself. It derives from ``BaseException`` only, so neither an
``except CancelledError`` nor an ``except Exception`` catches it; the handler's
``finally`` blocks run and the task ends.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from types import FrameType, TracebackType
from typing import Any

from pipebus.bus.base import WorkerBus

logger = logging.getLogger("pipebus.runner")

_LANE_TASK = re.compile(r"^pipebus:(?P<subscriber>.+):(?:system|data)$")
"""The name the bus gives a subscription's lane task (``pipebus:<subscriber>:data``)."""


class StuckTaskClosed(BaseException):
    """Raised into a task that ignored its cancellation, to end it (see the module docstring)."""


def owner_of_bus_task(task: asyncio.Task[Any], default: str) -> str:
    """The subscriber whose lane ``task`` is, or ``default`` for any other task."""
    match = _LANE_TASK.match(task.get_name())
    return match["subscriber"] if match else default


def _stack_of(task: asyncio.Task[Any]) -> TracebackType | None:
    """A traceback through the coroutines ``task`` is suspended in, outermost first.

    ``Task.get_stack()`` gives only the outermost frame of a suspended task; the
    ``await`` chain (``cr_await``) leads down to the one it is stuck in.
    """
    frames: list[FrameType] = []
    awaited: Any = task.get_coro()
    while awaited is not None and len(frames) < 100:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    tb: TracebackType | None = None
    for frame in reversed(frames):
        tb = TracebackType(tb, frame, frame.f_lasti, frame.f_lineno)
    return tb


async def end_stuck_tasks(
    bus: WorkerBus, tasks: Iterable[tuple[str, asyncio.Task[Any]]], grace: float
) -> list[str]:
    """Cancel ``tasks`` once more; record and close those still running after ``grace`` s.

    Args:
        bus: Where each stuck task is recorded (as a handler error of its owner).
        tasks: ``(owner, task)``: the worker or subscriber each task works for.
        grace: Seconds the tasks get to end after this cancel.

    Returns:
        The names of the tasks that had to be ended with :class:`StuckTaskClosed`.
    """
    current = asyncio.current_task()
    owners = {task: owner for owner, task in tasks if task is not current and not task.done()}
    if not owners:
        return []
    for task in owners:
        task.cancel()
    _, stuck = await asyncio.wait(owners, timeout=grace)
    closed: list[str] = []
    for task in stuck:
        name = task.get_name()
        note = f"still running {grace:g}s after its cancel; it was ended with StuckTaskClosed"
        error = asyncio.CancelledError(f"task {name!r} ignored its cancellation: {note}")
        bus.report_handler_error(owners[task], name, error.with_traceback(_stack_of(task)))
        # The future the task waits on is the one place to raise into it from outside
        # and still run its code in its own task and context (a coroutine closed from
        # here would run its finally blocks in the runner's context).
        waiting_on = getattr(task, "_fut_waiter", None)
        if type(waiting_on) is not asyncio.Future or waiting_on.done():
            logger.error(
                "task %r waits on %r and cannot be ended; interpreter exit will wait for it",
                name,
                waiting_on,
            )
            continue
        waiting_on.set_exception(StuckTaskClosed(f"{name}: {note}"))
        closed.append(name)
    ended = [task for task in stuck if task.get_name() in closed]
    if ended:
        done, _ = await asyncio.wait(ended, timeout=grace)
        for task in done:
            if not task.cancelled() and not isinstance(task.exception(), StuckTaskClosed):
                logger.error("task %r ended on %r", task.get_name(), task.exception())
    return closed
