"""The core benchmark scenarios, written once against the API pipebus shares with Pipecat.

Run in a process of its own per library (and per pipebus configuration)::

    python -m benchmarks.scenarios --impl pipebus            # in .venv, recording off
    python -m benchmarks.scenarios --impl pipebus --record   # recording into SQLite
    python -m benchmarks.scenarios --impl pipecat            # in the Pipecat environment
    python -m benchmarks.scenarios --impl pipebus --tracing on|stripped   # see benchmarks.tracing

It prints one JSON object: for each scenario, the rates of each repetition.
Only the imports and the runner's construction differ between the two libraries; the
worker code is the same. pipebus records by default, so the plain pipebus run passes
``event_log=None``; ``--record`` gives each run a fresh SQLite file in a temporary
directory (default durability). A recorded run's rate is measured until the last
message is handled, like the others; the final ``runner.flush()`` (until every event
is committed) is timed separately and reported as ``flush_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def load_api(impl: str) -> SimpleNamespace:
    """The classes a scenario needs, from pipebus or from Pipecat."""
    if impl == "pipecat":
        from loguru import logger  # type: ignore[import-not-found]

        logger.remove()  # no log output; Pipecat still formats its trace messages
        from pipecat.bus import BusDataMessage  # type: ignore[import-not-found]
        from pipecat.workers.base_worker import BaseWorker  # type: ignore[import-not-found]
        from pipecat.workers.runner import WorkerRunner  # type: ignore[import-not-found]
    else:
        logging.disable(logging.WARNING)
        from pipebus import BaseWorker, BusDataMessage, WorkerRunner
    return SimpleNamespace(
        impl=impl, BaseWorker=BaseWorker, BusDataMessage=BusDataMessage, WorkerRunner=WorkerRunner
    )


def build(api: SimpleNamespace) -> SimpleNamespace:
    """Worker classes over ``api``: identical code for both libraries."""

    @dataclass
    class Ping(api.BusDataMessage):  # type: ignore[name-defined,misc]
        n: int = 0

    class Counter(api.BaseWorker):  # type: ignore[name-defined,misc]
        def __init__(self, name: str, expected: int) -> None:
            super().__init__(name)
            self.count = 0
            self.expected = expected
            self.done = asyncio.Event()

        async def on_bus_message(self, message: Any) -> None:
            await super().on_bus_message(message)
            if isinstance(message, Ping):
                self.count += 1
                if self.count == self.expected:
                    self.done.set()

    class Echo(api.BaseWorker):  # type: ignore[name-defined,misc]
        async def on_job_request(self, message: Any) -> None:
            await self.send_job_response(message.job_id, {"echo": message.payload})

    class Driver(api.BaseWorker):  # type: ignore[name-defined,misc]
        pass

    return SimpleNamespace(Ping=Ping, Counter=Counter, Echo=Echo, Driver=Driver)


@dataclass
class Extras:
    """What a recorded run measures besides its rate (one entry per repetition)."""

    flush_s: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    most_buffered: list[int] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    """Over Redis: CPU of every process taking part (Redis too), per unit of the rate."""


def make_runner(api: SimpleNamespace, log_path: Path | None) -> Any:
    """The runner of one run: Pipecat's as it comes; pipebus's recording into ``log_path``.

    ``log_path=None`` turns pipebus's recording off (it records by default).
    """
    if api.impl == "pipecat":
        return api.WorkerRunner(handle_sigint=False)
    return api.WorkerRunner(handle_sigint=False, event_log=log_path)


def runner_tracer(runner: Any) -> Any:
    """The live tracer of a pipebus runner (None: not traced, or Pipecat)."""
    return getattr(runner, "tracer", None)


async def _timed(api: SimpleNamespace, body: Callable[[], Awaitable[float]]) -> float:
    """Run ``body``, keeping when it started and how long it took (in ``api``)."""
    api.started = time.perf_counter()
    rate = await body()
    api.elapsed = time.perf_counter() - api.started
    return rate


async def _with_runner(
    api: SimpleNamespace, workers: list[Any], body: Callable[[], Awaitable[float]]
) -> float:
    record: bool = api.record
    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        runner = make_runner(api, Path(directory) / "events.db" if record else None)
        await runner.add_workers(*workers)
        task = asyncio.create_task(runner.run(auto_end=False))
        await asyncio.sleep(0.05)  # let every worker start and register (both libraries)
        if record:
            await runner.wait_started()  # opening the log may take longer than that
        try:
            rate = await _timed(api, body)
            if runner_tracer(runner) is not None:  # the rate includes building every span
                await runner.tracer.drain()
                rate = rate * api.elapsed / (time.perf_counter() - api.started)
            if record:
                start = time.perf_counter()
                await runner.flush()
                api.extras.flush_s.append(time.perf_counter() - start)
                api.extras.events.append(runner.recorder.written)
                api.extras.most_buffered.append(runner.recorder.most_buffered)
            return rate
        finally:
            await runner.cancel()
            await task


async def fanout(
    api: SimpleNamespace, kinds: SimpleNamespace, receivers: int, messages: int
) -> float:
    """One sender, ``receivers`` receivers, broadcast data messages; deliveries per second."""
    counters = [kinds.Counter(f"r{i}", messages) for i in range(receivers)]
    sender = kinds.Driver("sender")

    async def body() -> float:
        start = time.perf_counter()
        for i in range(messages):
            await sender.send_bus_message(kinds.Ping(source="sender", n=i))
        for counter in counters:
            await counter.done.wait()
        return receivers * messages / (time.perf_counter() - start)

    return await _with_runner(api, [*counters, sender], body)


async def targeted(
    api: SimpleNamespace, kinds: SimpleNamespace, receivers: int, messages: int
) -> float:
    """Messages targeted round-robin at ``receivers`` receivers; messages per second."""
    each = messages // receivers
    counters = [kinds.Counter(f"r{i}", each) for i in range(receivers)]
    sender = kinds.Driver("sender")
    names = [c.name for c in counters]

    async def body() -> float:
        start = time.perf_counter()
        for i in range(each * receivers):
            await sender.send_bus_message(
                kinds.Ping(source="sender", target=names[i % receivers], n=i)
            )
        for counter in counters:
            await counter.done.wait()
        return each * receivers / (time.perf_counter() - start)

    return await _with_runner(api, [*counters, sender], body)


async def jobs(api: SimpleNamespace, kinds: SimpleNamespace, count: int) -> float:
    """Sequential ``job()`` round trips to one echo worker; jobs per second."""
    driver = kinds.Driver("driver")

    async def body() -> float:
        start = time.perf_counter()
        for i in range(count):
            async with driver.job("echo", payload={"i": i}):
                pass
        return count / (time.perf_counter() - start)

    return await _with_runner(api, [driver, kinds.Echo("echo")], body)


async def groups(api: SimpleNamespace, kinds: SimpleNamespace, width: int, count: int) -> float:
    """Sequential ``job_group()`` calls over ``width`` echo workers; groups per second."""
    driver = kinds.Driver("driver")
    names = [f"echo{i}" for i in range(width)]

    async def body() -> float:
        start = time.perf_counter()
        for i in range(count):
            async with driver.job_group(*names, payload={"i": i}):
                pass
        return count / (time.perf_counter() - start)

    return await _with_runner(api, [driver, *(kinds.Echo(n) for n in names)], body)


SCENARIOS: dict[str, tuple[str, Callable[..., Coroutine[Any, Any, float]], tuple[int, ...]]] = {
    "fanout1": ("deliveries/s", fanout, (1, 50_000)),
    "fanout10": ("deliveries/s", fanout, (10, 10_000)),
    "targeted50": ("messages/s", targeted, (50, 20_000)),
    "jobs": ("jobs/s", jobs, (5_000,)),
    "groups10": ("groups/s", groups, (10, 1_000)),
}


def run_all(impl: str, repeat: int, only: list[str] | None, record: bool) -> dict[str, Any]:
    """Each scenario ``repeat`` times, each run in an event loop of its own."""
    api = load_api(impl)
    api.record = record and impl == "pipebus"
    kinds = build(api)
    results: dict[str, Any] = {}
    for name, (unit, scenario, args) in SCENARIOS.items():
        if only and name not in only:
            continue
        api.extras = Extras()
        rates: list[float] = []
        for _ in range(repeat):
            gc.collect()
            rates.append(asyncio.run(scenario(api, kinds, *args)))
        results[name] = {"unit": unit, "rates": rates}
        if api.record:
            results[name].update(vars(api.extras))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impl", choices=["pipebus", "pipecat"], required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--record", action="store_true", help="pipebus: record into SQLite")
    parser.add_argument(
        "--tracing",
        choices=["off", "on", "stripped"],
        default="off",
        help="pipebus: no tracer provider (off), every span built and exported to a "
        "discarding exporter (on), or trace-id generation patched out (stripped)",
    )
    args = parser.parse_args()
    if (args.record or args.tracing != "off") and args.impl != "pipebus":
        parser.error("--record and --tracing are for --impl pipebus")
    if args.tracing != "off":
        from benchmarks.tracing_modes import set_up

        set_up(args.tracing)
    results = run_all(args.impl, args.repeat, args.only, args.record)
    record = {
        "impl": args.impl,
        "record": args.record,
        "tracing": args.tracing,
        "python": sys.version.split()[0],
    }
    json.dump({**record, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
