"""How the CLI, the demo and the inspector show things: one definition of each.

Messages on one line, values as the application wrote them (never the codec's
``{"$pb": ...}`` tags), job ids shortened to the part that tells jobs apart with
the job's name beside, an event's time as milliseconds since its session started,
a session's duration, and its errors.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

from pipebus.core.codec import WorkerRef
from pipebus.core.ids import short_job_id
from pipebus.core.messages import BusMessage

_SKIPPED = {"source", "target"}

BYTES_SHOWN = 64
"""Bytes shown as a literal (``b'...'``); longer ones as ``<N bytes>``."""

HANDLER_ERROR = "BusHandlerErrorMessage"
WORKER_ERRORS = frozenset({"BusWorkerErrorMessage", "BusWorkerLocalErrorMessage"})
ERROR_TYPES = frozenset({HANDLER_ERROR, *WORKER_ERRORS})
"""The event types that are a session's errors: a handler that raised, a worker's error.

The ``ERRORS`` of ``pipebus sessions`` and the inspector, the demo's summary and the
inspector's ``cat:error`` all count these (the event log's ``errors`` column too).
"""


def short_id(value: str, length: int = 8) -> str:
    """The first characters of an id that is not a job's (a message id, a session id)."""
    return value[:length]


def job_label(job_id: str, name: str | None = None) -> str:
    """A job as people see it: the part of its id that tells it apart, its name beside.

    ``3fa2b1c9 (answer)``; without a name, the short id alone. What comes before the
    space is what ``--job`` and the inspector's ``job:`` accept.
    """
    short = short_job_id(job_id)
    return f"{short} ({name})" if name else short


# --- values -----------------------------------------------------------------------------


def literal(value: Any) -> str:
    r"""A value as the application wrote it, in Python's notation, on one line.

    ``{"progress": 30}``, ``None``, ``True``, ``(18, 21)``, ``{1, 2}``,
    ``datetime.date(2024, 5, 17)``, ``Decimal('1.5')``, ``nan``, ``b'\xff'``,
    ``FrameDirection.DOWNSTREAM``, ``Frame(id=3, name="f")``: what the codec carries comes
    back as these types, so the codec's tags never show. Strings are double-quoted, as
    formatted code writes them.
    """
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Enum):
        return f"{type(value).__name__}.{value.name}"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)  # nan, inf and -inf too, as Python writes them
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, tuple):
        items = [literal(item) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, (set, frozenset)):
        body = "{" + ", ".join(sorted(literal(item) for item in value)) + "}" if value else ""
        if isinstance(value, frozenset):
            return f"frozenset({body})"
        return body or "set()"
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>" if len(value) > BYTES_SHOWN else repr(value)
    if isinstance(value, WorkerRef):
        return f"<worker {value.name}>"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = ", ".join(
            f"{f.name}={literal(getattr(value, f.name))}" for f in dataclasses.fields(value)
        )
        return f"{type(value).__name__}({fields})"
    return repr(value)


def pretty(value: Any, indent: int = 2, level: int = 0) -> str:
    """A value as :func:`literal` writes it, dicts and lists laid out one item a line."""
    pad, inner_pad = " " * (indent * level), " " * (indent * (level + 1))
    if isinstance(value, dict) and value:
        items = [
            f"{inner_pad}{literal(k)}: {pretty(v, indent, level + 1)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        items = [f"{inner_pad}{pretty(item, indent, level + 1)}" for item in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return literal(value)


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with ``…`` if it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact(value: Any, limit: int = 60) -> str:
    """A value as :func:`literal` writes it, cut to ``limit`` characters."""
    return cut(literal(value), limit)


# --- messages ---------------------------------------------------------------------------


def route(message: BusMessage) -> str:
    """``source → target`` (or ``source → *`` for a broadcast)."""
    return f"{message.source} → {message.target or '*'}"


def details(
    message: BusMessage, limit: int = 60, job_names: Mapping[str, str] | None = None
) -> str:
    """The message's own fields (not source and target), ``name=value`` separated by spaces.

    A job id is shown as :func:`job_label` shows it, with the job's name beside: the
    message's own ``job_name``, else the name ``job_names`` holds for it.
    """
    own_name = getattr(message, "job_name", None)
    parts = []
    for field in dataclasses.fields(message):
        if field.name in _SKIPPED:
            continue
        value = getattr(message, field.name)
        if value is None or value == field.default:
            continue
        if field.name == "job_id" and isinstance(value, str):
            name = own_name or (job_names or {}).get(value)
            parts.append(f"job_id={job_label(value, name)}")
        elif field.name == "job_name" and "job_id" in _field_names(message):
            continue  # shown beside the job id
        elif field.name == "message_id" and isinstance(value, str):
            parts.append(f"message_id={short_id(value)}")
        elif isinstance(value, Enum):
            parts.append(f"{field.name}={value.value}")
        else:
            parts.append(f"{field.name}={compact(value, limit)}")
    return " ".join(parts)


def _field_names(message: BusMessage) -> set[str]:
    return {field.name for field in dataclasses.fields(message)}


def describe(
    message: BusMessage, limit: int = 60, job_names: Mapping[str, str] | None = None
) -> str:
    """``Type  source → target  field=value ...`` on one line (see :func:`details`)."""
    extra = details(message, limit, job_names)
    return f"{type(message).__name__}  {route(message)}" + (f"  {extra}" if extra else "")


def job_name_of(message: BusMessage) -> tuple[str, str] | None:
    """``(job id, name)`` if ``message`` names its job (a job request does), else None."""
    job_id, name = getattr(message, "job_id", None), getattr(message, "job_name", None)
    if isinstance(job_id, str) and isinstance(name, str) and name:
        return job_id, name
    return None


# --- times ------------------------------------------------------------------------------


def offset_ms(time_ns: int, started_ns: int) -> float:
    """An event's time: milliseconds since its session started (the sessions' STARTED).

    The demo's timeline, ``pipebus show`` and the inspector all count from there.
    """
    return (time_ns - started_ns) / 1e6


def session_duration_ns(
    started_ns: int, ended_ns: int | None, last_write_ns: int, status: str, now_ns: int
) -> int:
    """How long a session ran, as shown: until it ended, until now while it runs.

    An ``incomplete`` one (its process died) shows the span it recorded, up to the last
    time its recorder wrote, which does not grow with the wall clock.
    """
    if ended_ns is not None:
        return ended_ns - started_ns
    if status == "incomplete":
        return last_write_ns - started_ns
    return now_ns - started_ns


# --- errors -----------------------------------------------------------------------------


def error_summary(counts: Mapping[str, int]) -> str:
    """``3 errors (2 handler errors, 1 worker error)`` from event counts by type."""
    handler = counts.get(HANDLER_ERROR, 0)
    worker = sum(counts.get(name, 0) for name in WORKER_ERRORS)
    total = handler + worker

    def plural(n: int, what: str) -> str:
        return f"{n} {what}{'' if n == 1 else 's'}"

    if not total:
        return "0 errors"
    kinds = f"{plural(handler, 'handler error')}, {plural(worker, 'worker error')}"
    return f"{plural(total, 'error')} ({kinds})"
