"""Ids: the trace and span ids pipebus derives, and job ids shortened for people.

A delivery's (consumer) span id is a function of its message's send span id and the
subscriber's name, and a job group's span id a function of its job id. So the live
tracer and an export of the recorded session name the same spans the same way, and
the log needs no row per delivery to rebuild a trace.

A job id pipebus makes is 32 hex digits, laid out like a UUIDv7: 12 digits of Unix
milliseconds, then 20 random ones. Jobs of one session share most of the time
digits, so the CLI, the demo and the inspector show the start of the random tail
(:func:`short_job_id`), and accept it back wherever a job is asked for
(:func:`job_id_matches`).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

MASK64 = (1 << 64) - 1

JOB_ID_TIME_DIGITS = 12
"""Hex digits of Unix milliseconds that open a job id pipebus makes (the rest is random)."""

SHORT_JOB_ID = 8
"""Random digits shown of such an id: two jobs of a session show alike about once in 4e9."""

SHORT_OTHER_ID = 24
"""Characters shown of a job id the application chose, whole up to this length."""

_GENERATED = re.compile(r"[0-9a-f]{32}")
_CUT = "…"


def is_generated_job_id(job_id: str) -> bool:
    """Whether ``job_id`` has the layout of the ids pipebus makes (32 lowercase hex digits)."""
    return _GENERATED.fullmatch(job_id) is not None


def short_job_id(job_id: str) -> str:
    """The part of a job id that tells the jobs of a session apart, to show people.

    For an id pipebus made, the first random digits after the shared time prefix;
    an id the application chose is kept whole (it chose it), or cut with ``…`` when
    longer than :data:`SHORT_OTHER_ID`. :func:`job_id_matches` accepts what this returns.
    """
    if is_generated_job_id(job_id):
        return job_id[JOB_ID_TIME_DIGITS : JOB_ID_TIME_DIGITS + SHORT_JOB_ID]
    if len(job_id) <= SHORT_OTHER_ID:
        return job_id
    return job_id[: SHORT_OTHER_ID - 1] + _CUT


def job_id_wanted(given: str) -> str:
    """What a user typed for a job, as a prefix: a shown id's trailing ``…`` dropped."""
    return given.removesuffix(_CUT)


def job_id_matches(job_id: str, given: str) -> bool:
    """Whether ``given`` names ``job_id``: a prefix of it, or of its shown (short) part.

    So both a prefix of the whole id and what :func:`short_job_id` printed find the job.
    """
    wanted = job_id_wanted(given)
    if job_id.startswith(wanted):
        return True
    return is_generated_job_id(job_id) and job_id.startswith(wanted, JOB_ID_TIME_DIGITS)


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
