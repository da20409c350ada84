"""What the panels say: message detail, payload folding, worker tree, jobs, waterfall."""

from __future__ import annotations

import json

from inspector.panels import PAYLOAD_LINES, Line, detail, gist, job_lines, payload_lines, row_text
from inspector.waterfall import ordered, waterfall
from pipebus.eventlog.rows import StoredEvent
from pipebus.projections import EMPTY
from pipebus.projections.views import StateChanges
from pipebus.tracing.records import SpanRecord


def stored(seq: int, type_name: str, payload: dict[str, object], **fields: object) -> StoredEvent:
    values: dict[str, object] = {
        "seq": seq,
        "message_id": f"m{seq}",
        "time_ns": 2_000_000 * seq,
        "type": type_name,
        "source": "agent",
        "target": None,
        "priority": "data",
        "local": False,
        "job_id": None,
        "runner": "r",
        "remote": False,
        "payload": json.dumps(payload),
        "trace_id": "a" * 32,
        "span_id": "b" * 16,
        "parent_span_id": None,
        "causation_id": None,
    }
    values.update(fields)
    return StoredEvent(**values)  # type: ignore[arg-type]


def test_a_row_shows_step_time_type_route_and_the_fields() -> None:
    event = stored(3, "BusJobUpdateMessage", {"source": "agent", "job_id": "j", "update": {"p": 1}})
    text = row_text(event, 0)
    assert text.split()[:4] == ["3", "6.0ms", "JobUpdate", "agent"]
    assert 'update={"p": 1}' in text and "source=" not in text
    assert gist(stored(1, "X", {"a": "y" * 500}), 40).endswith("…")


def test_a_large_payload_is_folded_until_opened() -> None:
    big = json.dumps({f"k{n}": n for n in range(100)})
    folded = payload_lines(big, opened=False)
    assert len(folded) == PAYLOAD_LINES + 1 and folded[-1].style == "key"
    assert "more lines (o: open the payload)" in folded[-1].text
    assert len(payload_lines(big, opened=True)) == 102


def test_an_error_shows_what_failed_and_its_traceback_apart() -> None:
    failed = stored(
        9,
        "BusHandlerErrorMessage",
        {"error_type": "KeyError", "error": "'x'", "traceback": "Traceback\n  line 1\nKeyError"},
    )
    cause = stored(8, "BusJobRequestMessage", {})
    lines = detail(failed, 0, cause, [], payload_open=False)
    assert lines[0] == Line("#9  BusHandlerErrorMessage", "error")
    assert Line("error       KeyError: 'x'", "error") in lines
    assert any(line.text.startswith("cause       #8 BusJobRequestMessage") for line in lines)
    at = [line.text for line in lines].index("traceback")
    assert [line.text for line in lines[at + 1 :]] == ["Traceback", "  line 1", "KeyError"]
    assert not any("traceback" in line.text for line in lines[:at])


def test_empty_states_say_so() -> None:
    assert job_lines(EMPTY, StateChanges()) == [Line("no job yet", "dim")]


def span(span_id: int, parent: int, start: int, end: int, error: str | None = None) -> SpanRecord:
    return SpanRecord(1, span_id, parent, f"s{span_id}", "internal", start, end, {}, error)


def test_the_waterfall_nests_children_under_parents_on_one_time_axis() -> None:
    spans = [span(3, 1, 50, 100, "boom"), span(1, 0, 0, 100), span(2, 1, 10, 40), span(9, 7, 5, 6)]
    assert [(s.span_id, depth) for s, depth in ordered(spans)] == [(1, 0), (2, 1), (3, 1), (9, 0)]
    lines = waterfall(spans, width=80, mark=2)
    assert lines[0].style == "head"
    rows = {line.text.split()[0]: line for line in lines[1:]}
    assert rows["s3"].style == "error" and "✗" in rows["s3"].text and "boom" in rows["s3"].text
    assert rows["s2"].style == "key"
    bar = rows["s1"].text[38:]
    assert bar.lstrip().startswith("█") and bar.index("█") == 1
