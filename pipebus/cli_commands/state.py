"""``pipebus state``: a session's worker registry and jobs after a given step."""

from __future__ import annotations

import argparse
import asyncio

from pipebus.cli_commands import CommandError
from pipebus.cli_commands.logs import opened_log
from pipebus.cli_commands.output import duration, emit, json_line, one_line, table
from pipebus.cli_commands.records import job_record, worker_record
from pipebus.core.describe import job_label
from pipebus.core.errors import DecodeError
from pipebus.projections import SessionState
from pipebus.projections.jobs import JobState
from pipebus.projections.views import WorkerActivity, activity
from pipebus.replay.session import SessionReplay

WORKER_HEADERS = ("NAME", "RUNNER", "PARENT", "STATUS", "ACTIVE", "WORKING ON", "WAITING ON")
PART_HEADERS = ("WORKER", "STATUS", "UPDATES", "CHUNKS")


def _jobs(state: SessionState) -> list[JobState]:
    return sorted(state.jobs.jobs.values(), key=lambda job: (job.started_ns, job.job_id))


def _ids(job_ids: tuple[str, ...], state: SessionState) -> str:
    """Jobs as :func:`~pipebus.core.describe.job_label` shows them, comma-separated."""
    jobs = state.jobs.jobs
    labels = (job_label(i, jobs[i].name if i in jobs else None) for i in job_ids)
    return ", ".join(labels) or "-"


def json_lines(state: SessionState, step: int) -> list[str]:
    """One line per worker (by name), then one per job (by start), as JSON."""
    doing = activity(state)
    workers = sorted(state.registry.workers.values(), key=lambda info: info.name)
    return [
        *(json_line(worker_record(info, doing.get(info.name), step=step)) for info in workers),
        *(json_line(job_record(job, step=step)) for job in _jobs(state)),
    ]


def text_lines(state: SessionState, step: int, replay: SessionReplay) -> list[str]:
    """The registry as a table, then each job with a table of its workers' parts."""
    info = replay.info
    title = f"Session {info.id[:8]}" + (f" ({info.name})" if info.name else "")
    lines = [f"{title} after step {step} of {len(replay)}", "", "Workers"]
    doing: dict[str, WorkerActivity] = activity(state)
    workers = sorted(doing.values(), key=lambda found: found.worker.name)
    rows = (
        (
            w.worker.name,
            w.worker.runner,
            w.worker.parent or "-",
            w.worker.status,
            "yes" if w.worker.active else "no",
            _ids(w.working_on, state),
            _ids(w.waiting_on, state),
        )
        for w in workers
    )
    lines += ["  " + line for line in table(WORKER_HEADERS, rows)] if workers else ["  (none)"]
    lines += ["", "Jobs"]
    jobs = _jobs(state)
    if not jobs:
        lines.append("  (none)")
    for job in jobs:
        took = f" in {duration(job.duration_ns)}" if job.duration_ns is not None else ""
        why = f" ({job.reason})" if job.reason else ""
        lines.append(
            f"  {job_label(job.job_id, job.name)}  requested by {job.requester}  "
            f"{job.status}{took}{why}"
        )
        parts = (
            (part.worker, part.status, str(part.updates), str(part.chunks))
            for part in sorted(job.workers.values(), key=lambda part: part.worker)
        )
        lines += ["    " + line for line in table(PART_HEADERS, parts, right=(2, 3))]
    return lines


async def _state(args: argparse.Namespace) -> int:
    async with opened_log(args) as log:
        replay = await SessionReplay.open(log, args.session)
        step: int = len(replay) if args.at is None else args.at
        try:
            state = await replay.state_at(step)
        except IndexError as exc:
            raise CommandError(f"--at {step}: {exc} (session {replay.session_id[:8]})") from None
        except DecodeError as exc:
            raise CommandError(
                f"cannot compute the state at step {step}: an event it folds does not "
                f"decode ({one_line(str(exc))}); `pipebus show` prints it raw"
            ) from exc
        lines = json_lines(state, step) if args.json else text_lines(state, step, replay)
    emit(lines)
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``pipebus state``."""
    return asyncio.run(_state(args))
