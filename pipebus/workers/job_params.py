"""Job parameters and ids: merging Pipecat's keyword arguments into params objects."""

from __future__ import annotations

import random
import time
from dataclasses import fields
from typing import Any, TypeVar

from pipebus.core.types import JobParams

P = TypeVar("P", bound=JobParams)


def new_job_id() -> str:
    """A new 128-bit job id, as 32 hex digits: 48 bits of Unix milliseconds, 80 random.

    Laid out like a UUIDv7, so ids made later sort later: the event log's index of
    events by job then grows at its end, as its other indexes do, instead of taking
    each job at a random place (which made it the costliest index to append to).
    """
    return f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}{random.getrandbits(80):020x}"


def resolve_params(params: P | None, params_class: type[P], **individual: Any) -> P:
    """Merge Pipecat's keyword arguments (``name=``, ``payload=``, ...) into a params object.

    Raises:
        TypeError: If both ``params`` and individual arguments were given.
    """
    if params is not None and not any(v is not None for v in individual.values()):
        return params  # the usual call from within pipebus: nothing to merge
    given = {k: v for k, v in individual.items() if v is not None}
    if not given:
        return params if params is not None else params_class()
    if params is not None:
        raise TypeError(f"pass either params= or {', '.join(sorted(given))}=, not both")
    allowed = _field_names(params_class)
    return params_class(**{k: v for k, v in given.items() if k in allowed})


_field_names_of: dict[type, frozenset[str]] = {}


def _field_names(params_class: type[JobParams]) -> frozenset[str]:
    names = _field_names_of.get(params_class)
    if names is None:
        names = _field_names_of[params_class] = frozenset(f.name for f in fields(params_class))
    return names
