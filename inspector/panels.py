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
        errors: The handler errors its messages caused (counted among its events).
        first_seq: The step of its first event.
    """

    job_id: str
    events: int
    first_ns: int
    last_ns: int
    status: str
    requester: str = ""
    name: str | None = None
    errors: int = 0
    first_seq: int = 0

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


def summarize(
    found: Sequence[StoredEvent], attributed: Mapping[int, str] | None = None
) -> list[JobSummary]:
    """One summary per job of ``found`` (events in step order), by first appearance.

    ``attributed`` gives the job of events that name none themselves (by step): a
    handler error belongs to the job whose message its handler was handling.
    """
    by_job: dict[str, list[StoredEvent]] = {}
    for event in found:
        job_id = event.job_id or (attributed or {}).get(event.seq)
        if job_id is not None:
            by_job.setdefault(job_id, []).append(event)
    return [
        JobSummary(
            job_id,
            len(its),
            its[0].time_ns,
            its[-1].time_ns,
            job_status(its),
            its[0].source,
            next(filter(None, map(request_name, its)), None),
            sum(1 for event in its if event.is_error),
            its[0].seq,
        )
        for job_id, its in by_job.items()
    ]


def request_name(event: StoredEvent) -> str | None:
    """The job's name if ``event`` is a job request that gives one."""
    if event.type != "BusJobRequestMessage":
        return None
    name = _fields(event.payload).get("job_name")
    return name if isinstance(name, str) and name else None


def took(ns: int) -> str:
    """A duration in the unit its size suits: ``0.250 ms``, ``38.5 ms``, ``12.3 s``, ``4m05s``."""
    ms = max(ns, 0) / 1e6
    if ms < 1:
        return f"{ms:.3f} ms"
    if ms < 1_000:
        return f"{ms:.1f} ms"
    if ms < 60_000:
        return f"{ms / 1e3:.1f} s"
    whole = int(ms / 1e3)
    if whole < 3_600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3_600}h{whole % 3_600 // 60:02d}m"


def clock(ns: int) -> str:
    """Time since the session's start, in the unit its size suits (7 characters at most).

    ``0.25ms``, ``38.5ms``, ``2.50s``, ``4m05s``, ``2h07m``.
    """
    ms = max(ns, 0) / 1e6
    if ms < 1:
        return f"{ms:.2f}ms"
    if ms < 999.95:
        return f"{ms:.1f}ms"
    if ms < 59_995:
        return f"{ms / 1e3:.2f}s"
    whole = int(ms / 1e3)
    if whole < 3_600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3_600}h{whole % 3_600 // 60:02d}m"


def since(start_ns: int, time_ns: int) -> str:
    """Time from the session's start, for the timeline (:func:`clock`)."""
    return clock(time_ns - start_ns)


def short(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis if cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


MIN_FIELDS = 14
"""The fields column's least width: a row always shows the start of its fields."""

TIME_WIDTH = 7
"""The widest :func:`clock` text."""

NARROWEST = 4
"""The least a type, route or job column shrinks to on a very narrow screen."""
_LEAST = {"kind": 9, "route": 11, "job": 8}
"""Each column's width on a narrow screen (cut with ``…``)."""
_GROWTH: tuple[tuple[str, int], ...] = (
    ("fields", 30),
    ("job", 18),
    ("route", 20),
    ("kind", 17),
)
"""Where width beyond the least goes, in turn, and up to how much; then to the fields.

The fields first (what the message says), then the job (a short id and a name tell
jobs apart), the route (a sender and a target of eight or nine letters each), and the
type (the longest, ``JobResponseUrgent``, is 17).
"""


@dataclass(frozen=True, slots=True)
class RowLayout:
    """The widths of a timeline row's columns, laid out by what each holds.

    Attributes:
        step: The step's digits (the session's last step fits).
        time: The time since the start (:func:`clock`).
        kind: The message type, without ``Bus`` and ``Message``.
        route: ``sender → target``.
        job: The job: short id and name (:func:`~pipebus.core.describe.job_label`).
        fields: The payload's fields; never under :data:`MIN_FIELDS`.
    """

    step: int
    time: int
    kind: int
    route: int
    job: int
    fields: int

    @property
    def total(self) -> int:
        """The row's width: the columns and a space between each two."""
        return self.step + self.time + self.kind + self.route + self.job + self.fields + 5

    @classmethod
    def fit(cls, width: int, length: int) -> RowLayout:
        """The columns of a row ``width`` characters wide, in a session of ``length`` steps.

        Each column gets its least width, then the width left goes where
        :data:`_GROWTH` says. On a screen too narrow for that, the route, type and job
        give way (down to :data:`NARROWEST`), never the fields; narrower still, the row
        is wider than the screen (cut on the right).
        """
        step = len(str(max(length, 1)))
        widths = dict(_LEAST, fields=MIN_FIELDS)
        left = width - step - TIME_WIDTH - 5 - sum(widths.values())
        for name in ("route", "kind", "job"):  # too narrow: these give way, never the fields
            give = max(0, min(-left, widths[name] - NARROWEST))
            widths[name] -= give
            left += give
        for name, most in _GROWTH:
            grow = max(0, min(left, most - widths[name]))
            widths[name] += grow
            left -= grow
        widths["fields"] += max(0, left)
        return cls(
            step, TIME_WIDTH, widths["kind"], widths["route"], widths["job"], widths["fields"]
        )


_ENDS_SHOWN = {"completed": "✓", "ok": "✓"}
"""The glyph of a job's end (any other status is a failure: ✗)."""


def row_text(
    event: StoredEvent,
    start_ns: int,
    layout: RowLayout,
    job_names: Mapping[str, str] | None = None,
    *,
    job: str | None = None,
    summary: JobSummary | None = None,
) -> str:
    """One timeline row, exactly ``layout.total`` wide: step, time, type, route, job, fields.

    ``job`` is the job a handler error belongs to (the job of the message whose
    handler failed), for an event that names none itself. ``summary`` draws a job
    folded into one row. An error or a job's end starts its fields with what
    happened, so a glance down the rows shows it.
    """
    route = f"{event.source} → {event.target or '*'}"
    names = job_names or {}
    job_id = event.job_id or job
    label = job_label(job_id, names.get(job_id)) if job_id else ""
    if summary is not None:
        took = summary.last_ns - summary.first_ns
        errors = f", {summary.errors} error{'s' * (summary.errors != 1)}" if summary.errors else ""
        kind = "▸ job"
        text = f"{summary.status}, {summary.events} events{errors}, {clock(took)}"
        label = summary.label
    else:
        kind = event.type.removeprefix("Bus").removesuffix("Message")
        said = glance(event)
        skip = ("job_id", *GLANCED) if said else ("job_id",)  # in their own columns
        text = gist(event, job_names=names, skip=skip)
        if said:
            text = f"{said}  {text}"
    cells = (
        f"{event.seq:>{layout.step}}",
        f"{since(start_ns, event.time_ns):>{layout.time}}",
        short(kind, layout.kind).ljust(layout.kind),
        short(route, layout.route).ljust(layout.route),
        short(label, layout.job).ljust(layout.job),
        short(text, layout.fields).ljust(layout.fields),
    )
    return " ".join(cells)


def glance(event: StoredEvent) -> str:
    """What an error or a job's end says at a glance: ``✗ LookupError: ...``, ``✓ completed``."""
    if event.is_error:
        fields = _fields(event.payload)
        return f"✗ {fields.get('error_type', 'error')}: {fields.get('error', '')}".rstrip(": ")
    if event.type in _ENDS:
        status = str(_fields(event.payload).get("status") or "completed")
        return f"{_ENDS_SHOWN.get(status, '✗')} {status}"
    return ""


GLANCED = ("error_type", "error", "traceback", "status")
"""Fields a row shows at a glance (:func:`glance`) rather than among the others."""


def gist(
    event: StoredEvent,
    width: int = 160,
    job_names: Mapping[str, str] | None = None,
    skip: Sequence[str] = (),
) -> str:
    """The payload's fields as ``key=value`` (sender, target and ``skip`` left out), cut.

    Values read as the application wrote them (:func:`~pipebus.core.describe.literal`),
    a job id as every view shows it, with the job's name beside when known.
    """
    fields = values(event.payload)
    if not fields:
        return short(event.payload, width)
    name = fields.get("job_name") if event.type == "BusJobRequestMessage" else None
    parts = []
    for key, value in fields.items():
        if key in ("source", "target") or key in skip or value is None:
            continue
        if key == "job_name" and name:
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
    failed_job: str | None = None,
) -> list[Line]:
    """Every field of the event at the cursor, its cause, its effects and its payload.

    The payload reads as the application wrote it (the codec's tags read back).
    ``failed_job`` is the job of a handler error (its failed message's).
    """
    when = datetime.fromtimestamp(event.time_ns / 1e9, UTC).isoformat(timespec="microseconds")
    offset = offset_ms(event.time_ns, start_ns)
    job = "-"
    job_id = event.job_id or failed_job
    if job_id:
        name = (job_names or {}).get(job_id)
        job = job_label(job_id, name)
        if not job.startswith(job_id):  # shortened: the whole id too, to copy
            job += f"  {job_id}"
        if not event.job_id:
            job += "  (the failed message's)"
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
