"""EventLog contract: the same behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from pipebus import (
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusWorkerReadyMessage,
    EventLogError,
    JobStatus,
    SchemaVersionError,
)
from pipebus.eventlog.engine import head_revision
from pipebus.eventlog.rows import recordable_row
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import Batch
from pipebus.observability import Envelope
from pipebus.projections import fold

_ids = iter(range(1, 10**9))


def envelope(message: object, *, cause: str | None = None, job: str | None = None) -> Envelope:
    n = next(_ids)
    return Envelope(
        message,  # type: ignore[arg-type]
        f"msg-{n}",
        "s",
        n,
        1_000 * n,
        "runner-a",
        (1 << 127) | n,
        n,
        7 if cause else 0,
        cause,
        False,
        job,
    )


def sample(count: int = 6) -> list[Envelope]:
    out = [envelope(BusWorkerReadyMessage(source="echo", runner="runner-a", active=True))]
    for i in range(count):
        job = f"job-{i}"
        request = envelope(BusJobRequestMessage(source="boss", target="echo", job_id=job), job=job)
        out.append(request)
        out.append(
            envelope(
                BusJobResponseMessage(
                    source="echo",
                    target="boss",
                    job_id=job,
                    status=JobStatus.COMPLETED,
                    response={"i": i},
                ),
                cause=request.message_id,
                job=job,
            )
        )
    return out


async def record(log: EventLog, session_id: str, envelopes: list[Envelope]) -> None:
    await log.begin_session(session_id, runner="runner-a", name="test")
    writer = log.writer(session_id)
    rows = [recordable_row(e, session_id, seq) for seq, e in enumerate(envelopes, 1)]
    await writer.append(Batch(rows, [], []))
    await writer.close()


async def test_opening_creates_the_schema_and_reopening_keeps_it(log_location: str) -> None:
    first = await EventLog.open(log_location)
    await record(first, "s1", sample(1))
    await first.close()
    second = await EventLog.open(log_location)
    assert [s.id for s in await second.sessions()] == ["s1"]
    async with second.engine.connect() as connection:
        assert (
            await connection.scalar(text("SELECT version_num FROM alembic_version"))
            == head_revision()
        )
    await second.close()


async def test_recorded_events_read_back_identically(log: EventLog) -> None:
    envelopes = sample(3)
    await record(log, "s1", envelopes)
    stored = await log.events("s1")
    assert [e.seq for e in stored] == list(range(1, len(envelopes) + 1))
    for original, back in zip(envelopes, stored, strict=True):
        replayed = back.envelope()
        assert replayed.message == original.message
        assert (replayed.message_id, replayed.time_ns, replayed.runner) == (
            original.message_id,
            original.time_ns,
            original.runner,
        )
        assert (replayed.trace_id, replayed.span_id, replayed.parent_span_id) == (
            original.trace_id,
            original.span_id,
            original.parent_span_id,
        )
        assert (replayed.causation_id, replayed.job_id) == (original.causation_id, original.job_id)
    response = stored[2]
    assert (response.type, response.priority, response.local, response.job_id) == (
        "BusJobResponseMessage",
        "data",
        False,
        "job-0",
    )
    assert fold(e.envelope() for e in stored) == fold(envelopes)


async def test_sessions_are_found_by_id_prefix_or_last(log: EventLog) -> None:
    await record(log, "aaaa1111", sample(1))
    await asyncio.sleep(0.001)
    await record(log, "aaaa2222", sample(1))
    await log.end_session("aaaa2222", "ended")
    assert (await log.session("last")).id == "aaaa2222"
    assert (await log.session("aaaa1")).id == "aaaa1111"
    assert (await log.session("aaaa2222")).status == "ended"
    with pytest.raises(EventLogError, match="several sessions"):
        await log.session("aaaa")
    with pytest.raises(EventLogError, match="no session matches 'zzz'"):
        await log.session("zzz")
    info = (await log.sessions())[0]
    assert (info.id, info.events, info.runner, info.name) == ("aaaa2222", 3, "runner-a", "test")


async def test_events_filter_by_type_worker_job_and_window(log: EventLog) -> None:
    await record(log, "s1", sample(4))
    responses = await log.events("s1", types=["BusJobResponseMessage"])
    assert [e.job_id for e in responses] == ["job-0", "job-1", "job-2", "job-3"]
    assert [e.seq for e in await log.events("s1", job_id="job-2")] == [6, 7]
    assert len(await log.events("s1", worker="boss")) == 8
    assert [e.seq for e in await log.events("s1", 3, 6)] == [3, 4, 5]
    assert [e.seq for e in await log.events("s1", stop=9, limit=2, descending=True)] == [7, 8]
    assert await log.count("s1") == 9


async def test_causes_and_effects_are_found(log: EventLog) -> None:
    envelopes = sample(2)
    await record(log, "s1", envelopes)
    request = await log.event_by_message_id("s1", envelopes[1].message_id)
    assert request is not None and request.type == "BusJobRequestMessage"
    effects = await log.caused_by("s1", request.message_id)
    assert [e.message_id for e in effects] == [envelopes[2].message_id]


async def test_snapshots_are_stored_and_found_before_a_position(log: EventLog) -> None:
    envelopes = sample(4)
    await record(log, "s1", envelopes)
    at_three = fold(envelopes[:3])
    at_seven = fold(envelopes[:7])
    await log.save_snapshot("s1", at_three)
    await log.save_snapshot("s1", at_seven)
    await log.save_snapshot("s1", at_seven)  # twice: still one
    assert await log.snapshot_positions("s1") == [3, 7]
    assert await log.snapshot_before("s1", 2) is None
    assert await log.snapshot_before("s1", 6) == at_three
    assert await log.snapshot_before("s1", 9) == at_seven


async def test_a_log_written_by_a_newer_pipebus_is_refused(log_location: str) -> None:
    log = await EventLog.open(log_location)
    async with log.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
    await log.close()
    with pytest.raises(SchemaVersionError, match=r"newer pipebus .*ffff9999"):
        await EventLog.open(log_location)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(EventLogError, match="not an SQLite database") as caught:
        asyncio.run(EventLog.open(path))
    assert "Traceback" not in str(caught.value)


def test_someone_elses_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    with pytest.raises(EventLogError, match=r"not a pipebus event log .*customers"):
        asyncio.run(EventLog.open(path))


async def test_an_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(EventLogError, match="cannot open event log postgresql"):
        await EventLog.open("postgresql://nobody@127.0.0.1:1/none")


async def test_sqlite_refuses_several_writers_of_one_session(tmp_path: Path) -> None:
    log = await EventLog.open(tmp_path / "log.db")
    with pytest.raises(EventLogError, match="need a PostgreSQL log"):
        log.writer("s1", shared=True)
    await log.close()


async def test_shared_postgres_writers_interleave_without_gaps_or_duplicates(
    pg_location: str,
) -> None:
    """Two runners record one session at once; both saw some of the same messages."""
    log = await EventLog.open(pg_location)
    await log.begin_session("shared", runner="a")
    envelopes = sample(100)
    first, second = log.writer("shared", shared=True), log.writer("shared", shared=True)

    async def write(writer: object, part: list[Envelope]) -> None:
        for start in range(0, len(part), 7):
            chunk = part[start : start + 7]
            rows = [recordable_row(e, "shared", 0) for e in chunk]
            await writer.append(Batch(rows, [], []))  # type: ignore[attr-defined]

    # Both runners record the first half (each saw those messages); each one half of the rest.
    half = len(envelopes) // 2
    rest = envelopes[half:]
    await asyncio.gather(
        write(first, envelopes[:half] + rest[::2]), write(second, envelopes[:half] + rest[1::2])
    )
    await first.close()
    await second.close()
    stored = await log.events("shared")
    assert [e.seq for e in stored] == list(range(1, len(envelopes) + 1))
    assert sorted(e.message_id for e in stored) == sorted(e.message_id for e in envelopes)
    assert (await log.session("shared")).events == len(envelopes)
    await log.close()
