"""Helpers shared by the event-log benchmarks: memory readings, timing, tables, results."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import timeit
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MB = 1024 * 1024


def _status_kb(field: str, pid: int | str = "self") -> int | None:
    """A ``/proc/<pid>/status`` memory field (``VmRSS``, ``VmHWM``) in kB, if there is one."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    """The process's resident set size now, in MB."""
    kb = _status_kb("VmRSS")
    if kb is None:  # not Linux: the peak is the best there is
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def reset_peak_rss() -> bool:
    """Restart the kernel's peak-RSS count (``VmHWM``) from now; False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """The peak RSS since :func:`reset_peak_rss` (else since the process started), in MB."""
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def child_pids(pid: int | str = "self") -> list[int]:
    """A process's child processes (this one's by default; Linux, else none)."""
    pids: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            pids += [int(child) for child in children.read_text().split()]
        except OSError:
            continue
    return pids


def _cpu_s(pid: int | str) -> float:
    """CPU seconds (user + system) used so far by one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int | str = "self") -> float:
    """CPU seconds used so far by a process and all of its descendants, summed.

    Counts only processes alive when asked: measure a window in which none ends.
    """
    return _cpu_s(pid) + sum(tree_cpu_s(child) for child in child_pids(pid))


def child_peak_rss_mb() -> float | None:
    """The peak RSS of this process's children (the log's writer process), summed, in MB."""
    peaks = [kb for pid in child_pids() if (kb := _status_kb("VmHWM", pid)) is not None]
    return sum(peaks) / 1024 if peaks else None


def children_cpu_s() -> float | None:
    """CPU seconds (user + system) used so far by this process's children, summed."""
    pids = child_pids()
    return sum(_cpu_s(pid) for pid in pids) if pids else None


def postgres_cpu_s() -> float:
    """CPU seconds used so far by the PostgreSQL server on this machine, all of it.

    Every ``postgres`` process (backends, WAL writer, checkpointer), with the time of
    the backends that ended since (the postmaster's reaped children): the database's
    whole share of the machine, when it runs here. Reads ``/proc``.
    """
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += sum(int(field) for field in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


async def ready_then_wait() -> None:
    """Say ``ready`` on stdout, then wait for a line on stdin: the word to start."""
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """Min, median and max of some durations, in milliseconds."""
    return {
        "min_ms": min(seconds) * 1000,
        "median_ms": statistics.median(seconds) * 1000,
        "max_ms": max(seconds) * 1000,
    }


def verdict(value: float, goal: float, *, at_most: bool = False) -> str:
    """``"met"``, or ``"MISSED"`` with the gap to the goal in percent."""
    ok = value <= goal if at_most else value >= goal
    if ok:
        return "met"
    gap = (value / goal - 1) * 100
    return f"MISSED ({gap:+.0f}%)"


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; columns after the first two are right-aligned."""
    align = ["---" if i < 2 else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def commit() -> str | None:
    """The checked-out commit (``+dirty`` if pipebus/ has local changes), if in a git tree."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "pipebus"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def speed_probe_us() -> float:
    """How fast this machine runs Python right now: ``sum(range(10_000))``, best of 5.

    The development machine is shared: the same code was seen to run up to half again
    as slow within one hour. Saved with every result, so that two results can be
    told apart from two states of the machine.
    """
    return min(timeit.repeat("sum(range(10_000))", number=1000, repeat=5)) * 1000


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "commit": commit(),
        "speed_probe_us": speed_probe_us(),
    }


def save(name: str, record: dict[str, Any], text: str) -> None:
    """Write ``benchmarks/results/<name>.json`` and ``<name>.md``."""
    RESULTS.mkdir(exist_ok=True)
    measured = machine()
    (RESULTS / f"{name}.json").write_text(json.dumps({**measured, **record}, indent=2) + "\n")
    probe = f"Speed probe at the end of the run: {measured['speed_probe_us']:.0f} us"
    (RESULTS / f"{name}.md").write_text(f"{text}\n\n{probe} (`sum(range(10_000))`).\n")
