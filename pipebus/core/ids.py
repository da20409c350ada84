"""Trace and span ids pipebus derives: for deliveries and for job groups.

A delivery's (consumer) span id is a function of its message's send span id and the
subscriber's name, and a job group's span id a function of its job id. So the live
tracer and an export of the recorded session name the same spans the same way, and
the log needs no row per delivery to rebuild a trace.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

MASK64 = (1 << 64) - 1


@lru_cache(maxsize=4096)
def name_key(name: str) -> int:
    """A stable 64-bit key of a name (the same in every process and run)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")


def mix(value: int) -> int:
    """A 64-bit finaliser (SplitMix64): spreads the bits of ``value``, never 0."""
    value = (value + 0x9E3779B97F4A7C15) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return (value ^ (value >> 31)) or 1


def delivery_span_id(send_span_id: int, subscriber_key: int) -> int:
    """The span id of one message's delivery to one subscriber (``name_key`` of it)."""
    return mix(send_span_id ^ subscriber_key)


def job_span_id(job_id: str) -> int:
    """The span id of a job group (``job <name>``) in its requester."""
    return mix(name_key(job_id))


def root_trace_id(job_id: str) -> int:
    """The trace of a job's messages sent outside any handler (one trace per job)."""
    return int.from_bytes(hashlib.blake2b(job_id.encode(), digest_size=16).digest(), "big") or 1
