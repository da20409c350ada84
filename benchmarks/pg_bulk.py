"""Bulk appends to PostgreSQL for issue #13: today's path beside asyncpg's own bulk paths.

Appends the same 100,000 rows, shaped like the event log's ``events`` table (its
columns, primary key and indexes from :mod:`pipebus.eventlog.schema`; payloads are the
codec's text of benchmarks.session_mix's voice-agent messages), four ways:

- **today**: SQLAlchemy Core ``connection.execute(insert(events), [dicts])`` through
  asyncpg, as the log's PostgreSQL session writer does (its ``_insert``): SQLAlchemy
  hands the rows to asyncpg's ``executemany``;
- **asyncpg executemany**: the same statement straight to asyncpg, rows as tuples;
- **copy_records_to_table**: asyncpg's ``COPY ... FROM STDIN (FORMAT binary)``, rows
  encoded by asyncpg's binary codecs (this *is* the binary COPY);
- **COPY csv**: ``copy_to_table`` from CSV text built in Python with :mod:`csv`.

Each batch (500, 2,000 or 10,000 rows) is one transaction, as a log batch is, on a
connection with ``synchronous_commit = off`` (the log's default durability,
``"batch"``). With 4 connections the rows are split in four and appended at once
(asyncio, one client process), the rate being all rows over the wall time. Every run
starts from an empty table (``TRUNCATE``, untimed). The client's CPU is this
process's user + system time; the server's, that of the connections' backends (read
from ``/proc``; the WAL writer and checkpointer are not counted).

Everything happens in a schema of its own, ``pipebus_bench_pg_bulk_<pid>``, created
at the start and dropped at the end; no other schema is touched. The ways take turns
in every round (A B C D, A B C D); the figures are medians of ``--repeat`` rounds.
Prints a Markdown table and saves ``benchmarks/results/pg_bulk.{json,md}``.

    python -m benchmarks.pg_bulk [--url postgresql://postgres@127.0.0.1:5432/test]
                                 [--rows 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import random
import resource
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from benchmarks import session_mix
from benchmarks.common import markdown, save, speed_probe_us
from pipebus.bus.message_ids import sorted_message_id
from pipebus.core.codec import encode_message, wire_name
from pipebus.core.messages import BusMessage, BusSystemMessage
from pipebus.core.routing import job_id_of
from pipebus.eventlog.schema import events

URL = "postgresql://postgres@127.0.0.1:5432/test"
COLUMNS: tuple[str, ...] = tuple(events.columns.keys())
BATCHES = (500, 2000, 10_000)
CONNECTIONS = (1, 4)
Row = tuple[Any, ...]


# --- rows -----------------------------------------------------------------------------


def mix(count: int, seed: int = 7) -> list[BusMessage]:
    """Messages of benchmarks.session_mix's voice-agent mix (whole jobs one after another)."""
    rng = random.Random(seed)
    stopped: set[str] = set()
    out: list[BusMessage] = []
    n = 0
    while len(out) < count:
        n += 1
        pick = rng.random()
        if pick < 0.1:
            out.append(session_mix.lifecycle_message(rng, "runner-a", stopped))
        elif pick < 0.5:
            out.append(session_mix.data_message(rng, n))
        else:
            job = session_mix.job_script(rng, f"job-{n}", n)
            out += [message for message in job if isinstance(message, BusMessage)]
    return out[:count]


def make_rows(count: int) -> list[Row]:
    """Event rows as the recorder makes them, in the order of the table's columns."""
    session = f"{random.Random(1).getrandbits(128):032x}"
    rng = random.Random(2)
    rows = []
    for seq, message in enumerate(mix(count), start=1):
        parent = rng.getrandbits(64) if seq % 3 else 0
        values = {
            "session_id": session,
            "seq": seq,
            "message_id": sorted_message_id("a1b2c3d4e5f6-", seq),
            "time_ns": 1_715_960_000_000_000_000 + seq * 1000,
            "type": wire_name(type(message)),
            "source": message.source,
            "target": message.target,
            "priority": "system" if isinstance(message, BusSystemMessage) else "data",
            "local": False,
            "job_id": job_id_of(message),
            "runner": "runner-a",
            "remote": False,
            "payload": encode_message(message),
            "trace_id": f"{rng.getrandbits(128):032x}",
            "span_id": f"{rng.getrandbits(64):016x}",
            "parent_span_id": f"{parent:016x}" if parent else None,
            "causation_id": sorted_message_id("a1b2c3d4e5f6-", seq - 1) if seq % 3 else None,
        }
        rows.append(tuple(values[column] for column in COLUMNS))
    return rows


# --- the ways to append -----------------------------------------------------------------

Append = Callable[[Any, list[Row]], Awaitable[None]]
"""Appends one batch in one transaction on a connection (asyncpg's, or SQLAlchemy's)."""

_INSERT = (
    f"INSERT INTO events ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))})"
)


async def append_sqlalchemy(connection: AsyncConnection, batch: list[Row]) -> None:
    async with connection.begin():
        await connection.execute(
            insert(events), [dict(zip(COLUMNS, row, strict=True)) for row in batch]
        )


async def append_executemany(connection: asyncpg.Connection, batch: list[Row]) -> None:
    async with connection.transaction():
        await connection.executemany(_INSERT, batch)


class Copy:
    """The two COPY ways; they need the schema's name."""

    def __init__(self, schema: str) -> None:
        self.schema = schema

    async def records(self, connection: asyncpg.Connection, batch: list[Row]) -> None:
        async with connection.transaction():
            await connection.copy_records_to_table(
                "events", records=batch, columns=COLUMNS, schema_name=self.schema
            )

    async def csv(self, connection: asyncpg.Connection, batch: list[Row]) -> None:
        text = io.StringIO()
        csv.writer(text).writerows(batch)  # None is written as an empty, unquoted field: NULL
        source = io.BytesIO(text.getvalue().encode())
        async with connection.transaction():
            await connection.copy_to_table(
                "events", source=source, columns=COLUMNS, schema_name=self.schema, format="csv"
            )


# --- one run ----------------------------------------------------------------------------


def _cpu_s(pid: int | None = None) -> float:
    """CPU seconds of this process, or of process ``pid`` (a server backend) from /proc."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    """The schema, the connections of each way, and the timing of one run."""

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema
        self.settings = {"search_path": schema, "synchronous_commit": "off"}
        self.engine = create_async_engine(
            url.replace("postgresql://", "postgresql+asyncpg://", 1),
            pool_size=max(CONNECTIONS),
            connect_args={"server_settings": self.settings},
        )
        self.raw: list[asyncpg.Connection] = []
        self.orm: list[AsyncConnection] = []
        self.backends: dict[str, list[int]] = {}

    async def open(self) -> None:
        admin = await asyncpg.connect(self.url)
        try:
            await admin.execute(f'CREATE SCHEMA "{self.schema}"')
        finally:
            await admin.close()
        self.raw = [
            await asyncpg.connect(self.url, server_settings=self.settings)
            for _ in range(max(CONNECTIONS))
        ]
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        await self.raw[0].execute(str(CreateTable(events).compile(dialect=dialect)))
        for index in events.indexes:
            await self.raw[0].execute(str(CreateIndex(index).compile(dialect=dialect)))
        where = await self.raw[0].fetchval(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'events' "
            "AND table_schema = $1",
            self.schema,
        )
        assert where == self.schema, "the events table must be in the benchmark's schema"
        self.orm = [await self.engine.connect() for _ in range(max(CONNECTIONS))]
        orm_pids = []
        for connection in self.orm:
            orm_pids.append(
                int((await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one())
            )
            await connection.commit()
        raw_pids = [int(await c.fetchval("SELECT pg_backend_pid()")) for c in self.raw]
        self.backends = {"orm": orm_pids, "raw": raw_pids}

    async def close(self) -> None:
        for connection in self.orm:
            await connection.close()
        await self.engine.dispose()
        for raw in self.raw:
            await raw.close()
        admin = await asyncpg.connect(self.url)
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await admin.close()

    async def run(
        self, append: Append, orm: bool, rows: list[Row], batch: int, connections: int
    ) -> dict[str, float]:
        """Append all ``rows`` in batches over ``connections`` connections at once."""
        await self.raw[0].execute("TRUNCATE events")
        await self.raw[0].execute("CHECKPOINT")  # each run starts with the WAL flushed
        pool: Sequence[Any] = (self.orm if orm else self.raw)[:connections]
        pids = self.backends["orm" if orm else "raw"][:connections]
        share = -(-len(rows) // connections)
        slices = [rows[i * share : (i + 1) * share] for i in range(connections)]

        async def one(connection: Any, part: list[Row]) -> None:
            for start in range(0, len(part), batch):
                await append(connection, part[start : start + batch])

        client, server = _cpu_s(), sum(_cpu_s(pid) for pid in pids)
        start = time.perf_counter()
        await asyncio.gather(*(one(c, part) for c, part in zip(pool, slices, strict=True)))
        wall = time.perf_counter() - start
        client = _cpu_s() - client
        server = sum(_cpu_s(pid) for pid in pids) - server
        count = await self.raw[0].fetchval("SELECT count(*) FROM events")
        assert count == len(rows), f"{count} rows in the table, {len(rows)} appended"
        return {
            "rows_per_s": len(rows) / wall,
            "client_us_per_row": client / len(rows) * 1e6,
            "server_us_per_row": server / len(rows) * 1e6,
        }


async def measure(url: str, rows: list[Row], rounds: int) -> list[dict[str, Any]]:
    bench = Bench(url, f"pipebus_bench_pg_bulk_{os.getpid()}")
    copy = Copy(bench.schema)
    ways: dict[str, tuple[Append, bool]] = {
        "today: SQLAlchemy insert, executemany": (append_sqlalchemy, True),
        "asyncpg executemany": (append_executemany, False),
        "asyncpg copy_records_to_table (COPY binary)": (copy.records, False),
        "asyncpg copy_to_table (COPY csv)": (copy.csv, False),
    }
    samples: dict[tuple[str, int, int], list[dict[str, float]]] = {}
    try:
        await bench.open()
        for _ in range(rounds):
            for connections in CONNECTIONS:
                for batch in BATCHES:
                    for name, (append, orm) in ways.items():
                        result = await bench.run(append, orm, rows, batch, connections)
                        samples.setdefault((name, batch, connections), []).append(result)
    finally:
        await bench.close()
    results = []
    for (name, batch, connections), runs in samples.items():
        results.append(
            {
                "way": name,
                "batch": batch,
                "connections": connections,
                "runs": len(runs),
                **{
                    key: statistics.median(run[key] for run in runs)
                    for key in ("rows_per_s", "client_us_per_row", "server_us_per_row")
                },
                "rows_per_s_all": [run["rows_per_s"] for run in runs],
            }
        )
    return results


def report(results: list[dict[str, Any]], record: dict[str, Any]) -> str:
    today = {
        (r["batch"], r["connections"]): r["rows_per_s"]
        for r in results
        if r["way"].startswith("today")
    }
    single = {(r["way"], r["batch"]): r["rows_per_s"] for r in results if r["connections"] == 1}
    rows = []
    for r in sorted(results, key=lambda r: (r["connections"], r["batch"])):
        spread = r["rows_per_s_all"]
        scaling = (
            f"{r['rows_per_s'] / single[(r['way'], r['batch'])]:.2f}x"
            if r["connections"] > 1
            else ""
        )
        rows.append(
            [
                r["way"],
                f"{r['batch']:,}",
                str(r["connections"]),
                f"{r['rows_per_s']:,.0f}",
                f"{min(spread):,.0f}-{max(spread):,.0f}",
                f"{r['rows_per_s'] / today[(r['batch'], r['connections'])]:.2f}x",
                scaling,
                f"{r['client_us_per_row']:.1f}",
                f"{r['server_us_per_row']:.1f}",
            ]
        )
    return "\n".join(
        [
            "### Appending to PostgreSQL's events table in bulk (issue #13)",
            "",
            f"{record['rows']:,} rows shaped like the event log's (its columns, primary key "
            "and three indexes; payloads: today's codec text of the voice-agent mix, "
            f"{record['payload_bytes']:.0f} bytes on average), one transaction a batch, "
            "`synchronous_commit = off` (the log's default durability), an empty table "
            f"at the start of every run. Medians of {record['repeat']} rounds, the ways "
            "taking turns in each; the range is the slowest and fastest run. With 4 "
            "connections: 4 x a quarter of the rows at once (asyncio, one client process); "
            '"x 1 conn" compares with the same way on one connection. CPU per row: the '
            "client process (user + system) and the connections' server backends. "
            f"PostgreSQL {record['server_version']} on the same 2-core machine, asyncpg "
            f"{asyncpg.__version__}. Speed probe at the start: "
            f"{record['speed_probe_start_us']:.0f} us.",
            "",
            markdown(
                [
                    "way",
                    "batch",
                    "conns",
                    "rows/s",
                    "range",
                    "vs today",
                    "x 1 conn",
                    "client CPU us/row",
                    "server CPU us/row",
                ],
                rows,
            ),
        ]
    )


async def server_version(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--url", default=URL, help="PostgreSQL database to use (a schema of its own)"
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds (medians are reported)")
    args = parser.parse_args()
    probe = speed_probe_us()
    rows = make_rows(args.rows)
    results = asyncio.run(measure(args.url, rows, args.repeat))
    record: dict[str, Any] = {
        "rows": args.rows,
        "repeat": args.repeat,
        "payload_bytes": statistics.mean(len(row[COLUMNS.index("payload")]) for row in rows),
        "server_version": asyncio.run(server_version(args.url)).split()[0],
        "speed_probe_start_us": probe,
    }
    text = report(results, record)
    print(text)
    save("pg_bulk", {**record, "results": results}, text)


if __name__ == "__main__":
    main()
