"""The core scenarios over Redis: pipebus's RedisBus (recording on) against Pipecat's.

Both libraries run the same worker code (:mod:`benchmarks.redis_scenarios`) on the same
Redis, each side in a fresh process, the sides taking turns one repetition at a time,
in two placements:

- ``local``: one runner on a Redis bus, as the core scenarios place their workers.
  Pipecat sends every message through Redis; pipebus delivers to local subscribers
  first and publishes for other runners.
- ``two``: the sender or requester in one process, the receivers or echo workers in a
  second one: every message makes the real round trip through Redis.

pipebus records into a fresh SQLite file per run (per process in ``two``); Pipecat
records nothing. Goals (issue "Redis transports"): fanout1 at least 10x, jobs and
groups10 at least 3x. Below the table: the floor under any bus, a bare redis-py pub/sub
round trip between two processes (:mod:`benchmarks.redis_floor`), and the same over bare
sockets with no client library (:mod:`benchmarks.socket_floor`), against which the
two-process jobs are measured too; and the CPU all processes spend per unit (both
runners, the log writers, Redis), which bounds what two cores can sustain.
Saves ``benchmarks/results/redis.{json,md}``.

    python -m benchmarks.over_redis --pipecat-python .venv-pipecat/bin/python [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.common import ROOT, markdown, save, verdict
from benchmarks.redis_scenarios import REDIS_URL

GOALS = {"fanout1": 10.0, "jobs": 3.0, "groups10": 3.0}
MODES = ("local", "two")


def run_side(python: str, impl: str, mode: str, repeat: int) -> dict[str, Any]:
    command = [python, "-m", "benchmarks.redis_scenarios", "--impl", impl, "--mode", mode]
    command += ["--repeat", str(repeat)] + (["--record"] if impl == "pipebus" else [])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{impl} over Redis ({mode}) failed (exit {done.returncode}):\n{done.stderr}")
    results: dict[str, Any] = json.loads(done.stdout)["results"]
    return results


def merge(into: dict[str, Any], results: dict[str, Any]) -> None:
    """Add one repetition's results to those of the earlier ones, scenario by scenario."""
    for name, result in results.items():
        kept = into.setdefault(name, {"unit": result["unit"]})
        for key, value in result.items():
            if isinstance(value, list):
                kept.setdefault(key, []).extend(value)


def run_floor(module: str) -> dict[str, float]:
    """One of the floors: ``redis_floor`` (redis-py) or ``socket_floor`` (bare sockets)."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}"], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"benchmarks.{module} failed (exit {done.returncode}):\n{done.stderr}")
    floor: dict[str, float] = json.loads(done.stdout)
    return floor


def cpu_table(sides: dict[tuple[str, str], dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Two processes: the CPU every process spends on one unit, and what a goal needs.

    A rate can only be sustained if the CPU it costs fits in the machine's cores:
    ``CPU per unit x rate`` is how many cores are busy. At the goal's rate, pipebus's
    CPU per unit says how many cores the goal would keep busy.
    """
    cores = os.cpu_count() or 1
    rows, records = [], []
    for name, ours in sides[("pipebus", "two")].items():
        theirs = sides[("pipecat", "two")][name]
        our_cpu = statistics.median(ours["cpu_us"])
        their_cpu = statistics.median(theirs["cpu_us"])
        our_rate = statistics.median(ours["rates"])
        their_rate = statistics.median(theirs["rates"])
        busy = our_cpu * our_rate / 1e6
        row = [name, f"{their_cpu:,.0f} us", f"{our_cpu:,.0f} us", f"{busy:.2f} of {cores}"]
        goal = GOALS.get(name)
        needs = our_cpu * goal * their_rate / 1e6 if goal else None
        row.append(f"{needs:.2f} of {cores}" if needs is not None else "")
        rows.append(row)
        records.append(
            {
                "scenario": name,
                "pipecat_cpu_us": their_cpu,
                "pipebus_cpu_us": our_cpu,
                "cores_busy": busy,
                "cores_at_goal": needs,
            }
        )
    header = [
        "scenario",
        "Pipecat: CPU per unit",
        "pipebus + recording: CPU per unit",
        "pipebus: cores busy",
        "pipebus: cores the goal keeps busy",
    ]
    text = (
        "CPU of every process taking part (both runners, pipebus's log writers, the Redis "
        "server), per unit of the rate, two processes:\n\n" + markdown(header, rows)
    )
    return text, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipecat-python", required=True, help="python of the Pipecat environment")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"over Redis at {REDIS_URL}: {args.repeat} repetitions per side ...", flush=True)
    # The sides take turns, one repetition each, so that drift of the machine during
    # the run lands on both instead of on whichever ran last.
    sides: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(args.repeat):
        for mode in MODES:
            for impl, python in (("pipecat", args.pipecat_python), ("pipebus", sys.executable)):
                merge(sides.setdefault((impl, mode), {}), run_side(python, impl, mode, 1))
    rows, records = [], []
    for name, result in sides[("pipebus", "local")].items():
        row = [name, result["unit"]]
        for mode in MODES:
            ours = statistics.median(sides[("pipebus", mode)][name]["rates"])
            theirs = statistics.median(sides[("pipecat", mode)][name]["rates"])
            ratio, goal = ours / theirs, GOALS.get(name)
            row += [f"{theirs:,.0f}", f"{ours:,.0f}", f"{ratio:.2f}x"]
            row.append(f">= {goal:g}x: {verdict(ratio, goal)}" if goal else "")
            records.append(
                {"scenario": name, "mode": mode, "pipecat": theirs, "pipebus": ours, "goal": goal}
            )
        rows.append(row)
    floor, bare = run_floor("redis_floor"), run_floor("socket_floor")
    cpu_text, cpu_records = cpu_table(sides)
    jobs_goal = GOALS["jobs"] * statistics.median(sides[("pipecat", "two")]["jobs"]["rates"])
    header = ["scenario", "unit"]
    for mode in ("one process", "two processes"):
        header += [f"Pipecat, {mode}", f"pipebus + recording, {mode}", "ratio", "goal"]
    text = (
        f"### The core scenarios over Redis: median of {args.repeat} runs, "
        "pipebus recording into SQLite\n\n"
        + markdown(header, rows)
        + "\n\n"
        + cpu_text
        + "\n\nThe floors under a two-process job (one round trip through Redis): a bare "
        f"redis-py pub/sub round trip takes {floor['us_per_round_trip']:.0f} us "
        f"({floor['round_trips_per_s']:,.0f}/s); with no client library at all (asyncio on raw "
        f"sockets, hiredis's parser) {bare['us_per_round_trip']:.0f} us "
        f"({bare['round_trips_per_s']:,.0f}/s), of which the processes and Redis spend "
        f"{bare['cpu_us_per_round_trip']:.0f} us of CPU. "
        f"The two-process jobs goal asks for {jobs_goal:,.0f} jobs/s."
    )
    print()
    print(text)
    record = {"repeat": args.repeat, "rows": records, "cpu": cpu_records}
    save("redis", {**record, "floor": floor, "socket_floor": bare}, text)


if __name__ == "__main__":
    main()
