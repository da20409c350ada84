"""The PostgreSQL writer's binary COPY: values stored as given, failures whole and named."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from pipebus import BaseWorker, BusDataMessage, EncodeError, EventLogError, WorkerRunner
from pipebus.eventlog.schema import EVENT_COLUMNS
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import Batch, DeliveryRecord, Writer
from pipebus.projections import SessionState
from pipebus.testing import EnvelopeCapture, running
from tests.eventlog.conftest import drop_schema
from tests.services import need_postgres

SESSION = "copy-session"
Row = tuple[Any, ...]


def row(seq: int, **values: Any) -> Row:
    """An events row at ``seq``: plain values, overridden by ``values`` (column names)."""
    plain: dict[str, Any] = {
        "session_id": SESSION,
        "seq": seq,
        "message_id": f"m-{seq}",
        "time_ns": 1_700_000_000_000_000_000 + seq,
        "type": "Note",
        "source": "sender",
        "target": None,
        "priority": "data",
        "local": False,
        "job_id": None,
        "runner": "runner-a",
        "remote": False,
        "payload": f'{{"n":{seq}}}',
        "trace_id": f"{seq:032x}",
        "span_id": f"{seq:016x}",
        "parent_span_id": None,
        "causation_id": None,
    }
    plain.update(values)
    return tuple(plain[column] for column in EVENT_COLUMNS)


def rows(first: int, count: int) -> list[Row]:
    return [row(seq) for seq in range(first, first + count)]


@pytest.fixture
async def log(pg_location: str) -> AsyncIterator[EventLog]:
    """A PostgreSQL log (a schema of its own) holding the session ``SESSION``."""
    opened = await EventLog.open(pg_location)
    await opened.begin_session(SESSION, runner="runner-a")
    yield opened
    await opened.close()


@pytest.fixture
async def writer(log: EventLog) -> AsyncIterator[Writer]:
    """An exclusive writer of ``SESSION``."""
    opened = log.writer(SESSION)
    yield opened
    await opened.close()


async def stored_rows(log: EventLog, session_id: str = SESSION) -> list[Row]:
    async with log.engine.connect() as connection:
        result = await connection.execute(
            text(
                f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE session_id = :s ORDER BY seq"
            ),
            {"s": session_id},
        )
        return [tuple(r) for r in result]


async def scalar(log: EventLog, sql: str) -> Any:
    async with log.engine.connect() as connection:
        return (await connection.execute(text(sql), {"s": SESSION})).scalar()


async def test_values_come_back_exactly_as_appended(log: EventLog, writer: Writer) -> None:
    """NULLs stay NULL, flags booleans; big ints, unicode and long text are unchanged."""
    appended = [
        row(1),  # every nullable column NULL
        row(
            2,
            target="echo",
            local=True,
            remote=True,
            job_id="job-2",
            parent_span_id="ffffffffffffffff",
            causation_id="m-1",
            time_ns=2**63 - 1,
        ),
        row(3, time_ns=-(2**63), source="", payload=""),
        row(
            4,
            source="stt-\u00e9\u00e8\u4e2d\u6587-\u05e2\u05d1\u05e8\u05d9\u05ea",
            target="e\u0301cho-\U0001f600",
            payload='{"text":"\U0001f3a4 caf\u00e9 \u2014 \u0627\u0644\u0633\u0644\u0627\u0645"}',
        ),
        row(5, payload="x" * 5_000_000, message_id="m" * 64),
        row(6, payload='{"quote":"\\"","tab":"\t","newline":"\n","backslash":"\\\\"}'),
    ]
    assert await writer.append(Batch(appended, [], [])) == 6
    assert await stored_rows(log) == appended
    nulls = await scalar(
        log,
        "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM events "
        "WHERE session_id = :s AND target IS NULL AND job_id IS NULL",
    )
    assert nulls == "1,3,5,6"  # NULL, not the text 'None'
    flags = await scalar(
        log,
        "SELECT string_agg(pg_typeof(local)::text || ':' || local::text, ',' ORDER BY seq) "
        "FROM events WHERE session_id = :s AND seq <= 2",
    )
    assert flags == "boolean:false,boolean:true"
    assert (await log.session(SESSION)).events == 6


async def test_deliveries_are_copied_with_their_nulls(log: EventLog, writer: Writer) -> None:
    done = DeliveryRecord("m-1", "echo", 2**64 - 1, 10, 20, None, None)
    failed = DeliveryRecord("m-1", "crasher", 1, 10, 30, "ValueError", "bad \u00e9\U0001f600")
    await writer.append(Batch(rows(1, 1), [done, failed], []))
    stored = [
        {key: value for key, value in d.items() if key not in ("id", "session_id", "message_id")}
        for d in await log.deliveries(SESSION, "m-1")
    ]
    assert stored == [
        {
            "subscriber": "echo",
            "span_id": "ffffffffffffffff",
            "start_ns": 10,
            "end_ns": 20,
            "error_type": None,
            "error": None,
        },
        {
            "subscriber": "crasher",
            "span_id": "0000000000000001",
            "start_ns": 10,
            "end_ns": 30,
            "error_type": "ValueError",
            "error": "bad \u00e9\U0001f600",
        },
    ]


WRITTEN_OUT = [
    pytest.param(
        {"payload": '{"text":"half \udcff"}'},
        ("payload", "column payload: text with a lone surrogate"),
        id="surrogate",
    ),
    pytest.param({"source": "nul\x00here"}, ("source", "nul\\x00here"), id="nul"),
    pytest.param({"message_id": "m" * 65}, ("message_id", "m" * 63 + "…"), id="long"),
]


@pytest.mark.parametrize(("bad", "expected"), WRITTEN_OUT)
async def test_a_string_postgres_cannot_store_costs_only_its_own_row(
    log: EventLog,
    writer: Writer,
    bad: dict[str, Any],
    expected: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await writer.append(Batch(rows(1, 3), [], []))
    batch = [row(4), row(5, **{"message_id": "m-5", **bad}), row(6)]
    with caplog.at_level(logging.WARNING, logger="pipebus.eventlog"):
        assert await writer.append(Batch(batch, [], [])) == 6
    stored = await stored_rows(log)
    assert [r[1] for r in stored] == [1, 2, 3, 4, 5, 6]  # its neighbours are all there
    column, value = expected
    kept = stored[4][EVENT_COLUMNS.index(column)]
    assert value in kept
    if column == "payload":
        note = json.loads(kept)
        assert set(note) == {"$unencodable", "source", "target"}
    (warning,) = [r.getMessage() for r in caplog.records if "written out" in r.getMessage()]
    assert warning.startswith("event 5 (Note, message ")


BAD_VALUES = [
    pytest.param({"time_ns": 2**63}, "column time_ns: 9223372036854775808 is out of", id="bigint"),
    pytest.param({"local": 1}, "column local: not a boolean but int", id="bool"),
    pytest.param({"payload": None}, "column payload: missing (NULL", id="null"),
]


@pytest.mark.parametrize(("bad", "words"), BAD_VALUES)
async def test_a_value_no_string_escape_can_store_fails_its_batch_by_name_and_the_next_lands(
    log: EventLog, writer: Writer, bad: dict[str, Any], words: str
) -> None:
    await writer.append(Batch(rows(1, 3), [], []))
    batch = [row(4), row(5, **{"message_id": "m-5", **bad}), row(6)]
    with pytest.raises(EventLogError, match="cannot append to") as raised:
        await writer.append(Batch(batch, [], []))
    assert words in str(raised.value)
    assert f"event {batch[1][2]!r} (Note), column" in str(raised.value)
    assert "nothing of the batch was stored" in str(raised.value)
    assert raised.value.__cause__ is not None  # the driver's own error
    assert [r[1] for r in await stored_rows(log)] == [1, 2, 3]
    assert (await log.session(SESSION)).events == 3
    assert await writer.append(Batch(rows(7, 2), [], [])) == 8  # the loss stays a gap
    assert [r[1] for r in await stored_rows(log)] == [1, 2, 3, 7, 8]


async def test_a_delivery_with_a_string_postgres_cannot_store_is_written_out(
    log: EventLog, writer: Writer
) -> None:
    bad = DeliveryRecord("m-1", "crasher", 1, 10, 30, "ValueError", "lone \ud800 surrogate")
    assert await writer.append(Batch(rows(1, 2), [bad], [])) == 2
    assert [r[1] for r in await stored_rows(log)] == [1, 2]
    error = await scalar(log, "SELECT error FROM deliveries WHERE session_id = :s")
    assert error == "lone \\ud800 surrogate"


async def test_a_batch_fails_whole_when_a_statement_after_its_copy_fails(
    log: EventLog, writer: Writer
) -> None:
    """The COPY runs inside the batch's transaction: a later failure takes it back."""
    state = SessionState()
    await writer.append(Batch(rows(1, 2), [], [(2, state)]))
    delivery = DeliveryRecord("m-3", "echo", 1, 1, 2, None, None)
    with pytest.raises(EventLogError, match="duplicate key"):
        await writer.append(Batch(rows(3, 2), [delivery], [(2, state)]))  # snapshot 2 again
    assert [r[1] for r in await stored_rows(log)] == [1, 2]
    assert await log.deliveries(SESSION, "m-3") == []
    info = await log.session(SESSION)
    assert info.events == 2
    assert await writer.append(Batch(rows(3, 2), [delivery], [(4, state)])) == 4
    assert [r[1] for r in await stored_rows(log)] == [1, 2, 3, 4]


async def test_a_batch_overlapping_stored_positions_stores_none_of_its_rows(
    log: EventLog, writer: Writer
) -> None:
    await writer.append(Batch(rows(1, 3), [], []))
    with pytest.raises(EventLogError, match="duplicate key"):
        await writer.append(Batch(rows(3, 3), [], []))  # 3 is stored; 4 and 5 are new
    assert [r[1] for r in await stored_rows(log)] == [1, 2, 3]


async def test_rows_land_in_the_logs_own_schema(pg_location: str) -> None:
    """COPY resolves ``events`` through the schema's search_path, as SQLAlchemy does."""
    base = need_postgres()
    other_location = f"{base}?schema=pbtest_{secrets.token_hex(6)}"
    first, other = await EventLog.open(pg_location), await EventLog.open(other_location)
    try:
        for opened, count in ((first, 2), (other, 5)):
            await opened.begin_session(SESSION, runner="runner-a")
            writer = opened.writer(SESSION)
            await writer.append(Batch(rows(1, count), [], []))
            await writer.close()
        assert len(await stored_rows(first)) == 2
        assert len(await stored_rows(other)) == 5
    finally:
        await first.close()
        await other.close()
        await drop_schema(base, other_location.rsplit("=", 1)[1])


def shared_row(message_id: str, *, error: bool = False) -> Row:
    """A row as a runner in shared mode hands it over: its position is the writer's to give."""
    return row(0, message_id=message_id, type="BusHandlerErrorMessage" if error else "Note")


async def test_two_shared_writers_store_each_message_once_at_gapless_positions(
    log: EventLog,
) -> None:
    """Both runners saw every message; batches of different sizes, some repeating ids."""
    ids = [f"msg-{i:05d}" for i in range(3000)]
    errors = {message_id for i, message_id in enumerate(ids) if i % 100 == 0}
    first, second = log.writer(SESSION, shared=True), log.writer(SESSION, shared=True)

    async def record(writer: Writer, size: int) -> None:
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            batch = [shared_row(i, error=i in errors) for i in chunk + chunk[:3]]
            await writer.append(Batch(batch, [], []))

    await asyncio.gather(record(first, 500), record(second, 333))
    await first.close()
    await second.close()
    stored = await stored_rows(log)
    assert [r[1] for r in stored] == list(range(1, len(ids) + 1))
    assert sorted(r[2] for r in stored) == ids
    info = await log.session(SESSION)
    assert (info.events, info.errors) == (len(ids), len(errors))


async def test_a_failed_shared_batch_takes_no_positions(log: EventLog) -> None:
    writer = log.writer(SESSION, shared=True)
    assert await writer.append(Batch([shared_row("a"), shared_row("b")], [], [])) == 2
    bad = [shared_row("c"), row(0, message_id="d", time_ns=2**63)]
    with pytest.raises(EventLogError, match="event 'd' \\(Note\\), column time_ns: 92"):
        await writer.append(Batch(bad, [], []))
    assert await writer.append(Batch([shared_row("b"), shared_row("c")], [], [])) == 3
    await writer.close()
    assert [(r[1], r[2]) for r in await stored_rows(log)] == [(1, "a"), (2, "b"), (3, "c")]


@dataclass
class Said(BusDataMessage):
    text: str = ""


async def test_a_message_with_a_lone_surrogate_is_refused_at_send_and_its_neighbours_land(
    pg_location: str,
) -> None:
    """UTF-8 cannot hold it, so the codec refuses it at send: the sender hears, nothing is lost."""
    runner = WorkerRunner(handle_sigint=False, event_log=pg_location)
    capture = EnvelopeCapture(runner.bus)
    sender = BaseWorker("sender")
    await runner.add_workers(sender)
    async with running(runner):
        await sender.send_bus_message(Said(source="sender", text="before"))
        with pytest.raises(EncodeError, match=r"^Said: text: a string holds the lone surrogate"):
            await sender.send_bus_message(Said(source="sender", text="half \udcff"))
        await sender.send_bus_message(Said(source="sender", text="after"))
        await runner.flush()
        recorder = runner.recorder
        assert recorder is not None and recorder.lost == 0
    assert not [e for e in capture.envelopes if getattr(e.message, "text", "").startswith("half")]
    log = await EventLog.open(pg_location)
    info = await log.session(runner.session_id)
    stored = await log.events(info.id)
    assert [e.message_id for e in stored] == [e.message_id for e in capture.envelopes]
    assert [getattr(e.message, "text", None) for e in stored if e.type.endswith("Said")] == [
        "before",
        "after",
    ]
    assert info.lost_events == 0
    await log.close()
