"""``TaskManager``: the tasks a bus or a worker starts, kept so they can be found and ended.

Pipecat hands every bus and worker a task manager through ``setup(task_manager)``;
pipebus accepts the same call so code written for Pipecat runs unchanged. A bus or a
worker that was never set up makes its own, so ``setup`` stays optional here.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Coroutine, Sequence
from contextvars import Context
from dataclasses import dataclass
from typing import Any, TypeVar

logger = logging.getLogger("pipebus.tasks")

T = TypeVar("T")


@dataclass
class TaskManagerParams:
    """The loop for :meth:`TaskManager.setup`; deprecated as in Pipecat (pass ``loop=``)."""

    loop: asyncio.AbstractEventLoop

    def __post_init__(self) -> None:
        warnings.warn(
            "`TaskManagerParams` is deprecated: pass `loop=` to `TaskManager` instead",
            DeprecationWarning,
            stacklevel=3,
        )


class TaskManager:
    """Creates named tasks on the running loop and remembers them until they finish.

    Reporting a task's failure is its creator's job (a worker records it as a handler
    error); this only keeps track, so tasks left running can be found.

    Args:
        context: The ``contextvars.Context`` tasks run in (default: a copy of the
            creator's, as asyncio does).
        loop: The loop tasks are created on (default: the one running at the first
            ``create_task``).
    """

    def __init__(
        self,
        *,
        context: Context | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop = loop
        self._context = context

    def setup(self, params: TaskManagerParams) -> None:
        """Use ``params.loop`` (Pipecat's deprecated way to give the loop)."""
        warnings.warn(
            "`TaskManager.setup` is deprecated: pass `loop=` to `TaskManager` instead",
            DeprecationWarning,
            stacklevel=2,
        )
        self._loop = params.loop

    def get_event_loop(self) -> asyncio.AbstractEventLoop:
        """The loop tasks are created on: the one running when first asked."""
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.get_running_loop()
        return self._loop

    def create_task(
        self, coroutine: Coroutine[Any, Any, T], name: str | None = None
    ) -> asyncio.Task[T]:
        """Start ``coroutine`` as a task called ``name`` and keep it until it is done."""
        task = self.get_event_loop().create_task(coroutine, name=name, context=self._context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_task(self, task: asyncio.Task[Any], timeout: float | None = None) -> None:
        """Cancel ``task`` and wait for it to end (at most ``timeout`` seconds, if given).

        The caller's own cancellation still propagates; the task's cancellation does not.
        """
        if task.done():
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            logger.warning(
                "task %r did not end within %s s of its cancel", task.get_name(), timeout
            )

    def current_tasks(self) -> Sequence[asyncio.Task[Any]]:
        """The tasks created here that have not finished yet."""
        return [task for task in self._tasks if not task.done()]


class UsesTaskManager:
    """What buses and workers share: Pipecat's ``setup(task_manager)`` and a task manager.

    Without ``setup``, the object makes a task manager of its own on first use.
    """

    _task_manager: TaskManager | None = None

    async def setup(self, task_manager: TaskManager) -> None:
        """Run this object's tasks under ``task_manager`` (Pipecat's ``setup``; optional here)."""
        self._task_manager = task_manager

    @property
    def task_manager(self) -> TaskManager:
        """The task manager of this object's tasks: the one given, else its own."""
        if self._task_manager is None:
            self._task_manager = TaskManager()
        return self._task_manager
