"""Profile one benchmark: where pipebus spends the time, on the loop and in other threads.

    python -m benchmarks.profile append [--events 200000] [--counter]
    python -m benchmarks.profile append_log [--events 200000]   # this side of the socket
    python -m benchmarks.profile core jobs [--record]      # a core scenario, 3 runs
    python -m benchmarks.profile rebuild [--events 200000] [--phase rebuild|fold|state_at]
        [--db PATH]    # a log from `benchmarks.rebuild --phase record`; else one is recorded

Runs the benchmark under ``cProfile`` (the event-loop thread, and each other thread
such as aiosqlite's, with a profiler of its own) and prints: the CPU seconds of each
thread, then the top functions by cumulative time and by own time: pipebus's own,
and all code (SQLAlchemy, the driver, json). The report is also saved under
``benchmarks/results/profile-<what>.txt``. Profiling slows Python code down about 2x;
read the shares, not the rates.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS

_thread_profiles: list[tuple[str, cProfile.Profile]] = []
_scratch = contextlib.ExitStack()
_thread_cpu: dict[str, float] = {}


def _profile_threads() -> None:
    """Give every thread started from now on a profiler of its own (and time its CPU)."""
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            original(self)
        finally:
            profiler.disable()
            _thread_profiles.append((self.name, profiler))
            _thread_cpu[self.name] = time_thread()

    threading.Thread.run = run  # type: ignore[method-assign]


def time_thread() -> float:
    return time.thread_time()


def _top(stats: pstats.Stats, key: str, count: int, only: str | None) -> str:
    """The ``count`` top rows of ``stats`` by ``key``, only files containing ``only``."""
    rows = []
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    for (file, line, name), (_cc, calls, own, cumulative, _callers) in table.items():
        if only is not None and only not in file:
            continue
        where = f"{os.path.relpath(file) if file.startswith('/') else file}:{line}({name})"
        rows.append((cumulative if key == "cumulative" else own, calls, own, cumulative, where))
    rows.sort(reverse=True)
    lines = [f"{'cum s':>8} {'cum %':>6} {'own s':>8} {'own %':>6} {'calls':>9}  function"]
    for _, calls, own, cumulative, where in rows[:count]:
        lines.append(
            f"{cumulative:8.3f} {cumulative / total * 100:5.1f}% {own:8.3f} "
            f"{own / total * 100:5.1f}% {calls:9d}  {where}"
        )
    return "\n".join(lines)


def report(title: str, profiler: cProfile.Profile, count: int) -> str:
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    parts = [f"## {title}: {total:.2f} s profiled"]
    for key, only, what in (
        ("cumulative", "pipebus/", "pipebus functions by cumulative time"),
        ("own", "pipebus/", "pipebus functions by own time"),
        ("own", None, "all functions by own time"),
    ):
        parts += [f"\n### {what}\n", _top(stats, key, count, only)]
    return "\n".join(parts)


def target(args: argparse.Namespace) -> Callable[[cProfile.Profile], Any]:
    """The benchmark run to profile, given the profiler to run during the measured part."""
    if args.what == "append":
        from benchmarks import append

        return lambda p: p.runcall(append.run, args.events or 200_000, args.counter)
    if args.what == "append_log":
        from benchmarks import append_log

        return lambda p: p.runcall(append_log.run, args.events or 200_000, 1)
    if args.what == "rebuild":
        from benchmarks import rebuild

        path = args.db
        if path is None:  # record one first, in a process of its own
            path = Path(_scratch.enter_context(tempfile.TemporaryDirectory())) / "events.db"
            rebuild.run_phase("record", path, "--events", str(args.events or 200_000))
        return lambda p: p.runcall(rebuild.measure, args.phase, path)
    from benchmarks import scenarios

    scenarios.run_all("pipebus", 1, [args.scenario], args.record)  # warm-up: lazy imports
    return lambda p: p.runcall(scenarios.run_all, "pipebus", 3, [args.scenario], args.record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["append", "append_log", "core", "rebuild"])
    parser.add_argument("scenario", nargs="?", default="jobs", help="core: which scenario")
    parser.add_argument("--events", type=int)
    parser.add_argument("--counter", action="store_true")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--phase", default="rebuild", choices=["rebuild", "fold", "state_at"])
    parser.add_argument("--db", type=Path, help="rebuild: a log recorded by benchmarks.rebuild")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    run = target(args)
    _profile_threads()
    profiler = cProfile.Profile()
    start = time_thread()
    result = run(profiler)
    main_cpu = time_thread() - start
    name = args.what + (f"-{args.scenario}" if args.what == "core" else "")
    name += f"-{args.phase}" if args.what == "rebuild" else ""
    name += "-record" if args.record else ""
    cpu = ", ".join(f"{n}: {s:.2f} s" for n, s in _thread_cpu.items())
    parts = [f"# profile of {name}", f"result: {result}", f"CPU: main: {main_cpu:.2f} s, {cpu}"]
    parts.append(report("event-loop thread", profiler, args.top))
    if _thread_profiles:
        stats = pstats.Stats(_thread_profiles[0][1], stream=io.StringIO())
        for _, other in _thread_profiles[1:]:
            stats.add(other)
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(12)
        parts.append(f"## other threads ({len(_thread_profiles)}), by own time\n{out.getvalue()}")
    text = "\n".join(parts)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"profile-{name}.txt").write_text(text + "\n")
    _scratch.close()


if __name__ == "__main__":
    main()
