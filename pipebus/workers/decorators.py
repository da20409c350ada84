"""``@job(name=...)`` and ``@worker_ready(name=...)``: mark worker methods as handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_JOB_NAME = "_pipebus_job_name"
_JOB_SEQUENTIAL = "_pipebus_job_sequential"
_READY_NAME = "_pipebus_worker_ready_name"


def job(*, name: str, sequential: bool = False) -> Callable[[F], F]:
    """Mark a worker method as the handler of job requests named ``name``.

    Each request runs in its own task, so the worker's message handling is never
    blocked. With ``sequential=True`` requests of this name run one at a time, in
    arrival order; the wait counts against the requester's timeout.
    """

    def mark(fn: F) -> F:
        setattr(fn, _JOB_NAME, name)
        setattr(fn, _JOB_SEQUENTIAL, sequential)
        return fn

    return mark


def worker_ready(*, name: str) -> Callable[[F], F]:
    """Mark a worker method to be called when the worker called ``name`` is ready.

    The worker watches ``name`` when it starts; if that worker is already ready the
    method runs at once.
    """

    def mark(fn: F) -> F:
        setattr(fn, _READY_NAME, name)
        return fn

    return mark


def collect_job_handlers(obj: object) -> dict[str, tuple[Callable[..., Any], bool]]:
    """The ``@job`` methods of ``obj``: job name -> (bound method, sequential).

    ``sequential`` is read from the method that carries the marker.

    Raises:
        ValueError: If two methods handle the same job name.
    """
    handlers = {}
    for name, method in _collect(obj, _JOB_NAME, "@job").items():
        sequential = any(
            getattr(vars(cls).get(method.__name__), _JOB_SEQUENTIAL, False)
            for cls in type(obj).__mro__
        )
        handlers[name] = (method, sequential)
    return handlers


def collect_worker_ready_handlers(obj: object) -> dict[str, Callable[..., Any]]:
    """The ``@worker_ready`` methods of ``obj``: watched worker name -> bound method.

    Raises:
        ValueError: If two methods watch the same worker.
    """
    return _collect(obj, _READY_NAME, "@worker_ready")


def _collect(obj: object, marker: str, label: str) -> dict[str, Callable[..., Any]]:
    """Marked methods of ``obj``'s class, bound, by their key.

    An override keeps the marker of the method it overrides, so a subclass can
    change a ``@job`` handler without repeating the decorator; a marker on the
    override wins.
    """
    keys: dict[str, Any] = {}
    for cls in reversed(type(obj).__mro__):
        for attr, value in vars(cls).items():
            key = getattr(value, marker, None) if callable(value) else None
            if key is not None:
                keys[attr] = key
    found: dict[str, Callable[..., Any]] = {}
    owners: dict[Any, str] = {}
    for attr, key in keys.items():
        if key in found:
            raise ValueError(
                f"{type(obj).__name__}: two {label} handlers for {key!r}: "
                f"{attr!r} and {owners[key]!r}"
            )
        found[key] = getattr(obj, attr)
        owners[key] = attr
    return found
