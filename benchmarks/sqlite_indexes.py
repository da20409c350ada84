"""What each index of the events table costs an SQLite append, with the real schema.

Creates the ``events`` table from pipebus's schema (:mod:`pipebus.eventlog.schema`) in
a fresh file, with all of its indexes, with none, and with each one alone, and appends
the same 200,000 rows through the writer process's statement (50 rows an INSERT, 2,000
a transaction, the log's pragmas, its adapters), timing the CPU of the inserts. Prints a Markdown
table and saves ``benchmarks/results/sqlite_indexes.{json,md}``.

    python -m benchmarks.sqlite_indexes [--rows 200000]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from benchmarks.common import markdown, save
from pipebus.bus.message_ids import sorted_message_id
from pipebus.eventlog.schema import EVENT_COLUMNS, events
from pipebus.eventlog.sqlite_writer_process import SQLITE_PRAGMAS, bind_fast
from pipebus.workers.job_params import new_job_id

PER_STATEMENT = 50
PER_COMMIT = 2000


def make_rows(count: int) -> list[tuple[Any, ...]]:
    """Rows like a voice agent's: two in five in a job (a job has a few), two in three
    sent by a handler. Job ids come from pipebus's own generator, as recorded ones do.
    """
    session = new_job_id()
    job_ids = [new_job_id() for _ in range(count // 12 + 1)]  # a job is several events
    rows = []
    for seq in range(1, count + 1):
        payload = {"seq": seq, "text": "and then we could meet on", "final": seq % 10 == 0}
        rows.append(
            (
                session,
                seq,
                sorted_message_id("a1b2c3d4e5f6-", seq),
                time.time_ns(),
                "Sample",
                "stt",
                None,
                "data",
                False,
                job_ids[seq // 12] if seq % 5 < 2 else None,
                "runner-1",
                False,
                json.dumps({"source": "stt", "target": None, "payload": payload}),
                f"{random.getrandbits(128):032x}",
                f"{random.getrandbits(64):016x}",
                None,
                sorted_message_id("a1b2c3d4e5f6-", seq - 1) if seq % 3 else None,
            )
        )
    return rows


def append(path: Path, indexes: list[str], rows: list[tuple[Any, ...]]) -> float:
    """CPU microseconds a row, appending ``rows`` to a fresh table with ``indexes``."""
    dialect = sqlite_dialect.dialect()
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        connection.execute(pragma)
    connection.execute(str(CreateTable(events).compile(dialect=dialect)))
    for index in events.indexes:
        if index.name in indexes:
            connection.execute(str(CreateIndex(index).compile(dialect=dialect)))
    one = "(" + ", ".join("?" * len(EVENT_COLUMNS)) + ")"
    insert = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES " + ", ".join(
        [one] * PER_STATEMENT
    )
    start = time.process_time()
    for first in range(0, len(rows), PER_COMMIT):
        connection.execute("BEGIN")
        batch = rows[first : first + PER_COMMIT]
        for at in range(0, len(batch), PER_STATEMENT):
            connection.execute(insert, [v for row in batch[at : at + PER_STATEMENT] for v in row])
        connection.execute("COMMIT")
    cpu = time.process_time() - start
    connection.close()
    return cpu / len(rows) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    bind_fast()  # as the writer process binds
    rows = make_rows(args.rows - args.rows % PER_STATEMENT)
    names = sorted(str(index.name) for index in events.indexes)
    cases = {"all indexes": names, "no secondary index": []}
    cases.update({f"only {name}": [name] for name in names})
    results = {}
    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        for number, (label, chosen) in enumerate(cases.items()):
            results[label] = append(Path(directory) / f"{number}.db", chosen, rows)
    table = [[label, f"{us:.2f} us", f"{1e6 / us:,.0f}"] for label, us in results.items()]
    text = f"### Appending {len(rows):,} rows to the events table, by index\n\n" + markdown(
        ["events table", "CPU per row", "rows/s of one core"], table
    )
    print(text)
    save("sqlite_indexes", {"rows": len(rows), "us_per_row": results}, text)


if __name__ == "__main__":
    main()
