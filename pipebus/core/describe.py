"""One-line, human-readable descriptions of messages, for the CLI and the inspector."""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import Any

from pipebus.core.messages import BusMessage

_SKIPPED = {"source", "target"}
_SHORT_IDS = {"job_id", "message_id"}


def short_id(value: str, length: int = 8) -> str:
    """The first characters of an id, enough to tell ids of one session apart."""
    return value[:length]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def compact(value: Any, limit: int = 60) -> str:
    """A value as compact JSON-ish text, cut to ``limit`` characters."""
    try:
        text = json.dumps(value, default=_plain, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def route(message: BusMessage) -> str:
    """``source → target`` (or ``source → *`` for a broadcast)."""
    return f"{message.source} → {message.target or '*'}"


def details(message: BusMessage, limit: int = 60) -> str:
    """The message's own fields (not source and target), ``name=value`` separated by spaces."""
    parts = []
    for field in dataclasses.fields(message):
        if field.name in _SKIPPED:
            continue
        value = getattr(message, field.name)
        if value is None or value == field.default:
            continue
        if field.name in _SHORT_IDS and isinstance(value, str):
            parts.append(f"{field.name}={short_id(value)}")
        elif isinstance(value, Enum):
            parts.append(f"{field.name}={value.value}")
        else:
            parts.append(f"{field.name}={compact(value, limit)}")
    return " ".join(parts)


def describe(message: BusMessage, limit: int = 60) -> str:
    """``Type  source → target  field=value ...`` on one line."""
    extra = details(message, limit)
    return f"{type(message).__name__}  {route(message)}" + (f"  {extra}" if extra else "")
