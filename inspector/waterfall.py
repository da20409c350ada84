"""A waterfall of spans: one bar per span on a shared time axis, children under parents.

Pure: span records (rebuilt from the stored span ids by :mod:`pipebus.tracing`) in,
:class:`~inspector.panels.Line` rows out. Failed spans are marked and styled
``error``; the span of the message at the cursor is styled ``key``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from inspector.panels import JobSummary, Line, clock, short
from pipebus.tracing.records import SpanRecord
from pipebus.tracing.semconv import MESSAGE_ID

LABEL = 38
"""Widest label column (a third of the width on a narrower box)."""

ERROR_ROOM = 30
"""Widest column of error text at the end of a failed span's row."""

TOOK = 8
"""Width of a span's duration (:func:`~inspector.panels.clock`, right-aligned)."""

Window = tuple[int, int]
"""A time window of the waterfall: start and end, in ns since the epoch."""


def ordered(spans: Sequence[SpanRecord]) -> list[tuple[SpanRecord, int]]:
    """Spans depth-first (parents before their children, siblings by start), with depth."""
    ids = {span.span_id for span in spans}
    children: dict[int, list[SpanRecord]] = {}
    roots: list[SpanRecord] = []
    for span in spans:
        if span.parent_span_id and span.parent_span_id in ids:
            children.setdefault(span.parent_span_id, []).append(span)
        else:
            roots.append(span)
    out: list[tuple[SpanRecord, int]] = []
    stack = [(span, 0) for span in sorted(roots, key=lambda s: s.start_ns, reverse=True)]
    while stack:
        span, depth = stack.pop()
        out.append((span, depth))
        below = sorted(children.get(span.span_id, ()), key=lambda s: s.start_ns, reverse=True)
        stack += [(child, depth + 1) for child in below]
    return out


def waterfall(
    spans: Sequence[SpanRecord],
    width: int = 100,
    *,
    mark: int | None = None,
    window: Window | None = None,
    selected: int | None = None,
) -> list[Line]:
    """The rows of a waterfall, none wider than ``width``: a header, then one per span.

    ``mark`` is a span id to highlight (the cursor's message), ``selected`` the row
    (0: the first span) a person picked; ``window`` zooms the time axis to a part of
    the spans' time (None: all of it), and a bar running past an end of it shows
    ``◂`` or ``▸`` there. Errors are cut to what the row has room for.
    """
    if not spans:
        return [Line("no span", "dim")]
    first = min(span.start_ns for span in spans)
    lo, hi = window if window is not None else (first, max(span.end_ns for span in spans))
    total = max(1, hi - lo)
    label_width = max(8, min(LABEL, width // 3))
    errors = min(ERROR_ROOM, width // 5) if any(span.error for span in spans) else 0
    bars = max(4, width - label_width - TOOK - 2 - (errors + 2 if errors else 0))
    left_at, right_at = clock(lo - first), clock(hi - first)
    axis = f"{left_at}{right_at:>{bars - len(left_at)}}" if bars > 2 * len(right_at) else ""
    lines = [Line(short(f"{'span':<{label_width}} {axis}", width), "head")]
    for row, (span, depth) in enumerate(ordered(spans)):
        bar = _bar(span.start_ns - lo, span.end_ns - lo, total, bars, "✗" if span.error else "█")
        label = short(("  " * depth) + span.name, label_width)
        took = clock(span.end_ns - span.start_ns)
        text = f"{label:<{label_width}} {bar} {took:>{TOOK}}"
        if span.error and errors:
            text += "  " + short(span.error, errors)
        style = "error" if span.error else ("key" if span.span_id == mark else "")
        if row == selected:
            style = "selected"
        lines.append(Line(short(text, width), style))
    return lines


def _bar(start: int, end: int, total: int, width: int, fill: str) -> str:
    """One span's bar on an axis ``width`` wide over ``total`` ns (``◂``/``▸``: runs past).

    A span of no time within the axis is one cell; one wholly before or after it, a
    ``◂`` or ``▸`` at that edge.
    """
    if end < 0:
        return "◂" + " " * (width - 1)
    if start > total:
        return " " * (width - 1) + "▸"
    left = min(width - 1, int(max(start, 0) / total * width))
    right = max(left + 1, min(width, int(min(end, total) / total * width)))
    cells = [fill] * (right - left)
    if start < 0:
        cells[0] = "◂"
    if end > total:
        cells[-1] = "▸"
    return (" " * left + "".join(cells)).ljust(width)


def span_steps(spans: Sequence[SpanRecord], step_of: Mapping[str, int]) -> dict[int, int]:
    """The step each span leads to: its message's, else its parent's, else its first child's.

    ``step_of`` maps message ids to steps. A delivery or a send names its message; a
    job's root names none and leads to its first message, a failure to where it failed.
    """
    steps: dict[int, int] = {}
    for span, _ in ordered(spans):  # parents first: a child without a message takes theirs
        message = span.attributes.get(MESSAGE_ID)
        if isinstance(message, str) and message in step_of:
            steps[span.span_id] = step_of[message]
        elif span.parent_span_id in steps:
            steps[span.span_id] = steps[span.parent_span_id]
    for span, _ in reversed(ordered(spans)):  # the rest: their first child's
        if span.span_id not in steps:
            below = [
                (s.start_ns, steps[s.span_id])
                for s in spans
                if s.parent_span_id == span.span_id and s.span_id in steps
            ]
            if below:
                steps[span.span_id] = min(below)[1]
    return steps


def job_spans(jobs: Sequence[JobSummary]) -> list[SpanRecord]:
    """One bar per job (the session's waterfall): failed, cancelled and timed out marked."""
    return [
        SpanRecord(
            0,
            number,
            0,
            f"job {job.label} {job.requester} {job.status} ({job.events} events)",
            "internal",
            job.first_ns,
            job.last_ns,
            {},
            job.status if job.status in ("failed", "cancelled", "timeout", "error") else None,
        )
        for number, job in enumerate(jobs, start=1)
    ]
