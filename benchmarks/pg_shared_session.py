"""N runners sharing one PostgreSQL session (issue #14): the total rate, and nothing lost.

The README's way of sharing a session: every runner is a process of its own given the
same ``session_id=`` and the same PostgreSQL URL, nothing made beforehand. Here each
of N processes opens the log and joins the session (the first creates it), says
``ready``; when all are, they are told to go at once and each sends its share of
``--events`` small data messages (:func:`benchmarks.append.sample`) through its
runner's bus (an in-process bus each: what is measured is the shared session's
append path, not a transport), then waits until its recorder has committed
everything. With one runner the session is its own (it appends alone, at its bus's
positions); with several, every batch locks the session row, drops messages already
stored and numbers the rest after the session's last position.

Measured, per run: the total rate (all events over the time from the first send of
any runner to the last commit of any), each runner's own rate, what the runners'
recorders counted as lost, what the session counts as lost, and whether the session
ends holding every message once at gapless positions 1..N (a run that does not is an
error). CPU per event: the runner processes' own in their measured window / every
PostgreSQL process from the signal until the last runner answered. Everything happens
in a schema of its own, ``pipebus_bench_eventlog_<pid>``, emptied before every run and
dropped at the end; durability is the default (``"batch"``). Figures are medians of
``--repeat`` rounds, the runner counts taking turns in each. Saves
``benchmarks/results/pg_shared_session.{json,md}``.

    python -m benchmarks.pg_shared_session [--url postgresql://postgres@127.0.0.1:5432/test]
        [--events 300000] [--runners 1 3 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import statistics
import sys
import time
from collections import Counter
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from benchmarks.append import sample
from benchmarks.common import ROOT, markdown, ready_then_wait, save, speed_probe_us
from benchmarks.eventlog_postgres import URL, Schema, server_version, start_together
from pipebus import WorkerRunner
from pipebus.eventlog.store import EventLog


class _Errors(logging.Handler):
    """Counts the records logged at ERROR or above (a runner must log none)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def child(location: str, session: str, events: int) -> dict[str, Any]:
    """One runner: join the session, say ready, send ``events`` when told, flush."""
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    runner = WorkerRunner(handle_sigint=False, event_log=location, session_id=session)
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    recorder = runner.recorder
    assert recorder is not None, "the runner does not record"
    await runner.flush()
    already = recorder.written
    await ready_then_wait()
    bus = runner.bus
    start, start_wall, cpu = time.perf_counter(), time.time(), time.process_time()
    for i in range(events):
        await bus.send(sample(i))
    await runner.flush()
    end, end_wall, cpu = time.perf_counter(), time.time(), time.process_time() - cpu
    written = recorder.written - already
    await runner.end(reason="sent its share")
    await task
    return {
        "events": events,
        "events_per_s": events / (end - start),
        "start_wall": start_wall,
        "end_wall": end_wall,
        "cpu_s": cpu,
        "written": written,
        "lost": recorder.lost,
        "errors_logged": errors.count,
    }


async def check_session(location: str, session: str) -> dict[str, Any]:
    """What the session holds: events, gapless, each message once, lost by its count."""
    async with await EventLog.open(location) as log:
        info = await log.session(session)
        rows = await log.event_rows(session, columns=("seq", "message_id", "type"))
    positions = [row[0] for row in rows]
    samples = Counter(row[1] for row in rows if row[2] == "Sample")
    return {
        "stored": len(rows),
        "samples_stored": sum(samples.values()),
        "each_once": not samples or max(samples.values()) == 1,
        "gapless": positions == list(range(1, len(rows) + 1)) and info.events == len(rows),
        "session_lost": info.lost_events,
    }


def one_run(schema: Schema, runners: int, events: int) -> dict[str, Any]:
    """``runners`` processes share one new session; the run's figures, checked."""
    asyncio.run(schema.empty())
    session = secrets.token_hex(16)
    share = events // runners
    command = ["benchmarks.pg_shared_session", "--child", schema.location, session, str(share)]
    run = start_together(ROOT, [command for _ in range(runners)])  # each is told to --wait
    results = run["results"]
    held = asyncio.run(check_session(schema.location, session))
    total = share * runners
    if not (held["gapless"] and held["each_once"] and held["samples_stored"] == total):
        sys.exit(f"{runners} runners: the session is not whole: {held}, {total} sent")
    seconds = max(r["end_wall"] for r in results) - min(r["start_wall"] for r in results)
    return {
        "events": total,
        "events_per_s": total / seconds,
        "per_runner_per_s": statistics.median(r["events_per_s"] for r in results),
        "lost_by_runners": sum(r["lost"] for r in results),
        "errors_logged": sum(r["errors_logged"] for r in results),
        "client_us": sum(r["cpu_s"] for r in results) / total * 1e6,
        "database_us": run["database_cpu_s"] / total * 1e6,
        **held,
    }


def report(samples: dict[int, list[dict[str, Any]]], record: dict[str, Any]) -> str:
    base = statistics.median(run["events_per_s"] for run in samples[min(samples)])
    rows = []
    for runners, runs in samples.items():
        rate = statistics.median(run["events_per_s"] for run in runs)
        rates = [run["events_per_s"] for run in runs]
        lost = sum(run["lost_by_runners"] for run in runs)
        session_lost = sum(run["session_lost"] for run in runs)
        rows.append(
            [
                f"N runners sharing one PostgreSQL session, N = {runners}",
                f"{rate:,.0f}",
                f"{min(rates):,.0f}-{max(rates):,.0f}",
                f"{rate / base:.2f}x",
                f"{statistics.median(run['per_runner_per_s'] for run in runs):,.0f}",
                f"{lost} / {session_lost}",
                f"{sum(run['errors_logged'] for run in runs)}",
                "yes" if all(run["gapless"] and run["each_once"] for run in runs) else "NO",
                f"{statistics.median(run['client_us'] for run in runs):.1f} / "
                f"{statistics.median(run['database_us'] for run in runs):.1f}",
            ]
        )
    return "\n".join(
        [
            "### N runners sharing one PostgreSQL session (issue #14)",
            "",
            f"{record['events']:,} events per run, split between the runners: each a process "
            "of its own, given the same `session_id=` and URL, joining the session before "
            "the start signal (the first creates it) and sending its share through its own "
            "in-process bus; the rate runs from the first send of any to the last commit of "
            f"any. Default durability. Medians of {record['repeat']} rounds (the range: "
            "slowest and fastest run), the runner counts taking turns. Lost: summed over "
            "every run, as the runners' recorders counted it / as the session records it. "
            "Whole: every run's session held each message once at gapless positions. CPU: "
            "the runner processes' own in their measured window / every PostgreSQL "
            f"process. PostgreSQL {record['server_version']}, {record['cpus']} cores. Speed "
            f"probe at the start: {record['speed_probe_start_us']:.0f} us.",
            "",
            markdown(
                [
                    "measure",
                    "events/s, total",
                    "range",
                    "vs 1 runner",
                    "events/s, each runner",
                    "lost: runners / session",
                    "errors logged",
                    "whole",
                    "CPU us/event: runners / database",
                ],
                rows,
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=URL, help="PostgreSQL database (a schema of its own)")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 3, 4])
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians are reported)")
    parser.add_argument(
        "--child", nargs=3, metavar=("LOCATION", "SESSION", "EVENTS"), help=argparse.SUPPRESS
    )
    parser.add_argument("--wait", action="store_true", help=argparse.SUPPRESS)  # a child does
    args = parser.parse_args()
    if args.child is not None:
        location, session, events = args.child
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        print(json.dumps(asyncio.run(child(location, session, int(events)))), flush=True)
        return
    probe = speed_probe_us()
    schema = Schema(args.url)
    asyncio.run(schema.create())
    samples: dict[int, list[dict[str, Any]]] = {n: [] for n in args.runners}
    try:
        for round_ in range(1, args.repeat + 1):
            for runners in args.runners:
                print(f"round {round_}: {runners} runners ...", file=sys.stderr, flush=True)
                samples[runners].append(one_run(schema, runners, args.events))
    finally:
        asyncio.run(schema.drop())
    record: dict[str, Any] = {
        "events": args.events,
        "runners": args.runners,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "server_version": asyncio.run(server_version(args.url)),
        "asyncpg": asyncpg.__version__,
        "speed_probe_start_us": probe,
    }
    text = report(samples, record)
    print(text)
    save("pg_shared_session", {**record, "samples": samples}, text)


if __name__ == "__main__":
    main()
