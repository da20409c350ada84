"""What the panels say: message detail, payload folding, worker tree, jobs, waterfall."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

from inspector.panels import (
    PAYLOAD_LINES,
    Line,
    detail,
    gist,
    job_lines,
    payload_lines,
    row_text,
    summarize,
)
from inspector.waterfall import job_spans, ordered, waterfall
from pipebus import BusJobUpdateMessage
from pipebus.core.codec import encode_message
from pipebus.core.ids import JOB_ID_TIME_DIGITS, short_job_id
from pipebus.eventlog.rows import StoredEvent
from pipebus.projections import EMPTY
from pipebus.projections.views import StateChanges
from pipebus.tracing.records import SpanRecord
from pipebus.workers.job_params import new_job_id


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


def test_rows_and_the_message_panel_show_values_as_sent_never_the_codecs_tags() -> None:
    sent = BusJobUpdateMessage(
        source="w",
        target="a",
        job_id="j",
        update={"r": float("nan"), "d": date(2024, 5, 17), "at": (18, 21)},
    )
    payload = encode_message(sent)
    assert "$pb" in payload  # what the log holds
    event = replace(stored(4, "BusJobUpdateMessage", {}), payload=payload)
    row = row_text(event, 0)
    panel = "\n".join(line.text for line in detail(event, 0, None, []))
    for text in (row, panel):
        assert "$pb" not in text
        assert "datetime.date(2024, 5, 17)" in text and "(18, 21)" in text and "nan" in text


def test_jobs_show_the_part_of_their_id_that_tells_them_apart_with_their_name() -> None:
    prefix = new_job_id()[:JOB_ID_TIME_DIGITS]
    first, second = (prefix + new_job_id()[JOB_ID_TIME_DIGITS:] for _ in range(2))
    events = [
        replace(
            stored(seq, "BusJobRequestMessage", {"job_id": job_id, "job_name": name}),
            job_id=job_id,
        )
        for seq, (job_id, name) in enumerate([(first, "answer"), (second, "archive")], 1)
    ]
    summaries = summarize(events)
    rows = [row_text(e, 0, job) for e, job in zip(events, summaries, strict=True)]
    labels = [f"{short_job_id(first)} (answer)", f"{short_job_id(second)} (archive)"]
    assert short_job_id(first) != short_job_id(second) and first[:8] == second[:8]
    for row, label in zip(rows, labels, strict=True):
        assert f"▸ job {label} " in row
    unfolded = row_text(replace(events[0], type="BusJobUpdateMessage"), 0, None, {first: "answer"})
    assert f"job_id={labels[0]}" in unfolded
    assert [span.name.split()[1:3] for span in job_spans(summaries)] == [
        label.split() for label in labels
    ]
