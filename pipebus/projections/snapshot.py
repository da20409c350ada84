"""Snapshots: a ``SessionState`` to compact bytes and back, for the ``snapshots`` table.

JSON of plain lists (the state's NamedTuples in field order), compressed with zlib.
Values that came from messages (responses, updates, payloads) go through the codec's
value encoding, so bytes, enums and frames survive. A snapshot holding more finished
jobs than this pipebus keeps (one taken by an earlier version) loads without the
oldest of them, as the fold would have forgotten them.
"""

from __future__ import annotations

import zlib
from typing import Any

from immutables import Map

from pipebus.core.codec import decode_value, encode_value
from pipebus.core.errors import DecodeError
from pipebus.projections import SessionState
from pipebus.projections import jobs as jobs_projection
from pipebus.projections.jobs import JobsState, JobState, WorkerJob
from pipebus.projections.registry import RegistryState, WorkerInfo

SNAPSHOT_VERSION = 1


def dump(state: SessionState) -> bytes:
    """Serialise a state for the ``snapshots`` table."""
    registry, jobs = state.registry, state.jobs
    document = {
        "v": SNAPSHOT_VERSION,
        "events": state.events,
        "workers": [list(info) for info in registry.workers.values()],
        "stopped": list(registry.stopped),
        "jobs": [_job(job) for job in jobs.jobs.values()],
        "finished": [[position, job_id] for position, job_id in jobs.finished.items()],
        "oldest": jobs.oldest,
        "next": jobs.next,
    }
    return zlib.compress(encode_value(document).encode(), 1)


def _job(job: JobState) -> list[Any]:
    return [*job[:4], [list(part) for part in job.workers.values()], *job[5:]]


def load(data: bytes) -> SessionState:
    """Rebuild a state saved by :func:`dump`.

    Raises:
        DecodeError: If the bytes are not a snapshot this version of pipebus reads.
    """
    try:
        document = decode_value(zlib.decompress(data).decode())
    except (zlib.error, UnicodeDecodeError) as exc:
        raise DecodeError(f"snapshot is not readable: {exc}") from None
    if not isinstance(document, dict) or document.get("v") != SNAPSHOT_VERSION:
        raise DecodeError("snapshot has an unknown format version")
    try:
        workers = Map({row[0]: WorkerInfo(*row) for row in document["workers"]})
        jobs = Map({row[0]: _load_job(row) for row in document["jobs"]})
        registry = RegistryState(workers, tuple(document["stopped"]))
        jobs_state = JobsState(
            jobs,
            Map({position: job_id for position, job_id in document["finished"]}),
            document["oldest"],
            document["next"],
        )
        return SessionState(registry, _trimmed(jobs_state), document["events"])
    except (KeyError, TypeError, IndexError) as exc:
        raise DecodeError(f"snapshot is malformed: {exc!r}") from None


def _trimmed(state: JobsState) -> JobsState:
    """The state without the finished jobs beyond ``FINISHED_JOBS_KEPT``.

    A snapshot taken by a pipebus that kept more finished jobs (earlier ones kept 1000)
    forgets the oldest, as the fold does when one more job finishes.
    """
    kept = jobs_projection.FINISHED_JOBS_KEPT
    jobs, finished, oldest = state.jobs, state.finished, state.oldest
    if state.next - oldest <= kept:
        return state
    while state.next - oldest > kept:
        old_id = finished[oldest]
        finished = finished.delete(oldest)
        oldest += 1
        old = jobs.get(old_id)
        if old is not None and old.finished:
            jobs = jobs.delete(old_id)
    return JobsState(jobs, finished, oldest, state.next)


def _load_job(row: list[Any]) -> JobState:
    parts = Map({part[0]: WorkerJob(*part) for part in row[4]})
    return JobState._make([*row[:4], parts, *row[5:]])


__all__ = ["dump", "load"]
