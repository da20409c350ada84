"""Echo jobs over PGMQ between two processes: pipebus's PgmqBus against Pipecat's, side by side.

A requester runner in one process sends echo jobs to a worker runner in another, both
on a PgmqBus over one PGMQ (its SQL-only install, in a database made for the run and
dropped afterwards): first one job at a time, then 50 in flight. Prints jobs/s and the
median and p99 latency of a job for each side. Pipecat's side runs in its own venv
(``--pipecat-python``, with ``pipecat-ai[pgmq]``); this file then runs there too, so it
imports nothing of pipebus at the top.

    python -m benchmarks.pgmq_jobs [--pipecat-python .venv-pipecat/bin/python] [--jobs 300]
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

ADMIN_URL = os.environ.get("PIPEBUS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]


def _database_url(name: str) -> str:
    base, _, _ = ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://").rpartition("/")
    return f"{base}/{name}"


async def _client(url: str) -> Any:
    from urllib.parse import urlsplit

    from pgmq.async_queue import PGMQueue

    parts = urlsplit(url)
    fields = dict(host=parts.hostname, port=str(parts.port or 5432),
                  database=parts.path.lstrip("/"), username=parts.username or "postgres",
                  password=parts.password or "postgres", pool_size=8)  # fmt: skip
    try:
        client = PGMQueue(**fields, init_extension=False)
        await client.init()
    except TypeError:
        client = PGMQueue(**fields)
        await client.init(init_extension=False)
    return client


def _classes(side: str) -> tuple[Any, Any, Any]:
    if side == "pipecat":
        from loguru import logger

        logger.remove()  # its DEBUG lines per message would be measured too
        logger.add(sys.stderr, level="WARNING")
        from pipecat.bus.network.pgmq import PgmqBus
        from pipecat.workers.base_worker import BaseWorker
        from pipecat.workers.runner import WorkerRunner
    else:
        from pipebus import BaseWorker, PgmqBus, WorkerRunner
    return PgmqBus, BaseWorker, WorkerRunner


async def worker(side: str, url: str, channel: str) -> None:
    """The echo worker's process: answers until its stdin closes."""
    PgmqBus, BaseWorker, WorkerRunner = _classes(side)

    class Echo(BaseWorker):  # type: ignore[misc, valid-type]
        async def on_job_request(self, message: Any) -> None:
            await self.send_job_response(message.job_id, message.payload)

    client = await _client(url)
    options: dict[str, Any] = {} if side == "pipecat" else {"event_log": None}
    runner = WorkerRunner(name="worker", bus=PgmqBus(pgmq=client, channel=channel),
                          handle_sigint=False, **options)  # fmt: skip
    await runner.add_workers(Echo("echo"))
    loop = asyncio.get_running_loop()
    task = loop.create_task(runner.run(auto_end=False))
    await asyncio.sleep(0.2)
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.end()
    await task


async def requester(side: str, url: str, channel: str, jobs: int) -> dict[str, Any]:
    """Runs both phases against the echo worker; returns the figures."""
    PgmqBus, BaseWorker, WorkerRunner = _classes(side)
    client = await _client(url)
    options: dict[str, Any] = {} if side == "pipecat" else {"event_log": None}
    runner = WorkerRunner(name="requester", bus=PgmqBus(pgmq=client, channel=channel),
                          handle_sigint=False, **options)  # fmt: skip
    asker = BaseWorker("asker")
    await runner.add_workers(asker)
    task = asyncio.get_running_loop().create_task(runner.run(auto_end=False))
    deadline = time.monotonic() + 30
    while "echo" not in runner.registry:
        if time.monotonic() > deadline:
            raise TimeoutError("the echo worker never registered")
        await asyncio.sleep(0.01)

    async def one(n: int) -> float:
        began = time.perf_counter()
        async with asker.job("echo", payload={"n": n}, timeout=60) as job:
            pass
        assert job.response == {"n": n}
        return time.perf_counter() - began

    figures: dict[str, Any] = {}
    began = time.perf_counter()
    serial = [await one(n) for n in range(jobs)]
    figures["serial"] = _summary(serial, time.perf_counter() - began)
    semaphore = asyncio.Semaphore(50)

    async def limited(n: int) -> float:
        async with semaphore:
            return await one(n)

    began = time.perf_counter()
    parallel = await asyncio.gather(*(limited(n) for n in range(jobs * 3)))
    figures["inflight50"] = _summary(list(parallel), time.perf_counter() - began)
    await runner.end()
    await task
    return figures


def _summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "jobs_per_s": round(len(ordered) / seconds, 1),
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


def run_side(python: str, side: str, url: str, jobs: int) -> dict[str, Any]:
    """One side: the requester first (a late joiner misses Pipecat's ready broadcasts)."""
    channel = f"bench_{side}_{os.getpid()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    asking = subprocess.Popen([python, str(HERE), "--role", "requester", "--side", side, "--url",
                               url, "--channel", channel, "--jobs", str(jobs)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env)  # fmt: skip
    time.sleep(2.0)
    child = subprocess.Popen([python, str(HERE), "--role", "worker", "--side", side, "--url", url,
                              "--channel", channel], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        out, err = asking.communicate(timeout=900)
        if asking.returncode:
            raise RuntimeError(f"the {side} requester failed:\n{err[-3000:]}")
        figures: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return figures
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()


async def _make_database(name: str) -> str:
    import asyncpg

    from pipebus.transports.pgmq_sql import install

    admin = await asyncpg.connect(ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _database_url(name)
    connection = await asyncpg.connect(url)
    await install(connection)
    await connection.close()
    return url


async def _drop_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["main", "worker", "requester"], default="main")
    parser.add_argument("--side", choices=["pipebus", "pipecat"], default="pipebus")
    parser.add_argument("--url")
    parser.add_argument("--channel")
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--pipecat-python")
    parser.add_argument(
        "--pipecat-jobs",
        type=int,
        default=60,
        help="one-at-a-time jobs on Pipecat's side (it polls: ~0.1 s each)",
    )
    args = parser.parse_args()
    if args.role == "worker":
        asyncio.run(worker(args.side, args.url, args.channel))
        return
    if args.role == "requester":
        print(json.dumps(asyncio.run(requester(args.side, args.url, args.channel, args.jobs))))
        return
    from benchmarks.common import save, speed_probe_us  # the main role runs in pipebus's venv

    probe = speed_probe_us()
    name = f"pipebus_bench_pgmq_{os.getpid()}"
    url = asyncio.run(_make_database(name))
    try:
        results = {"pipebus": run_side(sys.executable, "pipebus", url, args.jobs)}
        if args.pipecat_python:
            results["pipecat"] = run_side(args.pipecat_python, "pipecat", url, args.pipecat_jobs)
    finally:
        asyncio.run(_drop_database(name))
    lines = [
        "### PgmqBus: echo jobs between two processes"
        + (", pipebus against Pipecat" if len(results) == 2 else ""),
        "",
        f"{args.jobs:,} one-at-a-time and {3 * args.jobs:,} in-flight jobs for pipebus"
        + (
            f", {args.pipecat_jobs:,} and {3 * args.pipecat_jobs:,} for Pipecat (its reader polls)"
            if len(results) == 2
            else ""
        )
        + f"; recording off on both sides; a database of its own. Speed probe: {probe:.0f} us.",
        "",
        "| | " + " | ".join(results) + " |" + (" ratio |" if len(results) == 2 else ""),
        "| --- |" + " ---: |" * (len(results) + (len(results) == 2)),
    ]
    for phase, label in (("serial", "one job at a time"), ("inflight50", "50 jobs in flight")):
        for key, unit in (("jobs_per_s", "jobs/s"), ("median_ms", "median ms"),
                          ("p99_ms", "p99 ms")):  # fmt: skip
            row = [results[side][phase][key] for side in results]
            ratio = ""
            if len(row) == 2 and key == "jobs_per_s":
                ratio = f" {row[0] / row[1]:.1f}x |"
            elif len(row) == 2:
                ratio = " |"
            lines.append(f"| {label}, {unit} | " + " | ".join(f"{v:,}" for v in row) + " |" + ratio)
    text = "\n".join(lines)
    print(text)
    save("pgmq", results, text)


if __name__ == "__main__":
    main()
