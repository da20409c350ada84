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

    Raises:
        ValueError: If two methods handle the same job name.
    """
    return {
        name: (method, bool(getattr(method, _JOB_SEQUENTIAL, False)))
        for name, method in _collect(obj, _JOB_NAME, "@job").items()
    }


def collect_worker_ready_handlers(obj: object) -> dict[str, Callable[..., Any]]:
    """The ``@worker_ready`` methods of ``obj``: watched worker name -> bound method.

    Raises:
        ValueError: If two methods watch the same worker.
    """
    return _collect(obj, _READY_NAME, "@worker_ready")


def _collect(obj: object, marker: str, label: str) -> dict[str, Callable[..., Any]]:
    seen: set[str] = set()
    found: dict[str, Callable[..., Any]] = {}
    owners: dict[str, str] = {}
    for cls in type(obj).__mro__:
        for attr, value in vars(cls).items():
            if attr in seen:
                continue
            seen.add(attr)
            key = getattr(value, marker, None) if callable(value) else None
            if key is None:
                continue
            if key in found:
                raise ValueError(
                    f"{type(obj).__name__}: two {label} handlers for {key!r}: "
                    f"{attr!r} and {owners[key]!r}"
                )
            found[key] = getattr(obj, attr)
            owners[key] = attr
    return found
