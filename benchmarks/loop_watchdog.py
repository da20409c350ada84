"""What the loop watchdog costs: per message on a busy runner, and per second on an idle one.

Two measures, each in a fresh process, the watchdog on (``loop_blocked_ms=100``, the
default) and off (``0``) taking turns, ``--repeat`` times:

- **busy**: ``--messages`` broadcasts through a runner's bus to one worker that counts
  them (recording off), CPU time of the process per message;
- **idle**: a runner with one worker that does nothing, CPU time of the process per
  second over ``--idle`` seconds.

Prints a Markdown table of the medians and saves ``benchmarks/results/loop_watchdog.{json,md}``.

    python -m benchmarks.loop_watchdog [--messages 200000] [--idle 3] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.common import ROOT, markdown, save, speed_probe_us
from pipebus import BaseWorker, BusDataMessage, BusMessage, WorkerRunner


@dataclass
class Tick(BusDataMessage):
    n: int = 0


class Counter(BaseWorker):
    def __init__(self, name: str, expected: int) -> None:
        super().__init__(name)
        self.count, self.expected, self.done = 0, expected, asyncio.Event()

    async def on_bus_message(self, message: BusMessage) -> None:
        await super().on_bus_message(message)
        if isinstance(message, Tick):
            self.count += 1
            if self.count == self.expected:
                self.done.set()


async def busy(messages: int, threshold: float) -> float:
    """CPU seconds per message of ``messages`` broadcasts to one counting worker."""
    runner = WorkerRunner(handle_sigint=False, event_log=None, loop_blocked_ms=threshold)
    counter = Counter("counter", messages)
    await runner.add_workers(counter)
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    cpu = time.process_time()
    for n in range(messages):
        await runner.bus.send(Tick(source="bench", n=n))
    await counter.done.wait()
    cpu = time.process_time() - cpu
    await runner.cancel()
    await task
    return cpu / messages


async def idle(seconds: float, threshold: float) -> float:
    """CPU seconds per second of a runner whose one worker does nothing."""
    runner = WorkerRunner(handle_sigint=False, event_log=None, loop_blocked_ms=threshold)
    await runner.add_workers(BaseWorker("idle"))
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    await asyncio.sleep(0.2)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await runner.cancel()
    await task
    return cpu / wall


def one(kind: str, threshold: float, amount: float) -> float:
    """One measure in a fresh process."""
    code = (
        "import asyncio, json, logging; logging.disable(logging.WARNING); "
        "from benchmarks import loop_watchdog as w; "
        f"print(json.dumps(asyncio.run(w.{kind}({amount!r}, {threshold!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmarks.loop_watchdog {kind} failed:\n{done.stderr}")
    value: float = json.loads(done.stdout)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--idle", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    probe = speed_probe_us()
    samples: dict[str, dict[str, list[float]]] = {
        "busy": {"on": [], "off": []},
        "idle": {"on": [], "off": []},
    }
    for _ in range(args.repeat):
        for side, threshold in (("off", 0.0), ("on", 100.0)):
            samples["busy"][side].append(one("busy", threshold, args.messages))
            samples["idle"][side].append(one("idle", threshold, args.idle))
    medians: dict[str, Any] = {
        kind: {side: statistics.median(values) for side, values in sides.items()}
        for kind, sides in samples.items()
    }
    busy_on, busy_off = medians["busy"]["on"] * 1e9, medians["busy"]["off"] * 1e9
    idle_on, idle_off = medians["idle"]["on"] * 1e3, medians["idle"]["off"] * 1e3
    rows = [
        [
            f"busy: CPU per message, {args.messages:,} broadcasts to one worker",
            f"{busy_off:,.0f} ns",
            f"{busy_on:,.0f} ns",
            f"{(busy_on - busy_off) / busy_off:+.1%}",
        ],
        [
            "idle: CPU per second of a runner with nothing to do",
            f"{idle_off:.2f} ms",
            f"{idle_on:.2f} ms",
            f"+{idle_on - idle_off:.2f} ms",
        ],
    ]
    text = (
        "### The loop watchdog's cost\n\n"
        f"Medians of {args.repeat} runs each, the two taking turns, each run a fresh "
        f"process; recording off. Speed probe at the start: {probe:.0f} us.\n\n"
        + markdown(["measure", "watchdog off", "on (100 ms)", "difference"], rows)
    )
    print(text)
    save("loop_watchdog", {"samples": samples, "medians": medians}, text)


if __name__ == "__main__":
    main()
