"""Job parameters and ids: merging the seed's keyword arguments into params objects."""

from __future__ import annotations

import random
from dataclasses import fields
from typing import Any, TypeVar

from pipebus.types import JobParams

P = TypeVar("P", bound=JobParams)


def new_job_id() -> str:
    """A random 128-bit job id, as 32 hex digits (cheaper than ``uuid4``)."""
    return f"{random.getrandbits(128):032x}"


def resolve_params(params: P | None, params_class: type[P], **individual: Any) -> P:
    """Merge the seed's keyword arguments (``name=``, ``payload=``, ...) into a params object.

    Raises:
        TypeError: If both ``params`` and individual arguments were given.
    """
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
