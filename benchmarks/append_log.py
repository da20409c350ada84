"""Sustained append (goal 2), the log alone: 1,000,000 encoded rows handed to its writer.

:mod:`benchmarks.append` measures the whole recording path (the bus stamps, the
recorder encodes, the writer commits). This measures the last stage alone: how fast
an SQLite event log appends rows that are already encoded. One fresh SQLite file,
one session (``EventLog.begin_session``), the writer the recorder would use
(``EventLog.writer()``: a writer process fed over a socket, default durability).
The rows are the ones :mod:`benchmarks.append` records (the same ``Sample`` data
message, stamped envelopes with ids and trace ids like a bus's), encoded with
``recordable_row`` before the clock starts.

They are handed over in batches of 20,000 (the recorder's ``BATCH_ROWS``), as its
committer does: ``--in-flight 2`` keeps a second batch on the way, so the writer
process commits one while the next is marshalled and sent (the committer's way with a
writer process); ``--in-flight 1`` waits for each commit before the next.

Measured: rows/s from the first hand-over until the last commit is answered; the CPU
time of this process and of the writer process meanwhile (which one limits); RSS
growth of this process over its baseline (taken after the rows were encoded, so
their memory is not counted): the peak (``VmHWM``) and at the end; and the writer
process's own peak RSS, all of it (it exists only to record).

``--postgres URL`` appends to that PostgreSQL log instead (a schema of its own,
``?schema=``, its tables made): the writer the recorder would use there, a
connection in this process, which takes one batch at a time (``--in-flight`` is then
at most its ``in_flight``). ``--wait``: say ``ready`` on stdout before the clock
starts and start on a line of stdin (:mod:`benchmarks.eventlog_postgres`).

    python -m benchmarks.append_log [--events 1000000] [--in-flight 1] [--postgres URL]
                                    [--wait]

Prints one JSON object. ``python -m benchmarks.eventlog`` runs it and compares with
the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.append import sample
from benchmarks.common import (
    child_peak_rss_mb,
    children_cpu_s,
    peak_rss_mb,
    ready_then_wait,
    reset_peak_rss,
    rss_mb,
)
from pipebus.bus.message_ids import sorted_message_id
from pipebus.eventlog.committer import BATCH_ROWS
from pipebus.eventlog.rows import recordable_row
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import Batch
from pipebus.observability import Envelope

SESSION = "0123456789abcdef0123456789abcdef"


def encoded_rows(events: int) -> list[tuple[Any, ...]]:
    """The events-table rows of ``events`` stamped ``Sample`` messages."""
    rng = random.Random(5)
    prefix = "5f3a9c2e41d0-"
    rows = []
    for seq in range(1, events + 1):
        envelope = Envelope(
            sample(seq),
            sorted_message_id(prefix, seq),
            SESSION,
            seq,
            time.time_ns(),
            "runner",
            rng.getrandbits(128) or 1,
            rng.getrandbits(64) or 1,
        )
        rows.append(recordable_row(envelope, SESSION, seq))
    return rows


async def append(
    location: str | Path, rows: list[tuple[Any, ...]], in_flight: int, wait: bool = False
) -> dict[str, Any]:
    log = await EventLog.open(location)
    await log.begin_session(SESSION, runner="runner")
    writer = log.writer(SESSION)
    await writer.append(Batch(rows[:1], [], []))  # starts the writer process (or connects)
    rows = rows[1:]
    in_flight = min(in_flight, max(1, writer.in_flight))
    gc.collect()
    base = rss_mb()
    peak_reset = reset_peak_rss()
    if wait:
        await ready_then_wait()
    slots = asyncio.Semaphore(in_flight)
    pending: set[asyncio.Task[int]] = set()

    async def one(batch: list[tuple[Any, ...]]) -> int:
        try:
            return await writer.append(Batch(batch, [], []))
        finally:
            slots.release()

    start, start_wall = time.perf_counter(), time.time()
    cpu, writer_cpu = time.process_time(), children_cpu_s() or 0.0
    for first in range(0, len(rows), BATCH_ROWS):
        await slots.acquire()
        task = asyncio.create_task(one(rows[first : first + BATCH_ROWS]))
        pending.add(task)
        task.add_done_callback(pending.discard)
    last = max([await task for task in list(pending)], default=0)
    seconds, end_wall, cpu = time.perf_counter() - start, time.time(), time.process_time() - cpu
    writer_cpu = (children_cpu_s() or 0.0) - writer_cpu
    peak, after, writer_peak = peak_rss_mb(), rss_mb(), child_peak_rss_mb()
    await writer.close()
    stored = await log.count(SESSION)
    await log.close()
    return {
        "events": len(rows),
        "in_flight": in_flight,
        "events_per_s": len(rows) / seconds,
        "seconds": seconds,
        "start_wall": start_wall,
        "end_wall": end_wall,
        "cpu_s": cpu,
        "writer_cpu_s": writer_cpu,
        "last": last,
        "stored": stored,
        "rss_base_mb": base,
        "rss_peak_growth_mb": peak - base if peak_reset else None,
        "rss_end_growth_mb": after - base,
        "writer_rss_peak_mb": writer_peak,
    }


def run(
    events: int, in_flight: int, postgres: str | None = None, wait: bool = False
) -> dict[str, Any]:
    logging.disable(logging.WARNING)
    start = time.perf_counter()
    rows = encoded_rows(events + 1)
    encode_s = time.perf_counter() - start
    if postgres:
        result = asyncio.run(append(postgres, rows, in_flight, wait))
        return {**result, "encode_s": encode_s, "db_mb": None}
    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        path = Path(directory) / "events.db"
        result = asyncio.run(append(path, rows, in_flight))
        db_mb = path.stat().st_size / 2**20
    return {**result, "encode_s": encode_s, "db_mb": db_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--in-flight", type=int, default=2, help="batches handed over at once")
    parser.add_argument("--postgres", metavar="URL", help="append to this PostgreSQL log")
    parser.add_argument("--wait", action="store_true", help="say ready, start on a line of stdin")
    args = parser.parse_args()
    result = run(args.events, args.in_flight, args.postgres, args.wait)
    json.dump({"python": sys.version.split()[0], **result}, sys.stdout)


if __name__ == "__main__":
    main()
