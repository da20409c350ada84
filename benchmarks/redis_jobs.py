"""Echo jobs over Redis between two processes: Pipecat's RedisBus, pipebus's RedisBus and
RedisStreamBus, side by side in one run.

A requester runner in one process sends echo jobs to a worker runner in a second one,
both on the same bus over the local Redis: first one job at a time, then 50 in flight.
pipebus records as a user runs it (the event log on, into a fresh SQLite file per
process, default settings); Pipecat records nothing. For each side: jobs/s, the median
and p99 latency of a job, and the CPU each process spends per job (the requester with
its log writer, the worker with its log writer, the Redis server). The sides take turns
one repetition at a time, so drift of the shared machine lands on all of them; the
figures are medians over the repetitions. Goals (issue #15): RedisBus one at a time
>= 1.6x Pipecat's RedisBus, RedisStreamBus >= 1.2x; 50 in flight >= 4x for both.
Saves ``benchmarks/results/redis_jobs.{json,md}``.

    python -m benchmarks.redis_jobs --pipecat-python .venv-pipecat/bin/python [--repeat 5]
    python -m benchmarks.redis_jobs --base /tmp/redis_base   # also pipebus at another tree

Pipecat's side runs in its own venv; this file then runs there too, so it imports
nothing of pipebus at the top. ``--base PATH`` adds pipebus's two sides again with
``PYTHONPATH=PATH`` (a git worktree of an older commit): old against new, alternated.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
REDIS_URL = os.environ.get("PIPEBUS_BENCH_REDIS", "redis://127.0.0.1:6379/0")
NO_RECORD = "PIPEBUS_BENCH_NO_RECORD"
"""Set (by ``--no-record``) for the processes of a run without pipebus's event log."""
IN_FLIGHT = 50
WARM_UP = 200
SIDES = ("pipecat", "redis", "stream")
LABELS = {
    "pipecat": "Pipecat RedisBus",
    "redis": "pipebus RedisBus",
    "stream": "pipebus RedisStreamBus",
}
GOALS = {("redis", "serial"): 1.6, ("stream", "serial"): 1.2,
         ("redis", "inflight"): 4.0, ("stream", "inflight"): 4.0}  # fmt: skip
"""Side and phase: the least ratio to Pipecat's RedisBus that issue #15 asks for."""


def _runner(side: str, channel: str, name: str, directory: str) -> tuple[Any, Any, Any]:
    """A runner of ``side`` on ``channel``, the base worker class, and the Redis client."""
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    if side == "pipecat":
        from loguru import logger

        logger.remove()  # its DEBUG lines per message would be measured too
        logger.add(sys.stderr, level="WARNING")
        from pipecat.bus.network.redis import RedisBus
        from pipecat.workers.base_worker import BaseWorker
        from pipecat.workers.runner import WorkerRunner

        bus = RedisBus(redis=redis, channel=channel)
        return WorkerRunner(name=name, bus=bus, handle_sigint=False), BaseWorker, redis
    from pipebus import BaseWorker, RedisBus, WorkerRunner
    from pipebus.transports import RedisStreamBus

    kind = RedisStreamBus if side == "stream" else RedisBus
    runner = WorkerRunner(
        name=name,
        bus=kind(redis=redis, channel=channel),
        handle_sigint=False,
        event_log=None if os.environ.get(NO_RECORD) else Path(directory) / "events.db",
    )
    return runner, BaseWorker, redis


def _profiled(path: str | None) -> cProfile.Profile | None:
    if path is None:
        return None
    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


async def worker(side: str, channel: str, profile: str | None) -> None:
    """The echo worker's process: answers until its stdin closes."""
    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        runner, BaseWorker, redis = _runner(side, channel, "worker", directory)

        class Echo(BaseWorker):  # type: ignore[misc, valid-type]
            async def on_job_request(self, message: Any) -> None:
                await self.send_job_response(message.job_id, message.payload)

        await runner.add_workers(Echo("echo"))
        loop = asyncio.get_running_loop()
        task = loop.create_task(runner.run(auto_end=False))
        await asyncio.sleep(0.1)
        if side != "pipecat":
            await runner.wait_started()
        print("ready", flush=True)
        profiler = _profiled(profile)
        await loop.run_in_executor(None, sys.stdin.read)
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        await runner.end()
        await task
        await redis.aclose()


async def _cpu_now(redis: Any, worker_pid: int) -> dict[str, float]:
    """CPU seconds so far: this process and its children (the log's writer), the worker
    process and its children, and the Redis server (its ``INFO cpu``)."""
    from benchmarks.common import tree_cpu_s

    info = await redis.info("cpu")
    return {
        "requester": tree_cpu_s(),
        "worker": tree_cpu_s(worker_pid),
        "redis": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
    }


async def requester(
    side: str, channel: str, worker_pid: int, jobs: int, profile: str | None
) -> dict[str, Any]:
    """Both phases against the echo worker; returns the figures of each."""
    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        runner, BaseWorker, redis = _runner(side, channel, "requester", directory)
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
            if job.response != {"n": n}:
                raise RuntimeError(f"job {n} was answered {job.response!r}")
            return time.perf_counter() - began

        async def serial(count: int) -> list[float]:
            return [await one(n) for n in range(count)]

        slots = asyncio.Semaphore(IN_FLIGHT)

        async def limited(n: int) -> float:
            async with slots:
                return await one(n)

        async def parallel(count: int) -> list[float]:
            return list(await asyncio.gather(*(limited(n) for n in range(count))))

        await serial(WARM_UP)  # lazy imports, connections, the log's first commits
        figures: dict[str, Any] = {}
        for phase, run, count in (("serial", serial, jobs), ("inflight", parallel, 3 * jobs)):
            cpu = await _cpu_now(redis, worker_pid)
            profiler = _profiled(profile if phase == "serial" else None)
            began = time.perf_counter()
            latencies = await run(count)
            seconds = time.perf_counter() - began
            if profiler is not None and profile is not None:
                profiler.disable()
                profiler.dump_stats(profile)
            used = await _cpu_now(redis, worker_pid)
            figures[phase] = _summary(latencies, seconds)
            figures[phase]["cpu_us"] = {who: (used[who] - cpu[who]) / count * 1e6 for who in cpu}
        await runner.end()
        await task
        await redis.aclose()
    return figures


def _summary(latencies: list[float], seconds: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "jobs_per_s": len(ordered) / seconds,
        "median_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


def run_side(python: str, side: str, jobs: int, path: str | None = None,
             profile: str | None = None) -> dict[str, Any]:  # fmt: skip
    """One repetition of one side: the worker's process first, then the requester's."""
    channel = f"pipebus-bench:jobs:{secrets.token_hex(4)}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (path, str(ROOT)) if p)}
    base = [python, "-m", "benchmarks.redis_jobs", "--side", side, "--channel", channel]
    worker_profile = ["--profile", f"{profile}.worker"] if profile else []
    child = subprocess.Popen([*base, "--role", "worker", *worker_profile], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)  # fmt: skip
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"the {side} worker did not start (said {line!r})")
        command = [*base, "--role", "requester", "--worker-pid", str(child.pid)]
        command += ["--jobs", str(jobs)]
        command += ["--profile", f"{profile}.requester"] if profile else []
        asking = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900
        )
        if asking.returncode:
            raise RuntimeError(f"the {side} requester failed:\n{asking.stderr[-3000:]}")
        figures: dict[str, Any] = json.loads(asking.stdout.strip().splitlines()[-1])
        return figures
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _median(runs: list[dict[str, Any]], phase: str, key: str) -> float:
    return statistics.median(run[phase][key] for run in runs)


def _median_cpu(runs: list[dict[str, Any]], phase: str, who: str) -> float:
    return statistics.median(run[phase]["cpu_us"][who] for run in runs)


def table(results: dict[str, list[dict[str, Any]]], repeat: int, jobs: int) -> str:
    """The Markdown of the run: rates, ratios and goals, latencies, CPU per job."""
    from benchmarks.common import markdown, verdict

    sides = list(results)
    header = ["", "unit", *(LABELS.get(side, side) for side in sides)]
    rows: list[list[str]] = []
    for phase, label in (("serial", "one job at a time"), ("inflight", f"{IN_FLIGHT} in flight")):
        theirs = _median(results["pipecat"], phase, "jobs_per_s") if "pipecat" in results else None
        row = [label, "jobs/s"]
        for side in sides:
            ours = _median(results[side], phase, "jobs_per_s")
            cell = f"{ours:,.0f}"
            if theirs is not None and side != "pipecat":
                ratio = ours / theirs
                goal = GOALS.get((side.split("@")[0], phase))
                cell += f" ({ratio:.2f}x" + (f"; >= {goal:g}x: {verdict(ratio, goal)})"
                                            if goal else ")")  # fmt: skip
            row.append(cell)
        rows.append(row)
        for key, unit in (("median_ms", "median latency, ms"), ("p99_ms", "p99 latency, ms")):
            rows.append(
                ["", unit, *(f"{_median(results[side], phase, key):.2f}" for side in sides)]
            )
        for who in ("requester", "worker", "redis"):
            rows.append(
                ["", f"CPU per job, {who}, us",
                 *(f"{_median_cpu(results[side], phase, who):,.0f}" for side in sides)]
            )  # fmt: skip
    return (
        f"### Echo jobs over Redis between two processes: median of {repeat} runs\n\n"
        f"{jobs:,} jobs one at a time, then {3 * jobs:,} with {IN_FLIGHT} in flight, "
        "after a warm-up; pipebus records into SQLite in both processes (the event log "
        "on, default settings), Pipecat records nothing. CPU per job: the requester's "
        "process with its log writer, the worker's with its log writer, the Redis "
        "server.\n\n" + markdown(header, rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=["main", "worker", "requester"], default="main")
    parser.add_argument("--side", default="redis")
    parser.add_argument("--channel")
    parser.add_argument("--worker-pid", type=int)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pipecat-python", help="python of the Pipecat environment")
    parser.add_argument("--base", help="also run pipebus's sides with PYTHONPATH=BASE")
    parser.add_argument("--sides", nargs="*", choices=SIDES, help="only these sides")
    parser.add_argument("--profile", help="cProfile the serial phase into PROFILE.<role>")
    parser.add_argument("--no-record", action="store_true",
                        help="pipebus without its event log: what recording costs")  # fmt: skip
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if args.role == "worker":
        asyncio.run(worker(args.side, args.channel, args.profile))
        return
    if args.role == "requester":
        figures = asyncio.run(
            requester(args.side, args.channel, args.worker_pid, args.jobs, args.profile)
        )
        print(json.dumps(figures))
        return
    if args.no_record:
        os.environ[NO_RECORD] = "1"  # the processes of the run inherit it
    plan: list[tuple[str, str, str, str | None]] = []  # name, side, python, PYTHONPATH
    for side in args.sides or SIDES:
        if side == "pipecat":
            if args.pipecat_python:
                plan.append((side, side, args.pipecat_python, None))
            continue
        plan.append((side, side, sys.executable, None))
        if args.base:
            plan.append((f"{side}@base", side, sys.executable, args.base))
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in plan}
    for repetition in range(args.repeat):
        for name, side, python, path in plan:
            profile = f"{args.profile}.{name}" if args.profile and repetition == 0 else None
            figures = run_side(python, side, args.jobs, path, profile)
            results[name].append(figures)
            print(f"{name}: " + ", ".join(
                f"{phase} {figures[phase]['jobs_per_s']:,.0f}/s" for phase in figures
            ), flush=True)  # fmt: skip
    text = table(results, args.repeat, args.jobs)
    print()
    print(text)
    if not args.no_save and not args.base and not args.no_record:
        from benchmarks.common import save

        save("redis_jobs", {"repeat": args.repeat, "jobs": args.jobs, "runs": results}, text)


if __name__ == "__main__":
    main()
