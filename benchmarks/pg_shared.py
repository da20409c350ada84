"""Shared-mode appends to PostgreSQL for issue #13: COPY can skip no duplicate, so how?

In shared mode several runners record one session: each batch locks the session row,
drops the messages another runner recorded already (same message id), numbers the rest
after the session's last position and appends them. ``COPY`` cannot skip a conflict,
so the duplicates must go first. The ways, each one transaction a batch:

- **today**: SQLAlchemy Core, as the log's writer did before COPY: the lock, a
  ``SELECT ... message_id IN (...)`` (one bind parameter an id), the numbering in
  Python, ``insert(events)`` executemany;
- **filter, then COPY** (the writer's way now): the lock, one
  ``message_id = ANY($2::varchar[])`` query, the numbering in Python, binary ``COPY``
  of the new rows. Twice: as a plain prepared statement, which PostgreSQL runs with a
  generic plan after five runs (it tests every row of the session against the whole
  array), and planned for each batch's ids (``SET LOCAL plan_cache_mode =
  force_custom_plan``, as the writer does);
- **COPY to a temp table, INSERT ... SELECT**: binary ``COPY`` of the whole batch into
  a temporary table (``ON COMMIT DELETE ROWS``), then one ``INSERT ... SELECT`` that
  drops known and repeated ids, numbers the rest with ``row_number()`` and ends in
  ``ON CONFLICT DO NOTHING``.

The rows are :mod:`benchmarks.pg_bulk`'s (the voice-agent mix), in one session. Two connections
append at once to one session, as two runners would: both record the first half of the
messages (each saw them), each one half of the rest, so a third of what is handed over
is a duplicate. The rate is the rows stored over the wall time; the table must end
with every message once at gapless positions. CPU per stored row as in pg_bulk.
Everything happens in a schema of its own, dropped at the end; the ways take turns in
every round, the figures are medians. Saves ``benchmarks/results/pg_shared.{json,md}``.

    python -m benchmarks.pg_shared [--url postgresql://postgres@127.0.0.1:5432/test]
                                   [--rows 100000] [--batch 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from benchmarks.common import markdown, save, speed_probe_us
from benchmarks.pg_bulk import COLUMNS, URL, Row, _cpu_s, make_rows, server_version
from pipebus.eventlog.schema import events, sessions

SESSION = "shared-bench-session"
WRITERS = 2
_MESSAGE_ID = COLUMNS.index("message_id")
_LOCK = "SELECT last_seq FROM sessions WHERE id = $1 FOR UPDATE"
_SET_LAST = "UPDATE sessions SET last_seq = $2 WHERE id = $1"
_KNOWN = "SELECT message_id FROM events WHERE session_id = $1 AND message_id = ANY($2::varchar[])"
_STAGE = "CREATE TEMP TABLE incoming (LIKE events) ON COMMIT DELETE ROWS"
_FROM_STAGE = f"""
INSERT INTO events ({", ".join(COLUMNS)})
SELECT {", ".join("$1 + row_number() OVER (ORDER BY seq)" if c == "seq" else c for c in COLUMNS)}
FROM (SELECT DISTINCT ON (message_id) * FROM incoming ORDER BY message_id, seq) AS fresh
WHERE NOT EXISTS (
    SELECT 1 FROM events AS e
    WHERE e.session_id = fresh.session_id AND e.message_id = fresh.message_id
)
ON CONFLICT (session_id, message_id) DO NOTHING
"""

Append = Callable[[Any, list[Row]], Awaitable[None]]


def _numbered(batch: list[Row], known: set[str], last: int) -> tuple[int, list[Row]]:
    """The batch's new rows, numbered after ``last`` (as the writer numbers them)."""
    rows = []
    for row in batch:
        if row[_MESSAGE_ID] in known:
            continue
        known.add(row[_MESSAGE_ID])
        last += 1
        rows.append((row[0], last, *row[2:]))
    return last, rows


async def today(connection: AsyncConnection, batch: list[Row]) -> None:
    async with connection.begin():
        locked = select(sessions.c.last_seq).where(sessions.c.id == SESSION).with_for_update()
        last = int(await connection.scalar(locked) or 0)
        ids = [row[_MESSAGE_ID] for row in batch]
        found = await connection.execute(
            select(events.c.message_id).where(
                events.c.session_id == SESSION, events.c.message_id.in_(ids)
            )
        )
        last, rows = _numbered(batch, set(found.scalars()), last)
        if rows:
            await connection.execute(
                insert(events), [dict(zip(COLUMNS, row, strict=True)) for row in rows]
            )
        await connection.execute(
            update(sessions).where(sessions.c.id == SESSION).values(last_seq=last)
        )


async def filtered_copy(connection: asyncpg.Connection, batch: list[Row]) -> None:
    async with connection.transaction():
        await connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        await _filter_then_copy(connection, batch)


async def filtered_copy_generic(connection: asyncpg.Connection, batch: list[Row]) -> None:
    async with connection.transaction():
        await _filter_then_copy(connection, batch)


async def _filter_then_copy(connection: asyncpg.Connection, batch: list[Row]) -> None:
    last = await connection.fetchval(_LOCK, SESSION)
    found = await connection.fetch(_KNOWN, SESSION, [row[_MESSAGE_ID] for row in batch])
    last, rows = _numbered(batch, {r[0] for r in found}, last)
    if rows:
        await connection.copy_records_to_table("events", records=rows, columns=COLUMNS)
    await connection.execute(_SET_LAST, SESSION, last)


async def staged_copy(connection: asyncpg.Connection, batch: list[Row]) -> None:
    async with connection.transaction():
        last = await connection.fetchval(_LOCK, SESSION)
        staged = [(row[0], order, *row[2:]) for order, row in enumerate(batch)]
        await connection.copy_records_to_table("incoming", records=staged, columns=COLUMNS)
        status = await connection.execute(_FROM_STAGE, last)
        await connection.execute(_SET_LAST, SESSION, last + int(status.split()[-1]))


def shares(rows: list[Row]) -> list[list[Row]]:
    """What each of two runners records: both the first half, each half of the rest."""
    half = len(rows) // 2
    rest = rows[half:]
    return [rows[:half] + rest[0::2], rows[:half] + rest[1::2]]


class Bench:
    """A schema with the events and sessions tables, and connections of both kinds."""

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema
        self.settings = {"search_path": schema, "synchronous_commit": "off"}
        self.engine = create_async_engine(
            url.replace("postgresql://", "postgresql+asyncpg://", 1),
            pool_size=WRITERS,
            connect_args={"server_settings": self.settings},
        )
        self.raw: list[asyncpg.Connection] = []
        self.orm: list[AsyncConnection] = []
        self.pids: dict[bool, list[int]] = {}

    async def open(self) -> None:
        admin = await asyncpg.connect(self.url)
        try:
            await admin.execute(f'CREATE SCHEMA "{self.schema}"')
        finally:
            await admin.close()
        self.raw = [
            await asyncpg.connect(self.url, server_settings=self.settings) for _ in range(WRITERS)
        ]
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        for table in (events, sessions):
            await self.raw[0].execute(str(CreateTable(table).compile(dialect=dialect)))
        for index in events.indexes:
            await self.raw[0].execute(str(CreateIndex(index).compile(dialect=dialect)))
        await self.raw[0].execute(
            "INSERT INTO sessions (id, runner, pid, host, version, started_ns, heartbeat_ns, "
            "status, last_seq, errors, lost_events, snapshot_every, durability) VALUES "
            "($1, 'bench', 0, 'bench', '0', 0, 0, 'running', 0, 0, 0, 1000, 'batch')",
            SESSION,
        )
        for connection in self.raw:
            await connection.execute(_STAGE)
        self.orm = [await self.engine.connect() for _ in range(WRITERS)]
        orm_pids = []
        for connection in self.orm:
            result = await connection.exec_driver_sql("SELECT pg_backend_pid()")
            orm_pids.append(int(result.scalar_one()))
            await connection.commit()
        raw_pids = [int(await c.fetchval("SELECT pg_backend_pid()")) for c in self.raw]
        self.pids = {True: orm_pids, False: raw_pids}

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

    async def run(self, append: Append, orm: bool, rows: list[Row], batch: int) -> dict[str, float]:
        """Two writers record their shares of ``rows`` at once into the one session."""
        await self.raw[0].execute("TRUNCATE events")
        await self.raw[0].execute(_SET_LAST, SESSION, 0)
        await self.raw[0].execute("CHECKPOINT")
        connections: list[Any] = list(self.orm if orm else self.raw)
        pids = self.pids[orm]

        async def one(connection: Any, part: list[Row]) -> None:
            for start in range(0, len(part), batch):
                await append(connection, part[start : start + batch])

        client, server = _cpu_s(), sum(_cpu_s(pid) for pid in pids)
        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:  # one failing cancels the other
            for connection, part in zip(connections, shares(rows), strict=True):
                group.create_task(one(connection, part))
        wall = time.perf_counter() - start
        client = _cpu_s() - client
        server = sum(_cpu_s(pid) for pid in pids) - server
        count, top, ids = await self.raw[0].fetchrow(
            "SELECT count(*), max(seq), count(DISTINCT message_id) FROM events"
        )
        assert count == top == ids == len(rows), f"{count} rows, last {top}, {ids} ids"
        return {
            "rows_per_s": len(rows) / wall,
            "client_us_per_row": client / len(rows) * 1e6,
            "server_us_per_row": server / len(rows) * 1e6,
        }


WAYS: dict[str, tuple[Append, bool]] = {
    "today: SQLAlchemy, IN (...) then insert executemany": (today, True),
    "filter with = ANY($2), then COPY; the statement's generic plan": (
        filtered_copy_generic,
        False,
    ),
    "filter with = ANY($2), then COPY; planned for each batch (the writer's way)": (
        filtered_copy,
        False,
    ),
    "COPY to a temp table, INSERT ... SELECT ... ON CONFLICT DO NOTHING": (staged_copy, False),
}


async def measure(url: str, rows: list[Row], batch: int, rounds: int) -> list[dict[str, Any]]:
    bench = Bench(url, f"pipebus_bench_pg_shared_{os.getpid()}")
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in WAYS}
    try:
        await bench.open()
        for _ in range(rounds):
            for name, (append, orm) in WAYS.items():
                samples[name].append(await bench.run(append, orm, rows, batch))
    finally:
        await bench.close()
    return [
        {
            "way": name,
            "runs": len(runs),
            **{
                key: statistics.median(run[key] for run in runs)
                for key in ("rows_per_s", "client_us_per_row", "server_us_per_row")
            },
            "rows_per_s_all": [run["rows_per_s"] for run in runs],
        }
        for name, runs in samples.items()
    ]


def report(results: list[dict[str, Any]], record: dict[str, Any]) -> str:
    base = results[0]["rows_per_s"]
    rows = [
        [
            r["way"],
            f"{r['rows_per_s']:,.0f}",
            f"{min(r['rows_per_s_all']):,.0f}-{max(r['rows_per_s_all']):,.0f}",
            f"{r['rows_per_s'] / base:.2f}x",
            f"{r['client_us_per_row']:.1f}",
            f"{r['server_us_per_row']:.1f}",
        ]
        for r in results
    ]
    return "\n".join(
        [
            "### Shared mode: two writers appending to one PostgreSQL session (issue #13)",
            "",
            f"{record['rows']:,} messages of the voice-agent mix recorded by two connections "
            "at once into one session, both recording the first half and each half of the "
            f"rest ({record['handed']:,} rows handed over, a third of them duplicates); "
            f"batches of {record['batch']:,}, one transaction each under the session's row "
            "lock, `synchronous_commit = off`, an empty table at the start of every run. "
            "Rates: rows stored over the wall time; every run ends with each message once "
            f"at gapless positions. Medians of {record['repeat']} rounds, the ways taking "
            "turns; the range is the slowest and fastest run. CPU per stored row: the client "
            "process and the two server backends. PostgreSQL "
            f"{record['server_version']}, asyncpg {asyncpg.__version__}, the same 2-core "
            f"machine. Speed probe at the start: {record['speed_probe_start_us']:.0f} us.",
            "",
            markdown(
                ["way", "rows/s", "range", "vs today", "client CPU us/row", "server CPU us/row"],
                rows,
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--url", default=URL, help="PostgreSQL database to use (a schema of its own)"
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds (medians are reported)")
    args = parser.parse_args()
    probe = speed_probe_us()
    rows = [(SESSION, *row[1:]) for row in make_rows(args.rows)]
    results = asyncio.run(measure(args.url, rows, args.batch, args.repeat))
    record: dict[str, Any] = {
        "rows": args.rows,
        "handed": sum(len(part) for part in shares(rows)),
        "batch": args.batch,
        "repeat": args.repeat,
        "server_version": asyncio.run(server_version(args.url)).split()[0],
        "speed_probe_start_us": probe,
    }
    text = report(results, record)
    print(text)
    save("pg_shared", {**record, "results": results}, text)


if __name__ == "__main__":
    main()
