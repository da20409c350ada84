"""A waterfall of spans: one bar per span on a shared time axis, children under parents.

Pure: span records (rebuilt from the stored span ids by :mod:`pipebus.tracing`) in,
:class:`~inspector.panels.Line` rows out. Failed spans are marked and styled
``error``; the span of the message at the cursor is styled ``key``.
"""

from __future__ import annotations

from collections.abc import Sequence

from inspector.panels import JobSummary, Line, short
from pipebus.tracing.records import SpanRecord

LABEL = 38
"""Width of the label column."""


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
    spans: Sequence[SpanRecord], width: int = 100, *, mark: int | None = None
) -> list[Line]:
    """The rows of a waterfall ``width`` characters wide; ``mark`` is a span id to highlight."""
    if not spans:
        return [Line("no span", "dim")]
    start = min(span.start_ns for span in spans)
    end = max(span.end_ns for span in spans)
    total = max(1, end - start)
    bars = max(10, width - LABEL - 12)
    lines = [Line(f"{'span':<{LABEL}} {'0':<{bars - 8}}{total / 1e6:>8.2f}ms", "head")]
    for span, depth in ordered(spans):
        left = int((span.start_ns - start) / total * bars)
        right = max(left + 1, int((span.end_ns - start) / total * bars))
        bar = " " * left + ("✗" if span.error else "█") * (right - left)
        label = short(("  " * depth) + span.name, LABEL)
        took = f"{(span.end_ns - span.start_ns) / 1e6:8.2f}ms"
        style = "error" if span.error else ("key" if span.span_id == mark else "")
        text = f"{label:<{LABEL}} {bar:<{bars}} {took}"
        if span.error:
            text += f"  {span.error}"
        lines.append(Line(text, style))
    return lines


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
