"""The SQLite writer process: what it stores, and checkpoints made beside its inserts."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from pipebus import BusEndMessage
from pipebus.eventlog.rows import ERROR_TYPES, recordable_row
from pipebus.eventlog.schema import EVENT_COLUMNS
from pipebus.eventlog.sqlite_writer_process import FileWriter
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import Batch
from pipebus.observability import Envelope

SESSION = "writer-child-session"


def rows(count: int, *, first: int = 1) -> list[tuple[object, ...]]:
    """Rows of end messages, every other one with a target, job, parent span and cause."""
    out = []
    for seq in range(first, first + count):
        full = seq % 2 == 0
        message = BusEndMessage(source="boss", target="echo" if full else None)
        envelope = Envelope(
            message,
            f"m-{seq}",
            SESSION,
            seq,
            seq,
            "runner",
            seq,
            seq,
            seq if full else 0,
            f"m-{seq - 1}" if full else None,
            full,
            f"job-{seq}" if full else None,
        )
        out.append(recordable_row(envelope, SESSION, seq))
    return out


async def test_the_writer_process_stores_nulls_and_flags_as_sql_values(tmp_path: Path) -> None:
    """Its fast binding of None and bools must still write NULL and 0/1, never text."""
    path = tmp_path / "log.db"
    log = await EventLog.open(path)
    await log.begin_session(SESSION, runner="runner")
    writer = log.writer(SESSION)
    await writer.append(Batch(rows(4), [], []))
    await writer.close()
    await log.close()
    with sqlite3.connect(path) as connection:
        stored = connection.execute(
            "SELECT seq, typeof(target), typeof(job_id), typeof(parent_span_id),"
            " typeof(causation_id), remote, typeof(remote), typeof(local) FROM events ORDER BY seq"
        ).fetchall()
    assert stored == [
        (1, "null", "null", "null", "null", 0, "integer", "integer"),
        (2, "text", "text", "text", "text", 1, "integer", "integer"),
        (3, "null", "null", "null", "null", 0, "integer", "integer"),
        (4, "text", "text", "text", "text", 1, "integer", "integer"),
    ]


async def _new_log(path: Path) -> None:
    log = await EventLog.open(path)
    await log.begin_session(SESSION, runner="runner")
    await log.close()


def test_checkpoints_copy_the_wal_into_the_file_while_the_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    asyncio.run(_new_log(path))
    before = path.stat().st_size
    writer = FileWriter(
        str(path),
        SESSION,
        "NORMAL",
        columns=EVENT_COLUMNS,
        error_types=ERROR_TYPES,
        checkpoint_rows=100,
    )
    try:
        writer.commit([(1, rows(50), [], [])])
        assert path.stat().st_size == before  # under the threshold: all still in the WAL
        writer.commit([(2, rows(100, first=51), [], [])])
        deadline = time.monotonic() + 10
        while path.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert path.stat().st_size > before, "no checkpoint reached the database file"
        assert writer.commit([(3, rows(1, first=151), [], [])]) == 151
    finally:
        writer.drop()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*), max(seq) FROM events").fetchone() == (151, 151)


async def test_batches_handed_over_together_start_one_process_and_commit_in_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    log = await EventLog.open(path)
    await log.begin_session(SESSION, runner="runner")
    writer = log.writer(SESSION)
    assert writer.in_flight == 2
    lasts = await asyncio.gather(
        writer.append(Batch(rows(30), [], [])),
        writer.append(Batch(rows(30, first=31), [], [])),
        writer.append(Batch(rows(30, first=61), [], [])),
    )
    await writer.close()
    # Each answer covers its own batch (batches that arrived together share a commit).
    assert lasts == sorted(lasts) and all(last >= 30 * n for n, last in enumerate(lasts, 1))
    assert await log.count(SESSION) == 90
    await log.close()
