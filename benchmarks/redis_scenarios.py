"""The core scenarios over Redis: pipebus's RedisBus against Pipecat's, on the same Redis.

Run in a process of its own per library::

    python -m benchmarks.redis_scenarios --impl pipebus --record --mode local
    python -m benchmarks.redis_scenarios --impl pipebus --record --mode two
    python -m benchmarks.redis_scenarios --impl pipecat --mode two     # Pipecat's environment

Two placements of the same workers (the same worker code for both libraries):

- ``local``: one process, one runner on a Redis bus. Every message still crosses
  Redis for Pipecat; pipebus delivers local subscribers first and publishes for other
  runners (its own messages come back and are skipped).
- ``two``: the sender (or job requester) runs here; the receivers (or echo workers)
  run in a second process (``--serve``), started before the clock starts. Receivers
  report back with a ``Done`` message, so the time covers the real round trip.

Each run uses a fresh channel. ``--record`` makes each pipebus runner record into a
fresh SQLite file (default durability); the final ``runner.flush()`` is timed apart,
as in :mod:`benchmarks.scenarios`. It prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.common import ROOT, tree_cpu_s
from benchmarks.scenarios import Extras, load_api

REDIS_URL = os.environ.get("PIPEBUS_BENCH_REDIS", "redis://127.0.0.1:6379/0")

SCENARIOS: dict[str, tuple[str, tuple[int, ...]]] = {
    "fanout1": ("deliveries/s", (1, 20_000)),
    "fanout10": ("deliveries/s", (10, 4_000)),
    "targeted50": ("messages/s", (50, 10_000)),
    "jobs": ("jobs/s", (2_000,)),
    "groups10": ("groups/s", (10, 300)),
}
"""Scenario: unit and arguments (receivers and messages, jobs, width and groups)."""


def build(api: SimpleNamespace) -> SimpleNamespace:
    """Worker and message classes over ``api``: identical code for both libraries."""

    @dataclass
    class Ping(api.BusDataMessage):  # type: ignore[name-defined,misc]
        n: int = 0

    @dataclass
    class Done(api.BusDataMessage):  # type: ignore[name-defined,misc]
        count: int = 0

    class Counter(api.BaseWorker):  # type: ignore[name-defined,misc]
        def __init__(self, name: str, expected: int, report: bool) -> None:
            super().__init__(name)
            self.count = 0
            self.expected = expected
            self.report = report
            self.done = asyncio.Event()

        async def on_bus_message(self, message: Any) -> None:
            await super().on_bus_message(message)
            if isinstance(message, Ping):
                self.count += 1
                if self.count == self.expected:
                    self.done.set()
                    if self.report:
                        await self.send_bus_message(
                            Done(source=self.name, target="sender", count=self.count)
                        )

    class Sender(api.BaseWorker):  # type: ignore[name-defined,misc]
        def __init__(self, name: str, reports: int) -> None:
            super().__init__(name)
            self.reports = reports
            self.done = asyncio.Event()

        async def on_bus_message(self, message: Any) -> None:
            await super().on_bus_message(message)
            if isinstance(message, Done):
                self.reports -= 1
                if self.reports == 0:
                    self.done.set()

    class Echo(api.BaseWorker):  # type: ignore[name-defined,misc]
        async def on_job_request(self, message: Any) -> None:
            await self.send_job_response(message.job_id, {"echo": message.payload})

    class Driver(api.BaseWorker):  # type: ignore[name-defined,misc]
        pass

    # Pipecat's serializer finds a message class by module and name: make them findable.
    globals().update(Ping=Ping, Done=Done)
    return SimpleNamespace(
        Ping=Ping, Done=Done, Counter=Counter, Sender=Sender, Echo=Echo, Driver=Driver
    )


def make_bus(api: SimpleNamespace, channel: str) -> Any:
    """A RedisBus of either library on ``channel`` (a client of its own)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    if api.impl == "pipecat":
        from pipecat.bus.network.redis import RedisBus  # type: ignore[import-not-found]
    else:
        from pipebus import RedisBus  # type: ignore[assignment]
    bus = RedisBus(redis=redis, channel=channel)
    bus.bench_redis = redis
    return bus


def make_runner(api: SimpleNamespace, bus: Any, log_path: Path | None, name: str) -> Any:
    if api.impl == "pipecat":
        return api.WorkerRunner(name=name, bus=bus, handle_sigint=False)
    return api.WorkerRunner(name=name, bus=bus, handle_sigint=False, event_log=log_path)


def remote_workers(kinds: SimpleNamespace, scenario: str, report: bool) -> list[Any]:
    """The workers on the receiving side of ``scenario``."""
    args = SCENARIOS[scenario][1]
    if scenario.startswith("fanout"):
        receivers, messages = args
        return [kinds.Counter(f"r{i}", messages, report) for i in range(receivers)]
    if scenario == "targeted50":
        receivers, messages = args
        return [kinds.Counter(f"r{i}", messages // receivers, report) for i in range(receivers)]
    if scenario == "jobs":
        return [kinds.Echo("echo")]
    return [kinds.Echo(f"echo{i}") for i in range(args[0])]


async def _wait_for(runner: Any, names: list[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(name in runner.registry for name in names):
        if time.monotonic() > deadline:
            missing = [n for n in names if n not in runner.registry]
            raise TimeoutError(f"remote workers never registered: {missing}")
        await asyncio.sleep(0.01)


async def drive(api: SimpleNamespace, kinds: SimpleNamespace, scenario: str, channel: str) -> float:
    """Run one repetition on this side (all workers here in ``local`` mode)."""
    two = api.mode == "two"
    args = SCENARIOS[scenario][1]
    remote = remote_workers(kinds, scenario, report=two)
    names = [w.name for w in remote]
    if scenario in ("fanout1", "fanout10", "targeted50"):
        local: Any = kinds.Sender("sender", reports=len(remote))
    else:
        local = kinds.Driver("driver")
    workers = [local] if two else [local, *remote]
    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        bus = make_bus(api, channel)
        runner = make_runner(
            api, bus, Path(directory) / "events.db" if api.record else None, "runner-a"
        )
        await runner.add_workers(*workers)
        task = asyncio.create_task(runner.run(auto_end=False))
        await asyncio.sleep(0.05)
        if api.record:
            await runner.wait_started()
        await _wait_for(runner, names)
        body = _BODIES[scenario]
        try:
            cpu = await _cpu_now(bus.bench_redis, api.server_pid)
            start = time.perf_counter()
            rate = await body(kinds, local, remote, names, args, two)
            seconds = time.perf_counter() - start
            used = await _cpu_now(bus.bench_redis, api.server_pid) - cpu
            api.extras.cpu_us.append(used / (rate * seconds) * 1e6)
            if api.record:
                start = time.perf_counter()
                await runner.flush()
                api.extras.flush_s.append(time.perf_counter() - start)
                api.extras.events.append(runner.recorder.written)
                api.extras.most_buffered.append(runner.recorder.most_buffered)
            return rate
        finally:
            await runner.cancel()
            await task
            await bus.bench_redis.aclose()


async def _cpu_now(redis: Any, server_pid: int | None) -> float:
    """CPU seconds used so far by this process and its children (the log's writer), the
    serving process and its children, and the Redis server (its ``INFO cpu``)."""
    info = await redis.info("cpu")
    used = tree_cpu_s() + (tree_cpu_s(server_pid) if server_pid is not None else 0.0)
    return used + float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _fanout(
    kinds: Any, sender: Any, remote: list[Any], names: list[str], args: Any, two: bool
) -> float:
    receivers, messages = args
    start = time.perf_counter()
    for i in range(messages):
        await sender.send_bus_message(kinds.Ping(source="sender", n=i))
    await _finished(sender, remote, two)
    return receivers * messages / (time.perf_counter() - start)


async def _targeted(
    kinds: Any, sender: Any, remote: list[Any], names: list[str], args: Any, two: bool
) -> float:
    receivers, messages = args
    each = messages // receivers
    start = time.perf_counter()
    for i in range(each * receivers):
        await sender.send_bus_message(kinds.Ping(source="sender", target=names[i % receivers], n=i))
    await _finished(sender, remote, two)
    return each * receivers / (time.perf_counter() - start)


async def _finished(sender: Any, remote: list[Any], two: bool) -> None:
    if two:
        await sender.done.wait()
    else:
        for counter in remote:
            await counter.done.wait()


async def _jobs(
    kinds: Any, driver: Any, remote: list[Any], names: list[str], args: Any, two: bool
) -> float:
    (count,) = args
    start = time.perf_counter()
    for i in range(count):
        async with driver.job("echo", payload={"i": i}):
            pass
    return count / (time.perf_counter() - start)


async def _groups(
    kinds: Any, driver: Any, remote: list[Any], names: list[str], args: Any, two: bool
) -> float:
    _, count = args
    start = time.perf_counter()
    for i in range(count):
        async with driver.job_group(*names, payload={"i": i}):
            pass
    return count / (time.perf_counter() - start)


_BODIES: dict[str, Callable[..., Awaitable[float]]] = {
    "fanout1": _fanout,
    "fanout10": _fanout,
    "targeted50": _targeted,
    "jobs": _jobs,
    "groups10": _groups,
}


# --- the second process -----------------------------------------------------------------


async def serve(api: SimpleNamespace, kinds: SimpleNamespace, scenario: str, channel: str) -> None:
    """Host the receiving workers of ``scenario`` until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        bus = make_bus(api, channel)
        runner = make_runner(
            api, bus, Path(directory) / "events.db" if api.record else None, "runner-b"
        )
        await runner.add_workers(*remote_workers(kinds, scenario, report=True))
        task = asyncio.create_task(runner.run(auto_end=False))
        await asyncio.sleep(0.1)
        if api.impl == "pipebus":
            await runner.wait_started()
        print("ready", flush=True)
        await stop.wait()
        await runner.cancel()
        await task
        await bus.bench_redis.aclose()


def start_server(impl: str, scenario: str, channel: str, record: bool) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "benchmarks.redis_scenarios", "--impl", impl]
    command += ["--serve", scenario, "--channel", channel]
    if record:
        command.append("--record")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != b"ready":
        process.kill()
        process.wait()
        sys.exit(f"the serving process did not start (said {line!r})")
    return process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def run_all(
    impl: str, mode: str, repeat: int, only: list[str] | None, record: bool
) -> dict[str, Any]:
    """Each scenario ``repeat`` times, each in a fresh channel and event loop."""
    api = load_api(impl)
    api.record = record and impl == "pipebus"
    api.mode = mode
    kinds = build(api)
    results: dict[str, Any] = {}
    for name, (unit, _) in SCENARIOS.items():
        if only and name not in only:
            continue
        api.extras = Extras()
        rates: list[float] = []
        for _ in range(repeat):
            channel = f"pipebus-bench:{name}:{secrets.token_hex(4)}"
            server = start_server(impl, name, channel, api.record) if mode == "two" else None
            api.server_pid = server.pid if server is not None else None
            try:
                gc.collect()
                rates.append(asyncio.run(drive(api, kinds, name, channel)))
            finally:
                if server is not None:
                    stop_server(server)
        results[name] = {"unit": unit, "rates": rates, "cpu_us": api.extras.cpu_us}
        if api.record:
            results[name].update(vars(api.extras))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impl", choices=["pipebus", "pipecat"], required=True)
    parser.add_argument("--mode", choices=["local", "two"], default="local")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--record", action="store_true", help="pipebus: record into SQLite")
    parser.add_argument("--serve", choices=sorted(SCENARIOS), help=argparse.SUPPRESS)
    parser.add_argument("--channel", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        api = load_api(args.impl)
        api.record = args.record and args.impl == "pipebus"
        asyncio.run(serve(api, build(api), args.serve, args.channel))
        return
    logging.disable(logging.WARNING)
    results = run_all(args.impl, args.mode, args.repeat, args.only, args.record)
    record = {"impl": args.impl, "mode": args.mode, "record": args.record}
    json.dump({**record, "python": sys.version.split()[0], "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
