"""The ``--json`` records of the commands: one flat object per session, event, worker, job.

Their keys are a contract (documented in the README under "Command line"): always
present, in this order, ``null`` when there is no value. Keys may be added, never
renamed or removed.
"""

from __future__ import annotations

import json
from typing import Any

from inspector.data import SessionRow
from pipebus.eventlog.rows import StoredEvent
from pipebus.projections.jobs import JobState
from pipebus.projections.registry import WorkerInfo
from pipebus.projections.views import WorkerActivity


def session_record(row: SessionRow) -> dict[str, Any]:
    """A session as listed: ``status`` is the shown one (``incomplete`` if its recorder died).

    ``events`` is what the log holds, ``last_step`` its highest step (more when steps
    are missing), ``duration_ns`` the time it ran (an incomplete one: the span it
    recorded).
    """
    info = row.info
    return {
        "id": info.id,
        "name": info.name,
        "runner": info.runner,
        "host": info.host,
        "pid": info.pid,
        "version": info.version,
        "started_ns": info.started_ns,
        "ended_ns": info.ended_ns,
        "status": row.status,
        "events": row.events,
        "errors": info.errors,
        "lost_events": info.lost_events,
        "first_lost_seq": info.first_lost_seq,
        "last_step": row.last_step,
        "duration_ns": row.duration_ns,
    }


def payload_object(payload: str) -> Any:
    """The recorded payload as JSON (the codec's form); ``{"$raw": text}`` if not JSON."""
    try:
        return json.loads(payload)
    except ValueError:
        return {"$raw": payload}


def event_record(event: StoredEvent) -> dict[str, Any]:
    """An event, its payload as recorded (never decoded, so any event can be written)."""
    return {
        "seq": event.seq,
        "message_id": event.message_id,
        "time_ns": event.time_ns,
        "type": event.type,
        "source": event.source,
        "target": event.target,
        "priority": event.priority,
        "local": event.local,
        "job_id": event.job_id,
        "runner": event.runner,
        "remote": event.remote,
        "trace_id": event.trace_id,
        "span_id": event.span_id,
        "parent_span_id": event.parent_span_id,
        "causation_id": event.causation_id,
        "message": payload_object(event.payload),
    }


def worker_record(info: WorkerInfo, doing: WorkerActivity | None, *, step: int) -> dict[str, Any]:
    """A worker of the registry at ``step``, with the jobs it works on and waits on."""
    return {
        "kind": "worker",
        "step": step,
        "name": info.name,
        "runner": info.runner,
        "parent": info.parent,
        "status": info.status,
        "active": info.active,
        "errors": info.errors,
        "stop_reason": info.stop_reason,
        "working_on": list(doing.working_on) if doing is not None else [],
        "waiting_on": list(doing.waiting_on) if doing is not None else [],
    }


def job_record(job: JobState, *, step: int) -> dict[str, Any]:
    """A job at ``step``, with each worker's part (by worker name, sorted)."""
    return {
        "kind": "job",
        "step": step,
        "id": job.job_id,
        "name": job.name,
        "requester": job.requester,
        "status": job.status,
        "reason": job.reason,
        "started_ns": job.started_ns,
        "finished_ns": job.finished_ns,
        "workers": {
            name: {"status": part.status, "updates": part.updates, "chunks": part.chunks}
            for name, part in sorted(job.workers.items())
        },
    }
