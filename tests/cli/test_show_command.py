"""``pipebus show``: one event per line, filters, windows, paging, JSON, raw payloads."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from pipebus import BusJobRequestMessage
from pipebus.cli_commands import show
from pipebus.core.describe import describe
from pipebus.eventlog.rows import StoredEvent
from pipebus.replay.session import SessionReplay
from tests.cli import (
    EVENT_KEYS,
    execute,
    orphan,
    pipebus,
    record_demo,
    record_session,
    stored_events,
    write_rows,
)


def steps(lines: list[str]) -> list[int]:
    return [int(line.split()[0]) for line in lines]


def test_show_prints_each_event_of_the_last_session_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    session_id = record_demo()
    stored = stored_events(session_id)
    run = pipebus(capsys, "show")
    assert run.status == 0 and run.err == ""
    assert len(run.lines) == len(stored)
    names = {e.job_id: e.message.job_name for e in stored if e.type == "BusJobRequestMessage"}
    for line, event in zip(run.lines, stored, strict=True):
        step, offset, unit, text = line.split(maxsplit=3)
        expected = describe(event.message, job_names=names)
        assert (int(step), unit, text) == (event.seq, "ms", expected)
        assert float(offset) >= 0
    assert "BusJobRequestMessage  coordinator → researcher  job_id=" in run.out


def test_show_finds_a_session_by_id_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    demo_id = record_demo()
    record_session("eeee" * 8, events=4)
    assert steps(pipebus(capsys, "show").lines) == [1, 2, 3, 4]
    assert len(pipebus(capsys, "show", demo_id[:6]).lines) == len(stored_events(demo_id))


def test_show_filters_by_type_repeated_or_comma_separated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    session_id = record_demo()
    wanted = {"BusJobUpdateMessage", "BusJobResponseMessage", "BusEndMessage"}
    expected = [e.seq for e in stored_events(session_id) if e.type in wanted]
    run = pipebus(
        capsys,
        "show",
        "--type",
        "BusJobUpdateMessage",
        "--type",
        "BusJobResponseMessage,BusEndMessage",
    )
    assert run.err == ""
    assert steps(run.lines) == expected
    assert {line.split()[3] for line in run.lines} == wanted


def test_an_unknown_type_name_gets_a_note_with_the_closest_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_demo()
    run = pipebus(capsys, "show", "--type", "BusJobUpdate")
    assert run.status == 0 and run.out == ""
    assert run.err.startswith("pipebus: note: no registered message type is named 'BusJobUpdate'")
    assert "did you mean BusJobUpdateMessage" in run.err


def test_show_filters_by_worker_as_sender_or_target(capsys: pytest.CaptureFixture[str]) -> None:
    session_id = record_demo()
    expected = [e.seq for e in stored_events(session_id) if "closer" in (e.source, e.target)]
    run = pipebus(capsys, "show", "--worker", "closer")
    assert steps(run.lines) == expected
    assert "BusActivateWorkerMessage  coordinator → closer" in run.out
    assert "BusTTSSpeakMessage  closer → *" in run.out


def test_show_filters_by_job_id_or_a_prefix_of_it(capsys: pytest.CaptureFixture[str]) -> None:
    session_id = record_demo()
    stored = stored_events(session_id)
    (job_id,) = {e.job_id for e in stored if e.job_id}
    expected = [e.seq for e in stored if e.job_id == job_id]
    assert steps(pipebus(capsys, "show", "--job", job_id).lines) == expected
    assert steps(pipebus(capsys, "show", "--job", job_id[:4]).lines) == expected


def test_show_reads_a_window_of_steps_and_a_limited_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_session("ffff" * 8, events=30)
    assert steps(pipebus(capsys, "show", "--from", "10", "--to", "14").lines) == [
        10,
        11,
        12,
        13,
        14,
    ]
    assert steps(pipebus(capsys, "show", "--from", "25").lines) == [25, 26, 27, 28, 29, 30]
    assert steps(pipebus(capsys, "show", "--limit", "3").lines) == [1, 2, 3]
    assert steps(pipebus(capsys, "show", "--from", "28", "--limit", "5").lines) == [28, 29, 30]


def test_show_pages_through_a_session_bigger_than_a_page(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(show, "PAGE", 4)
    limits: list[int | None] = []
    read = SessionReplay.events

    async def spy(self: SessionReplay, *args: Any, **kwargs: Any) -> list[StoredEvent]:
        limits.append(kwargs.get("limit"))
        return await read(self, *args, **kwargs)

    monkeypatch.setattr(SessionReplay, "events", spy)
    record_session("abcd" * 8, events=23)
    assert steps(pipebus(capsys, "show").lines) == list(range(1, 24))
    assert limits == [4] * 6
    assert steps(pipebus(capsys, "show", "--from", "3", "--limit", "9").lines) == list(range(3, 12))
    records = [json.loads(line) for line in pipebus(capsys, "show", "--to", "8", "--json").lines]
    assert [r["seq"] for r in records] == list(range(1, 9))


def test_show_json_holds_every_field_of_each_event(capsys: pytest.CaptureFixture[str]) -> None:
    session_id = record_demo()
    stored = stored_events(session_id)
    run = pipebus(capsys, "show", "--json")
    records = [json.loads(line) for line in run.lines]
    assert len(records) == len(stored)
    for record, event in zip(records, stored, strict=True):
        assert list(record) == EVENT_KEYS
        assert record == {
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
            "message": json.loads(event.payload),
        }
    response = next(r for r in records if r["type"] == "BusJobResponseMessage")
    assert response["message"]["source"] == response["source"]
    assert response["causation_id"] is not None and response["job_id"] is not None


def test_an_event_that_does_not_decode_is_printed_raw_and_marked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    session_id = record_demo()
    execute("UPDATE events SET type = 'myapp.Gone' WHERE session_id = ? AND seq = 26", session_id)
    run = pipebus(capsys, "show")
    assert run.status == 0 and run.err == ""
    line = run.lines[25]
    assert line.split()[0] == "26" and " ms  myapp.Gone  closer → *  [undecodable] " in line
    assert 'payload={"source":"closer"' in line
    assert steps(run.lines) == [e.seq for e in stored_events(session_id)]
    (record,) = pipebus(capsys, "show", "--from", "26", "--limit", "1", "--json").lines
    assert json.loads(record)["type"] == "myapp.Gone"
    assert json.loads(record)["message"]["text"] == "Thanks for asking. Goodbye!"


def test_show_says_where_steps_are_missing_instead_of_skipping_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_session("baba" * 8, events=30, ended=False)
    orphan("baba" * 8)
    execute("DELETE FROM events WHERE seq BETWEEN 10 AND 14 OR seq IN (20, 30)")  # never stored
    run = pipebus(capsys, "show", "--from", "8", "--to", "22")
    assert run.status == 0 and run.err == ""
    first, second = (line for line in run.lines if not line.split()[0].isdigit())
    assert first.split()[1:3] == ["steps", "10-14"] and "missing" in first
    assert second.split()[1:3] == ["step", "20"] and "missing" in second
    assert run.lines.index(first) == 2 and run.lines.index(second) == 8  # where they would be
    assert steps([line for line in run.lines if line.split()[0].isdigit()]) == [
        8, 9, *range(15, 20), 21, 22
    ]  # fmt: skip
    tail = pipebus(capsys, "show", "--from", "28").lines
    assert steps(tail[:2]) == [28, 29] and tail[2].split()[1:3] == ["step", "30"]
    records = pipebus(capsys, "show", "--from", "8", "--to", "22", "--json")
    assert [json.loads(line)["seq"] for line in records.lines] == [8, 9, *range(15, 20), 21, 22]
    assert records.err.startswith("pipebus: note: 6 steps of session babababa")
    assert records.err.rstrip().endswith("not in the log: 10-14, 20")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def test_show_json_is_valid_json_even_where_an_old_log_holds_nan(
    capsys: pytest.CaptureFixture[str],
) -> None:
    request = BusJobRequestMessage(source="asker", target="keeper", job_id="job-1", job_name="x")
    text = (  # as pipebus's first log format wrote NaN and infinities: bare
        '{"source":"asker","target":"keeper","job_id":"job-1","job_name":"x",'
        '"payload":{"ratio":NaN,"limits":[Infinity,-Infinity]}}'
    )
    write_rows("cdcd" * 8, [(request, text)])
    run = pipebus(capsys, "show", "--json")
    (line,) = run.lines
    record = json.loads(line, parse_constant=_reject_constant)
    nan, inf, minus = ({"$pb": "float", "v": v} for v in ("nan", "inf", "-inf"))
    assert record["message"]["payload"] == {"ratio": nan, "limits": [inf, minus]}
    (text_line,) = pipebus(capsys, "show").lines
    assert 'payload={"ratio": nan, "limits": [inf, -inf]}' in text_line


def test_show_prints_values_as_they_were_sent_never_the_codecs_tags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sent = [
        (date(2024, 5, 17), "datetime.date(2024, 5, 17)"),
        ((18, 21), "(18, 21)"),
        (Decimal("1.5"), "Decimal('1.5')"),
        ({"b", "a"}, '{"a", "b"}'),
        (b"\x00\xff", "b'\\x00\\xff'"),
        (float("nan"), "nan"),
        ({18: "full"}, '{18: "full"}'),
    ]
    write_rows(
        "dede" * 8,
        [
            (BusJobRequestMessage(source="a", target="b", job_id="j", payload={"v": value}), None)
            for value, _ in sent
        ],
    )
    lines = pipebus(capsys, "show").lines
    assert "$pb" not in "\n".join(lines)
    for line, (_, shown) in zip(lines, sent, strict=True):
        assert line.endswith(f'payload={{"v": {shown}}}')
