"""Routing rules: who gets a message, in which lane, and which messages belong to a job.

These are pure decisions the bus makes for every message; the bus applies them
with its queues. Per-class answers are cached, so each costs a dict lookup.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from enum import Enum

from pipebus.core.messages import BusLocalMessage, BusMessage, BusRecordOnly, BusSystemMessage


class Lane(Enum):
    """A subscriber's two delivery lanes."""

    SYSTEM = "system"
    """Handled by its own task, ahead of (and concurrently with) queued data."""
    DATA = "data"
    """Handled one at a time, in FIFO order."""


class Delivery(Enum):
    """What the bus does with a sent message."""

    RECORD = "record"
    """Record-only: taps see it, nobody receives it."""
    LOCAL = "local"
    """Delivered on this runner only."""
    PUBLISH = "publish"
    """Handed to the transport (which also delivers locally)."""


_job_type_cache: dict[type, bool] = {}
_lane_cache: dict[type, Lane] = {}
_delivery_cache: dict[type, Delivery] = {}


def lane_of(message_type: type[BusMessage]) -> Lane:
    """The lane a message type asks for: system messages go ahead of data."""
    lane = _lane_cache.get(message_type)
    if lane is None:
        lane = Lane.SYSTEM if issubclass(message_type, BusSystemMessage) else Lane.DATA
        _lane_cache[message_type] = lane
    return lane


def delivery_of(message_type: type[BusMessage]) -> Delivery:
    """Whether a message type is record-only, local-only or published."""
    delivery = _delivery_cache.get(message_type)
    if delivery is None:
        if issubclass(message_type, BusRecordOnly):
            delivery = Delivery.RECORD
        elif issubclass(message_type, BusLocalMessage):
            delivery = Delivery.LOCAL
        else:
            delivery = Delivery.PUBLISH
        _delivery_cache[message_type] = delivery
    return delivery


def carries_job_id(message_type: type[BusMessage]) -> bool:
    """Whether messages of this type belong to a job (have a ``job_id`` field)."""
    known = _job_type_cache.get(message_type)
    if known is None:
        known = is_dataclass(message_type) and any(f.name == "job_id" for f in fields(message_type))
        _job_type_cache[message_type] = known
    return known


def job_id_of(message: BusMessage) -> str | None:
    """The job a message belongs to, or None."""
    if carries_job_id(type(message)):
        job_id: str | None = getattr(message, "job_id", None)
        return job_id
    return None
