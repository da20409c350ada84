"""What the panels show, as plain lines: timeline rows, message detail, worker tree, jobs.

Pure functions from stored events and projection states to :class:`Line` lists;
the widgets only turn a line's style name into colours. What the step at the
cursor changed is marked with the styles ``added``, ``changed`` and ``removed``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from inspector.query import category_of
from pipebus.core.codec import loads_tagged
from pipebus.core.describe import job_label, literal, offset_ms, pretty
from pipebus.core.errors import DecodeError
from pipebus.eventlog.rows import StoredEvent
from pipebus.projections import SessionState
from pipebus.projections.jobs import JobState
from pipebus.projections.views import StateChanges

PAYLOAD_LINES = 24
"""A payload longer than this (pretty-printed) is folded until opened."""

JOBS_SHOWN = 40
"""Jobs listed at most (running and changed first, then the latest finished)."""


class Line(NamedTuple):
    """One line of a panel: its text and a style name (``""`` for plain)."""

    text: str
    style: str = ""


@dataclass(frozen=True, slots=True)
class JobSummary:
    """One job folded into a timeline row.

    Attributes:
        job_id: The job id.
        events: How many events it has.
        first_ns: Time of its first event.
        last_ns: Time of its last event.
        status: Its end (from its verdict or last answer), or ``"running"``.
        requester: Who sent its first event.
        name: Its name, from its request (None if no request of it was read).
    """

    job_id: str
    events: int
    first_ns: int
    last_ns: int
    status: str
    requester: str = ""
    name: str | None = None

    @property
    def label(self) -> str:
        """The job as every view shows it (:func:`~pipebus.core.describe.job_label`)."""
        return job_label(self.job_id, self.name)


_ENDS = frozenset(
    {
        "BusJobGroupFinishedMessage",
        "BusJobResponseMessage",
        "BusJobResponseUrgentMessage",
        "BusJobStreamEndMessage",
    }
)


def job_status(job_events: Sequence[StoredEvent]) -> str:
    """How a job ended: the requester's verdict, else its last answer, else running."""
    status = "running"
    for event in job_events:
        if event.type not in _ENDS:
            continue
        fields = _fields(event.payload)
        if event.type == "BusJobGroupFinishedMessage":
            return str(fields.get("status"))
        status = str(fields.get("status") or "completed")
    return status


def summarize(found: Sequence[StoredEvent]) -> list[JobSummary]:
    """One summary per job of ``found`` (events in step order), by first appearance."""
    by_job: dict[str, list[StoredEvent]] = {}
    for event in found:
        if event.job_id is not None:
            by_job.setdefault(event.job_id, []).append(event)
    return [
        JobSummary(
            job_id,
            len(its),
            its[0].time_ns,
            its[-1].time_ns,
            job_status(its),
            its[0].source,
            next(filter(None, map(request_name, its)), None),
        )
        for job_id, its in by_job.items()
    ]


def request_name(event: StoredEvent) -> str | None:
    """The job's name if ``event`` is a job request that gives one."""
    if event.type != "BusJobRequestMessage":
        return None
    name = _fields(event.payload).get("job_name")
    return name if isinstance(name, str) and name else None


def since(start_ns: int, time_ns: int) -> str:
    """Milliseconds from the session's start, for the timeline (``offset_ms``)."""
    return f"{offset_ms(time_ns, start_ns):10.1f}ms"


def short(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis if cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def row_text(
    event: StoredEvent,
    start_ns: int,
    job: JobSummary | None = None,
    job_names: Mapping[str, str] | None = None,
) -> str:
    """One timeline row: step, time, type, route and the payload's start (or a folded job)."""
    route = f"{event.source} → {event.target or '*'}"
    if job is not None:
        took = (job.last_ns - job.first_ns) / 1e6
        what = f"▸ job {job.label} {job.status}, {job.events} events, {took:.1f} ms"
        return f"{event.seq:>9} {since(start_ns, event.time_ns)}  {what}  {route}"
    kind = event.type.removeprefix("Bus").removesuffix("Message")
    text = gist(event, job_names=job_names)
    return f"{event.seq:>9} {since(start_ns, event.time_ns)}  {kind:<22} {route:<30} {text}"


def gist(event: StoredEvent, width: int = 160, job_names: Mapping[str, str] | None = None) -> str:
    """The payload's fields as ``key=value`` (sender and target left out), cut to ``width``.

    Values read as the application wrote them (:func:`~pipebus.core.describe.literal`),
    a job id as every view shows it, with the job's name beside when known.
    """
    fields = values(event.payload)
    if not fields:
        return short(event.payload, width)
    name = fields.get("job_name") if event.type == "BusJobRequestMessage" else None
    parts = []
    for key, value in fields.items():
        if key in ("source", "target") or value is None or (key == "job_name" and name):
            continue
        if key == "job_id" and isinstance(value, str):
            text = job_label(value, name or (job_names or {}).get(value))
        else:
            text = value if isinstance(value, str) else literal(value)
        parts.append(f"{key}={short(text, 60)}")
    return short(" ".join(parts), width)


def values(payload: str) -> dict[str, Any]:
    """The payload's fields as the application sent them (the codec's tags read back).

    A field whose value does not decode here (a type this process has not registered)
    keeps its recorded JSON; a payload that is not a JSON object gives no fields.
    """
    try:
        found = loads_tagged(payload, "payload")
    except DecodeError:
        raw = _fields(payload)
        return {key: _value(item) for key, item in raw.items()}
    return found if isinstance(found, dict) else {}


def _value(raw: Any) -> Any:
    """One recorded field's value read back, or as recorded if it does not decode."""
    try:
        return loads_tagged(json.dumps(raw), "payload field")
    except DecodeError:
        return raw


def row_style(event: StoredEvent) -> str:
    """A row's style: errors red, system messages dimmer."""
    if event.is_error:
        return "error"
    return "system" if event.priority == "system" else ""


# --- the message ------------------------------------------------------------------------


def detail(
    event: StoredEvent,
    start_ns: int,
    cause: StoredEvent | None,
    effects: Sequence[StoredEvent],
    *,
    payload_open: bool = False,
    job_names: Mapping[str, str] | None = None,
) -> list[Line]:
    """Every field of the event at the cursor, its cause, its effects and its payload.

    The payload reads as the application wrote it (the codec's tags read back).
    """
    when = datetime.fromtimestamp(event.time_ns / 1e9, UTC).isoformat(timespec="microseconds")
    offset = offset_ms(event.time_ns, start_ns)
    job = "-"
    if event.job_id:
        name = (job_names or {}).get(event.job_id)
        job = job_label(event.job_id, name)
        if not job.startswith(event.job_id):  # shortened: the whole id too, to copy
            job += f"  {event.job_id}"
    head = "error" if event.is_error else "head"
    lines = [
        Line(f"#{event.seq}  {event.type}", head),
        Line(f"category    {category_of(event.type)}"),
        Line(f"time        {when}  (+{offset:.3f} ms)"),
        Line(f"route       {event.source} → {event.target or '* (broadcast)'}"),
        Line(f"priority    {event.priority}{'  local-only' if event.local else ''}"),
        Line(f"runner      {event.runner}{'  (from another runner)' if event.remote else ''}"),
        Line(f"job         {job}"),
        Line(f"message id  {event.message_id}"),
        Line(f"trace       {event.trace_id}"),
        Line(f"span        {event.span_id}  parent {event.parent_span_id or '- (root)'}"),
    ]
    if cause is not None:
        lines.append(Line(f"cause       #{cause.seq} {cause.type} from {cause.source}  (c)", "key"))
    elif event.causation_id:
        lines.append(Line(f"cause       {event.causation_id} (not in this session)", "dim"))
    else:
        lines.append(Line("cause       - (not sent by a handler)", "dim"))
    if effects:
        lines.append(Line(f"effects     {len(effects)}  (x: pick one)", "key"))
        lines += [Line(f"  #{e.seq} {e.type} → {e.target or '*'}", "dim") for e in effects[:8]]
        if len(effects) > 8:
            lines.append(Line(f"  … {len(effects) - 8} more", "dim"))
    fields = values(event.payload)
    trace = str(fields.pop("traceback", "") or "")  # errors' tracebacks, stalls' stacks
    if event.is_error:
        said = f"{fields.get('error_type', 'error')}: {fields.get('error', '')}"
        lines.append(Line(f"error       {said}", "error"))
    lines.append(Line("payload", "head"))
    lines += payload_lines(event.payload, payload_open, fields if fields else None)
    if trace:
        lines.append(Line("traceback", "error"))
        lines += [Line(row, "error") for row in trace.rstrip().splitlines()]
    return lines


def payload_lines(
    payload: str, opened: bool, fields: Mapping[str, Any] | None = None
) -> list[Line]:
    """The payload pretty-printed, folded to :data:`PAYLOAD_LINES` unless ``opened``.

    ``fields``, if given, are shown instead of the payload's text (its values read
    back, :func:`values`); a payload that is not JSON is shown as it is.
    """
    if fields is not None:
        text = pretty(dict(fields))
    else:
        found = values(payload)
        text = pretty(found) if found else payload
    rows = text.splitlines() or [""]
    if opened or len(rows) <= PAYLOAD_LINES:
        return [Line(row) for row in rows]
    hidden = len(rows) - PAYLOAD_LINES
    return [Line(row) for row in rows[:PAYLOAD_LINES]] + [
        Line(f"… {hidden} more lines (o: open the payload)", "key")
    ]


def _fields(payload: str) -> dict[str, Any]:
    try:
        found = json.loads(payload)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


# --- the workers ------------------------------------------------------------------------


def worker_tree(state: SessionState, changed: StateChanges, session_runner: str) -> list[Line]:
    """The workers at the cursor, children under parents, with runner and status."""
    workers = state.registry.workers
    lines: list[Line] = []
    names = set(workers)

    def add(name: str, depth: int) -> None:
        info = workers[name]
        status = ("active" if info.active else "inactive") if info.ready else info.status
        where = "local" if info.runner == session_runner else "remote"
        text = (
            f"{('  ' * (depth - 1) + '└ ' if depth else '') + name:<20} {status:<9} "
            f"{info.runner} ({where})"
        )
        if info.errors:
            text += f"  errors {info.errors}"
        change = changed.workers.get(name)
        style = change.kind if change is not None else ("error" if status == "failed" else "")
        lines.append(Line(text, style))
        for child in state.registry.children_of(name):
            add(child.name, depth + 1)

    for root in sorted(n for n, w in workers.items() if w.parent is None or w.parent not in names):
        add(root, 0)
    for name, change in sorted(changed.workers.items()):
        if change.kind == "removed":
            lines.append(Line(f"{name} (forgotten)", "removed"))
    return lines or [Line("no worker yet", "dim")]


# --- the jobs ---------------------------------------------------------------------------


def job_lines(state: SessionState, changed: StateChanges) -> list[Line]:
    """Jobs at the cursor (running and just changed first): each worker's part in them."""
    jobs = sorted(state.jobs.jobs.values(), key=lambda j: (j.started_ns, j.job_id))
    first = [j for j in jobs if j.job_id in changed.jobs or not j.finished]
    rest = [j for j in reversed(jobs) if j not in first]
    lines: list[Line] = []
    for job in (first + rest)[:JOBS_SHOWN]:
        change = changed.jobs.get(job.job_id)
        lines += _job(job, change.kind if change is not None else "")
    for job_id, change in sorted(changed.jobs.items()):
        if change.kind == "removed":
            lines.append(Line(f"{job_label(job_id)} (forgotten)", "removed"))
    if len(jobs) > JOBS_SHOWN:
        lines.append(Line(f"… {len(jobs) - JOBS_SHOWN} more jobs", "dim"))
    return lines or [Line("no job yet", "dim")]


def _job(job: JobState, style: str) -> list[Line]:
    took = f"{job.duration_ns / 1e6:.1f} ms" if job.duration_ns is not None else "…"
    failed = job.status in ("failed", "cancelled", "timeout")
    head = f"{job_label(job.job_id, job.name)}  {job.requester} → {job.status}  {took}"
    if job.reason:
        head += f"  ({job.reason})"
    lines = [Line(head, style or ("error" if failed else "head"))]
    for part in sorted(job.workers.values(), key=lambda p: (p.requested_ns, p.worker)):
        took = f"{part.duration_ns / 1e6:.1f} ms" if part.duration_ns is not None else "…"
        lines.append(
            Line(
                f"  {part.worker:<14} {part.status:<10} updates {part.updates:<3} "
                f"chunks {part.chunks:<3} {took}",
                style,
            )
        )
    return lines
