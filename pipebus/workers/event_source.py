"""``EventSource``: named events with handlers, owned tasks, and errors that are reported.

Workers and runners fire events (``on_job_completed``, ``on_ready``, ...) to handlers
registered with ``@obj.event_handler(name)``. Each handler runs in its own task owned
by the object; an exception in one is reported through the bus (logged, counted and
recorded as a ``BusHandlerErrorMessage``) and never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pipebus.bus.tasks import TaskManager, UsesTaskManager

if TYPE_CHECKING:
    from pipebus.bus.base import WorkerBus

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
EventHandler = Callable[..., Any]

_DEFAULT = "_pipebus_default_hook"
_overrides_cache: dict[tuple[type, str], bool] = {}


def default_hook(fn: F) -> F:
    """Mark pipebus's own (empty) implementation of an overridable hook."""
    setattr(fn, _DEFAULT, True)
    return fn


def overrides_hook(cls: type, name: str) -> bool:
    """Whether ``cls`` replaces pipebus's default implementation of hook ``name``."""
    key = (cls, name)
    found = _overrides_cache.get(key)
    if found is None:
        found = not getattr(getattr(cls, name), _DEFAULT, False)
        _overrides_cache[key] = found
    return found


logger = logging.getLogger("pipebus.worker")


@dataclass(frozen=True, slots=True)
class EventPort:
    """What a part of a worker may do with the worker's hooks and event handlers.

    A part is handed one at construction instead of calling the worker's private
    methods; the fields are the worker's own bound methods and handler table.

    Attributes:
        hook: ``await hook("on_x", *args)`` calls the worker's override of hook
            ``on_x``, if it has one; an exception it raises is reported, not raised.
        fire: ``fire("on_x", *args)`` starts the worker's ``on_x`` event handlers.
        report_error: ``report_error(where, exc)`` records an exception of user code.
        handlers: The worker's event handlers by event name, to read only.
    """

    hook: Callable[..., Awaitable[None]]
    fire: Callable[..., None]
    report_error: Callable[[str, BaseException], None]
    handlers: Mapping[str, Sequence[EventHandler]]


class EventSource(UsesTaskManager):
    """Events, handlers and owned tasks; subclasses give ``name`` and ``_error_bus``."""

    def __init__(self, task_manager: TaskManager | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._event_handlers: dict[str, list[EventHandler]] = {}
        self._task_manager = task_manager

    @property
    def name(self) -> str:
        """The object's name, used in task names and error reports."""
        raise NotImplementedError

    def _error_bus(self) -> WorkerBus | None:
        """The bus that records this object's errors, if it has one yet."""
        return None

    # --- tasks --------------------------------------------------------------------

    def create_task(
        self, coroutine: Coroutine[Any, Any, T], name: str | None = None
    ) -> asyncio.Task[T]:
        """Start a task owned by this object; it is cancelled when the object stops.

        An exception the task raises is reported (logged and recorded), never lost.
        """
        task = self.task_manager.create_task(coroutine, f"{self.name}::{name or 'task'}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._report_error(f"task:{task.get_name()}", error)

    async def cancel_task(self, task: asyncio.Task[Any], timeout: float | None = 1.0) -> None:
        """Cancel a task and wait (up to ``timeout`` seconds) for it to finish."""
        if task.done() or task is asyncio.current_task():
            return
        task.cancel()
        await asyncio.wait([task], timeout=timeout)

    async def _hook(self, name: str, *args: Any) -> None:
        """Call the overridable hook ``name`` if a subclass overrides it.

        An exception it raises is reported, not propagated: the built-in bookkeeping
        that follows a hook (completing a group, firing event handlers) must not
        depend on user code succeeding. Hooks left as defined by pipebus are skipped.
        """
        if not overrides_hook(type(self), name):
            return
        try:
            await getattr(self, name)(*args)
        except Exception as exc:
            self._report_error(name, exc)

    def _report_error(self, handler: str, error: BaseException) -> None:
        bus = self._error_bus()
        if bus is not None:
            bus.report_handler_error(self.name, handler, error)
        else:
            logger.error(
                "%s: %s raised",
                self.name,
                handler,
                exc_info=(type(error), error, error.__traceback__),
            )

    def _event_port(self) -> EventPort:
        """This object's hooks and events as a part of it may use them."""
        return EventPort(self._hook, self._fire_event, self._report_error, self._event_handlers)

    # --- event handlers ---------------------------------------------------------------

    def _register_event_handler(self, event_name: str) -> None:
        """Declare an event this object can fire (subclasses may add their own)."""
        self._event_handlers.setdefault(event_name, [])

    def event_handler(self, event_name: str) -> Callable[[EventHandler], EventHandler]:
        """Decorator: call the function with ``(worker, *args)`` when ``event_name`` fires."""

        def add(handler: EventHandler) -> EventHandler:
            self.add_event_handler(event_name, handler)
            return handler

        return add

    def add_event_handler(self, event_name: str, handler: EventHandler) -> None:
        """Call ``handler(worker, *args)`` (sync or async) when ``event_name`` fires.

        Raises:
            ValueError: If this object has no event of that name.
        """
        handlers = self._event_handlers.get(event_name)
        if handlers is None:
            known = ", ".join(sorted(self._event_handlers))
            raise ValueError(f"{type(self).__name__} has no event {event_name!r}; events: {known}")
        handlers.append(handler)

    def remove_event_handler(self, event_name: str, handler: EventHandler) -> None:
        """Stop calling ``handler`` for ``event_name``."""
        handlers = self._event_handlers.get(event_name)
        if handlers and handler in handlers:
            handlers.remove(handler)

    async def _call_event_handler(self, event_name: str, *args: Any) -> None:
        """Fire an event: each handler runs in its own task; a failure is reported."""
        self._fire_event(event_name, *args)

    def _fire_event(self, event_name: str, *args: Any) -> None:
        """Start one task per handler of ``event_name`` (nothing when it has none)."""
        handlers = self._event_handlers.get(event_name)
        if not handlers:
            return
        for handler in handlers:
            self.create_task(
                self._run_event_handler(event_name, handler, args), f"event:{event_name}"
            )

    async def _run_event_handler(
        self, event_name: str, handler: EventHandler, args: tuple[Any, ...]
    ) -> None:
        try:
            result = handler(self, *args)
            if asyncio.iscoroutine(result):
                await result
        except Exception as exc:
            self._report_error(f"event:{event_name}", exc)
