"""Appending to a PostgreSQL event log (issue #13): through the bus, one runner and several.

The issue's measure: events/s through a recording runner's bus into PostgreSQL, one
runner, then several runners at once (the total); the goal is >= 100,000/s, and the
total should grow with the runners until the database's CPU is the limit. Three
measures, each run in fresh processes that start together:

- **log alone**: :mod:`benchmarks.append_log` ``--postgres``: encoded rows handed to
  the PostgreSQL writer in the recorder's batches, rows/s;
- **through the bus, one runner**: :mod:`benchmarks.append` ``--postgres``: events/s
  from the first send until every event is committed;
- **through the bus, N runners at once** (``--runners``, 4): N processes, each a
  runner recording a session of its own into the one log, the events split between
  them; the total is all events over the time from the first send to the last commit.

With each: CPU per event of the benchmark processes (their measured window: bus,
recorder, driver) and of the database (every PostgreSQL process on this machine, from
the start signal until the last process answered), and how many of the machine's
cores each kept busy: which side is the limit.

Everything happens in a schema of its own, ``pipebus_bench_eventlog_<pid>``, emptied
(``TRUNCATE``, ``CHECKPOINT``) before every run and dropped at the end; durability is
the log's default (``"batch"``: ``synchronous_commit = off``). Figures are medians of
``--repeat`` rounds. ``--compare-with TREE`` runs every measure also with the pipebus
of TREE (a worktree of another commit, holding this ``benchmarks/``), the two taking
turns in every round, and shows both. Prints a Markdown table and saves
``benchmarks/results/eventlog_postgres.{json,md}``.

    python -m benchmarks.eventlog_postgres [--url postgresql://postgres@127.0.0.1:5432/test]
        [--events 1000000] [--runners 4] [--repeat 3] [--compare-with TREE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from benchmarks.common import ROOT, markdown, postgres_cpu_s, save, speed_probe_us, verdict
from pipebus.eventlog.store import EventLog

URL = "postgresql://postgres@127.0.0.1:5432/test"
GOAL = 100_000
TABLES = ("events", "deliveries", "snapshots", "sessions")


def start_together(tree: Path, commands: list[list[str]]) -> dict[str, Any]:
    """Run benchmark modules in ``tree`` at once (each says ready, all are told to go).

    Returns their results and the database's CPU seconds and the wall time from the
    signal until the last one answered.
    """
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", *command, "--wait"],
            cwd=tree,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                _, errors = process.communicate()
                sys.exit(f"{' '.join(process.args)} failed in {tree}:\n{errors}")  # type: ignore[arg-type]
        database, wall = postgres_cpu_s(), time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        results = []
        for process in processes:
            out, errors = process.communicate()
            if process.returncode != 0:
                sys.exit(f"{' '.join(process.args)} failed in {tree}:\n{errors}")  # type: ignore[arg-type]
            results.append(json.loads(out))
        return {
            "results": results,
            "database_cpu_s": postgres_cpu_s() - database,
            "signal_to_last_s": time.perf_counter() - wall,
        }
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def summarize(run: dict[str, Any]) -> dict[str, float]:
    """Rate, CPU per event and busy cores of one run (of one or several processes)."""
    results = run["results"]
    events = sum(r["events"] for r in results)
    assert all(r["stored"] >= r["events"] for r in results), "events missing from the log"
    seconds = max(r["end_wall"] for r in results) - min(r["start_wall"] for r in results)
    client = sum(r["cpu_s"] for r in results)
    database = run["database_cpu_s"]
    return {
        "events": events,
        "events_per_s": events / seconds,
        "client_us": client / events * 1e6,
        "database_us": database / events * 1e6,
        "client_cores": client / seconds,
        "database_cores": database / run["signal_to_last_s"],
    }


class Schema:
    """The benchmark's own schema: made once, emptied before each run, dropped at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"pipebus_bench_eventlog_{os.getpid()}"
        self.location = f"{url}?schema={self.name}"

    async def create(self) -> None:
        log = await EventLog.open(self.location)  # the tables, as the log makes them
        await log.close()

    async def empty(self) -> None:
        connection = await asyncpg.connect(self.url)
        try:
            tables = ", ".join(f'"{self.name}".{table}' for table in TABLES)
            await connection.execute(f"TRUNCATE {tables}")
            await connection.execute("CHECKPOINT")  # each run starts with the WAL flushed
        finally:
            await connection.close()

    async def drop(self) -> None:
        connection = await asyncpg.connect(self.url)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
        finally:
            await connection.close()


def measures(location: str, events: int, runners: int) -> dict[str, list[list[str]]]:
    """The commands of each measure: one per process started together."""
    alone = ["benchmarks.append_log", "--postgres", location, "--events", str(events)]
    share = str(events // runners)
    return {
        "log alone: rows/s, first hand-over to last commit": [alone],
        "through the bus, one runner: events/s, first send to all committed": [
            ["benchmarks.append", "--postgres", location, "--events", str(events)]
        ],
        f"through the bus, {runners} runners at once, total: events/s, first send to last commit": [
            ["benchmarks.append", "--postgres", location, "--events", share] for _ in range(runners)
        ],
    }


def measure(
    schema: Schema, trees: dict[str, Path], events: int, runners: int, rounds: int
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Every measure in every tree, ``rounds`` times, the trees taking turns."""
    samples: dict[str, dict[str, list[dict[str, float]]]] = {}
    for round_ in range(1, rounds + 1):
        for name, commands in measures(schema.location, events, runners).items():
            for label, tree in trees.items():
                asyncio.run(schema.empty())
                print(f"round {round_}: {label}: {name} ...", file=sys.stderr, flush=True)
                result = summarize(start_together(tree, commands))
                samples.setdefault(name, {}).setdefault(label, []).append(result)
    return samples


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def report(samples: dict[str, dict[str, list[dict[str, float]]]], record: dict[str, Any]) -> str:
    labels = list(next(iter(samples.values())))
    rows = []
    for name, by_tree in samples.items():
        for label in labels:
            runs = by_tree[label]
            rate = median(runs, "events_per_s")
            rates = [run["events_per_s"] for run in runs]
            versus = ""
            if len(labels) > 1 and label == "this":
                versus = f"{rate / median(by_tree['other'], 'events_per_s'):.2f}x"
            rows.append(
                [
                    name if len(labels) == 1 else f"{name} ({label})",
                    f"{rate:,.0f}",
                    f"{min(rates):,.0f}-{max(rates):,.0f}",
                    *([versus] if len(labels) > 1 else []),
                    f"{median(runs, 'client_us'):.1f} / {median(runs, 'database_us'):.1f}",
                    f"{median(runs, 'client_cores'):.2f} / {median(runs, 'database_cores'):.2f}",
                    f">= {GOAL:,}",
                    verdict(rate, GOAL),
                ]
            )
    trees = ", ".join(f"{label}: {commit}" for label, commit in record["trees"].items())
    return "\n".join(
        [
            f"### Appending to PostgreSQL: {record['events']:,} events, default durability",
            "",
            f"PostgreSQL {record['server_version']} on the same {record['cpus']}-core machine; "
            f"medians of {record['repeat']} rounds (the range: slowest and fastest run)"
            + (", the two trees taking turns in each" if len(labels) > 1 else "")
            + f". {record['runners']} runners: {record['runners']} processes, each recording "
            "a session of its own into the one log, the events split between them. CPU: "
            "the benchmark processes' own in their measured window / every PostgreSQL "
            f"process from the start until the last answer. Trees: {trees}. Speed probe at "
            f"the start: {record['speed_probe_start_us']:.0f} us.",
            "",
            markdown(
                [
                    "measure",
                    "value",
                    "range",
                    *(["this / other"] if len(labels) > 1 else []),
                    "CPU us/event: client / database",
                    "cores busy: client / database",
                    "goal",
                    "verdict",
                ],
                rows,
            ),
        ]
    )


async def server_version(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return str(await connection.fetchval("SHOW server_version")).split()[0]
    finally:
        await connection.close()


def tree_commit(tree: Path) -> str:
    """The tree's commit, ``+dirty`` if its pipebus/ has changes."""

    def git(*words: str) -> str:
        return subprocess.run(["git", *words], cwd=tree, capture_output=True, text=True).stdout

    dirty = git("status", "--porcelain", "--", "pipebus").strip()
    return git("rev-parse", "--short", "HEAD").strip() + ("+dirty" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=URL, help="PostgreSQL database (a schema of its own)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runners", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians are reported)")
    parser.add_argument(
        "--compare-with", type=Path, metavar="TREE", help="also run TREE's pipebus, in turns"
    )
    args = parser.parse_args()
    trees = {"this": ROOT}
    if args.compare_with is not None:
        trees = {"other": args.compare_with.resolve(), "this": ROOT}
    probe = speed_probe_us()
    schema = Schema(args.url)
    asyncio.run(schema.create())
    try:
        samples = measure(schema, trees, args.events, args.runners, args.repeat)
    finally:
        asyncio.run(schema.drop())
    record: dict[str, Any] = {
        "events": args.events,
        "runners": args.runners,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "server_version": asyncio.run(server_version(args.url)),
        "trees": {label: tree_commit(tree) for label, tree in trees.items()},
        "speed_probe_start_us": probe,
    }
    text = report(samples, record)
    print(text)
    save("eventlog_postgres", {**record, "samples": samples}, text)


if __name__ == "__main__":
    main()
