"""What the panels say: message detail, payload folding, worker tree, jobs, waterfall."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from inspector.panels import (
    MIN_FIELDS,
    PAYLOAD_LINES,
    Line,
    RowLayout,
    clock,
    detail,
    gist,
    job_lines,
    payload_lines,
    row_text,
    summarize,
)
from inspector.waterfall import job_spans, ordered, span_steps, waterfall
from pipebus import BusJobUpdateMessage
from pipebus.core.codec import encode_message
from pipebus.core.ids import JOB_ID_TIME_DIGITS, short_job_id
from pipebus.eventlog.rows import StoredEvent
from pipebus.projections import EMPTY
from pipebus.projections.views import StateChanges
from pipebus.tracing.records import SpanRecord
from pipebus.tracing.semconv import MESSAGE_ID
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
    text = row_text(event, 0, RowLayout.fit(120, 25))
    assert text.split()[:5] == ["3", "6.0ms", "JobUpdate", "agent", "→"]
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
    bar = rows["s1"].text[26:]  # the label column: a third of the width
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
    row = row_text(event, 0, RowLayout.fit(200, 25))
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
    wide = RowLayout.fit(160, 2)
    rows = [row_text(e, 0, wide, summary=job) for e, job in zip(events, summaries, strict=True)]
    labels = [f"{short_job_id(first)} (answer)", f"{short_job_id(second)} (archive)"]
    assert short_job_id(first) != short_job_id(second) and first[:8] == second[:8]
    for row, label in zip(rows, labels, strict=True):
        assert row.split()[2:4] == ["▸", "job"] and label in row
    unfolded = row_text(replace(events[0], type="BusJobUpdateMessage"), 0, wide, {first: "answer"})
    assert labels[0] in unfolded and "job_id=" not in unfolded  # in the job column
    assert [span.name.split()[1:3] for span in job_spans(summaries)] == [
        label.split() for label in labels
    ]


@pytest.mark.parametrize("width", [60, 103, 142, 46])
def test_row_columns_fit_the_width_and_the_fields_never_vanish(width: int) -> None:
    layout = RowLayout.fit(width, 3_000)
    assert layout.total == width
    assert layout.fields >= MIN_FIELDS
    job = "0190f3a2b4c5d6e7f8a9b0c1d2e3f4a5"
    event = stored(
        2_999,
        "BusJobUpdateMessage",
        {"source": "agent", "job_id": job, "update": {"progress": 30}},
        job_id=job,
        target="writer",
    )
    text = row_text(event, 0, layout, job_names={job: "write"})
    assert len(text) == width
    assert "update=" in text  # the fields' start, at every width
    assert text.split()[:2] == ["2999", "6.00s"]


def test_rows_say_time_in_the_unit_its_size_suits() -> None:
    assert [clock(ns) for ns in (250_000, 1_500_000, 999_900_000, 2_500_000_000)] == [
        "0.25ms",
        "1.5ms",
        "999.9ms",
        "2.50s",
    ]
    assert clock(125 * 10**9) == "2m05s"


def test_an_error_row_shows_its_job_and_what_failed_at_a_glance() -> None:
    error = stored(
        13,
        "BusHandlerErrorMessage",
        {"source": "translator", "handler": "job:translate", "error_type": "LookupError",
         "error": "no model", "message_id": "m12"},
        priority="system",
    )  # fmt: skip
    text = row_text(error, 0, RowLayout.fit(103, 25), job_names={"j-tr": "translate"}, job="j-tr")
    assert "j-tr (translate)" in text
    assert "✗ LookupError: no model" in text
    end = stored(15, "BusJobGroupFinishedMessage", {"status": "failed"}, job_id="j-tr")
    assert "✗ failed" in row_text(end, 0, RowLayout.fit(103, 25))


@pytest.mark.parametrize("width", [40, 84, 136, 190])
def test_a_waterfall_fits_its_box_errors_and_late_bars_too(width: int) -> None:
    spans = [
        span(1, 0, 0, 10**9),
        span(2, 1, 10**6, 2 * 10**6, "LookupError: no model for 'klingon' " * 3),
        span(3, 1, 999 * 10**6, 10**9),
    ]
    lines = waterfall(spans, width)
    assert all(len(line.text) <= width for line in lines)
    late = next(line.text for line in lines if line.text.split()[0] == "s3")
    assert "█" in late and late.rstrip().endswith("ms")
    failed = next(line.text for line in lines if line.text.split()[0] == "s2")
    assert "Lookup" in failed


def test_zooming_in_gives_a_short_span_beside_a_long_one_its_width() -> None:
    spans = [span(1, 0, 0, 10**9), span(2, 0, 500 * 10**6, 501 * 10**6)]
    whole = waterfall(spans, 100)
    assert whole[2].text.count("█") == 1  # squashed by the long one
    zoomed = waterfall(spans, 100, window=(500 * 10**6, 501 * 10**6))
    assert zoomed[2].text.count("█") >= 40
    assert "◂" in zoomed[1].text and "▸" in zoomed[1].text  # the long one runs past both ends
    assert "500.0ms" in zoomed[0].text and "501.0ms" in zoomed[0].text


def test_each_span_leads_to_the_step_of_its_message() -> None:
    spans = [
        replace(span(1, 0, 0, 10), attributes={}),  # a job's root: its first child's step
        replace(span(2, 1, 0, 5), attributes={MESSAGE_ID: "m12"}),
        replace(span(3, 1, 5, 10), attributes={MESSAGE_ID: "m14"}),
        replace(span(4, 3, 6, 7), attributes={}),  # a delivery's error: its parent's step
    ]
    assert span_steps(spans, {"m12": 12, "m14": 14}) == {1: 12, 2: 12, 3: 14, 4: 14}
