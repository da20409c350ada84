"""The event-log benchmarks, against the project's goals: append, rebuild, ``state_at``.

Runs, each in a fresh process (so memory readings start clean):

- :mod:`benchmarks.append_log`: 1,000,000 encoded rows appended to the log alone (its
  writer process), one batch in flight, then two (the recorder's way): rows/s (goal
  >= 150,000/s), RSS growth of this process and the writer process's peak (goal
  < 150 MB);
- :mod:`benchmarks.append`: 1,000,000 events appended through a recording runner's bus:
  events/s until all are committed (goal >= 150,000/s), RSS growth (goal < 150 MB);
- :mod:`benchmarks.rebuild`: a recorded 1,000,000-event voice-agent-like session:
  ``fold()`` rate and end-to-end rebuild rates (goal >= 300,000 events/s),
  ``SessionReplay.state_at`` latency at random steps (goal < 50 ms at any step), each
  measured in a fresh process over the recorded log.

Prints two Markdown tables and saves ``benchmarks/results/eventlog.{json,md}``.
``--postgres URL`` measures appends to a PostgreSQL log instead (the log alone, one
runner, several at once): :mod:`benchmarks.eventlog_postgres`, which saves
``eventlog_postgres.{json,md}``.

    python -m benchmarks.eventlog [--events 1000000] [--counter] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from benchmarks.common import ROOT, markdown, save, verdict
from pipebus.eventlog.sqlite import SqliteWriter

APPEND_RATE_GOAL = 150_000
"""Through a recording runner's bus (issue #13)."""
LOG_RATE_GOAL = 250_000
"""The log alone, its writer process (issue #13; raw batched SQLite does about 595,000)."""
RSS_GOAL_MB = 150
REBUILD_RATE_GOAL = 300_000
"""Rebuilding every event, and reading a session back decoded (issue #13)."""
REPLAY_REBUILD_GOAL = 500_000
"""``SessionReplay.rebuild()``, the events the projections read (issue #13)."""
STATE_AT_GOAL_MS = 50


def run_module(module: str, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", module, *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{module} failed (exit {done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


def _rss_verdict(value: float | None) -> str:
    return "" if value is None else verdict(value, RSS_GOAL_MB, at_most=True)


RECORDER_IN_FLIGHT = SqliteWriter.in_flight
RECORDERS_WAY = " (the recorder's way)"


def log_rows(results: dict[int, dict[str, Any]]) -> list[list[str]]:
    """The log alone: encoded rows handed to its writer process."""
    rows = [
        [
            f"log alone, {'one batch' if in_flight == 1 else f'{in_flight} batches'} in flight"
            f"{RECORDERS_WAY if in_flight == RECORDER_IN_FLIGHT else ''}: rows/s, "
            "first hand-over to last commit",
            f"{result['events_per_s']:,.0f}",
            f">= {LOG_RATE_GOAL:,}",
            verdict(result["events_per_s"], LOG_RATE_GOAL),
        ]
        for in_flight, result in results.items()
    ]
    one = results.get(RECORDER_IN_FLIGHT) or results[min(results)]
    both = None
    if one["rss_peak_growth_mb"] is not None and one["writer_rss_peak_mb"] is not None:
        both = one["rss_peak_growth_mb"] + one["writer_rss_peak_mb"]
    rows += [
        [
            "log alone: CPU of the writer process / of this process",
            f"{one['writer_cpu_s']:.2f} s / {one['cpu_s']:.2f} s of {one['seconds']:.2f} s",
            "",
            "",
        ],
        [
            "log alone: RSS growth of this process, peak / at the end",
            f"{_mb(one['rss_peak_growth_mb'])} / {_mb(one['rss_end_growth_mb'])}",
            f"< {RSS_GOAL_MB} MB",
            _rss_verdict(one["rss_peak_growth_mb"]),
        ],
        [
            "log alone: + the writer process's peak RSS",
            f"{_mb(both)} ({_mb(one['writer_rss_peak_mb'])} for the writer)",
            f"< {RSS_GOAL_MB} MB",
            _rss_verdict(both),
        ],
    ]
    return rows


def append_rows(result: dict[str, Any], label: str) -> list[list[str]]:
    """The whole recording path: a runner's bus stamps, the recorder encodes and commits."""
    rate, peak, end = (
        result["events_per_s"],
        result["rss_peak_growth_mb"],
        result["rss_end_growth_mb"],
    )
    writer = result.get("writer_rss_peak_mb")
    both = None if peak is None or writer is None else peak + writer
    return [
        [
            f"{label}: events/s, first send to all committed",
            f"{rate:,.0f}",
            f">= {APPEND_RATE_GOAL:,}",
            verdict(rate, APPEND_RATE_GOAL),
        ],
        [
            f"{label}: send phase / final flush",
            f"{result['send_s']:.2f} s / {result['flush_s']:.2f} s",
            "",
            "",
        ],
        [
            f"{label}: RSS growth of the recording process, peak / at the end",
            f"{_mb(peak)} / {_mb(end)}",
            f"< {RSS_GOAL_MB} MB",
            _rss_verdict(peak),
        ],
        [
            f"{label}: + the writer process's peak RSS",
            f"{_mb(both)} ({_mb(writer)} for the writer)",
            f"< {RSS_GOAL_MB} MB",
            _rss_verdict(both),
        ],
        [
            f"{label}: events stored / largest buffer / file",
            f"{result['stored']:,} / {result['most_buffered']:,} / {result['db_mb']:.0f} MB",
            "",
            "",
        ],
    ]


def floor_rows(
    recorded: dict[str, Any], unrecorded: dict[str, Any], python_gc: dict[str, Any]
) -> list[list[str]]:
    """The same sends on a runner that records nothing (the bus's floor), and the same
    recording with Python's default collector thresholds (``$PIPEBUS_GC_THRESHOLD=off``)."""
    per_event = 1e6 / recorded["events"]
    return [
        [
            "through the bus, Python's default collector thresholds: events/s; CPU per event",
            f"{python_gc['events_per_s']:,.0f}; {python_gc['cpu_s'] * per_event:.1f} us",
            "",
            "",
        ],
        [
            "the same sends, not recording (the bus's own rate): events/s",
            f"{unrecorded['events_per_s']:,.0f}",
            "",
            "",
        ],
        [
            "CPU per event of the sending process: recording / not recording",
            f"{recorded['cpu_s'] * per_event:.1f} / {unrecorded['cpu_s'] * per_event:.1f} us",
            "",
            "",
        ],
    ]


def rebuild_rows(result: dict[str, Any]) -> list[list[str]]:
    read = result["read"]
    fold, streamed, split, folded, folded_split, state_at, shares = (
        result["fold"],
        result["rebuild"],
        result["rebuild_split"],
        result["rebuild_folded_types"],
        result["rebuild_folded_types_split"],
        result["state_at"],
        result["mix"],
    )
    stepping = state_at["stepping"]
    worst = state_at["max_ms"]

    def live(*results: dict[str, Any]) -> str:
        return "matches live" if all(r["matches_live"] for r in results) else "DIFFERS FROM LIVE"

    def stages(r: dict[str, Any]) -> str:
        return f"{r['read_s']:.1f} s / {r['decode_s']:.1f} s / {r['fold_s']:.1f} s"

    return [
        [
            "(a) fold() over the decoded envelopes in memory",
            f"{fold['events_per_s']:,.0f} events/s",
            f">= {REBUILD_RATE_GOAL:,}/s",
            verdict(fold["events_per_s"], REBUILD_RATE_GOAL),
        ],
        [
            "(b) rebuild from the log, all events: read + decode + fold",
            f"{streamed['events_per_s']:,.0f} events/s",
            f">= {REBUILD_RATE_GOAL:,}/s",
            verdict(streamed["events_per_s"], REBUILD_RATE_GOAL),
        ],
        [
            "(b) of which read / decode / fold (each page decoded whole, then folded)",
            stages(split),
            "",
            live(streamed, split),
        ],
        [
            f"(b') rebuild from the log, the {folded['folded']:,} events the projections "
            "read: SessionReplay.rebuild()",
            f"{folded['events_per_s']:,.0f} events/s",
            f">= {REPLAY_REBUILD_GOAL:,}/s",
            verdict(folded["events_per_s"], REPLAY_REBUILD_GOAL),
        ],
        [
            "(b') of which read / decode / fold (as above)",
            stages(folded_split),
            "",
            live(folded, folded_split),
        ],
        [
            f"(d) reading back decoded: SessionReplay.events(), the first {read['events']:,} "
            "steps, then each message",
            f"{read['events_per_s']:,.0f} events/s",
            f">= {REBUILD_RATE_GOAL:,}/s",
            verdict(read["events_per_s"], REBUILD_RATE_GOAL),
        ],
        [
            "(d) of which read / decode; the floor: sqlite3 fetching the rows / json.loads "
            "of the payloads",
            f"{read['read_s']:.2f} s / {read['decode_s']:.2f} s; "
            f"{read['floor_fetch_s']:.2f} s / {read['floor_parse_s']:.2f} s",
            "",
            "",
        ],
        [
            f"(c) state_at, {state_at['steps']} steps, fresh process: min / median / max",
            f"{state_at['min_ms']:.1f} / {state_at['median_ms']:.1f} / {worst:.1f} ms",
            f"< {STATE_AT_GOAL_MS} ms",
            verdict(worst, STATE_AT_GOAL_MS, at_most=True),
        ],
        [
            "(c) of which garbage collection: all calls / the worst call (full collections)",
            f"{state_at['gc_ms']:.1f} / {state_at['gc_max_ms']:.1f} ms ({state_at['full_gcs']})",
            "",
            "",
        ],
        [
            "(c) state_at first / last step; opening the session",
            f"{state_at['first_ms']:.1f} / {state_at['last_ms']:.1f} ms; "
            f"{state_at['open_ms']:.1f} ms",
            f"< {STATE_AT_GOAL_MS} ms",
            live(state_at),
        ],
        [
            "(c') state_at one step after another, 100 steps: median / max",
            f"{stepping['median_ms']:.1f} / {stepping['max_ms']:.1f} ms",
            f"< {STATE_AT_GOAL_MS} ms",
            verdict(stepping["max_ms"], STATE_AT_GOAL_MS, at_most=True),
        ],
        [
            "session: data / jobs / lifecycle events",
            f"{shares['data_share']:.0%} / {shares['job_share']:.0%} / "
            f"{shares['lifecycle_share']:.0%}",
            "",
            "",
        ],
        [
            "session: events, jobs, snapshots, file, recorded in",
            f"{result['events']:,}, {shares['jobs']:,}, {state_at['snapshots']}, "
            f"{result['db_mb']:.0f} MB, {result['record_s']:.1f} s",
            "",
            "",
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--counter", action="store_true", help="also append with a counter")
    parser.add_argument("--postgres", metavar="URL", help="measure appends to PostgreSQL instead")
    args = parser.parse_args()
    events = str(args.events)
    if args.postgres:
        command = ["benchmarks.eventlog_postgres", "--url", args.postgres, "--events", events]
        sys.exit(subprocess.run([sys.executable, "-m", *command], cwd=ROOT).returncode)
    header = ["measure", "value", "goal", "verdict"]

    print(f"appending {args.events:,} encoded rows to the log alone ...", flush=True)
    logged = {
        in_flight: run_module(
            "benchmarks.append_log", "--events", events, "--in-flight", str(in_flight)
        )
        for in_flight in (1, 2)
    }
    print(f"appending {args.events:,} events through a recording runner ...", flush=True)
    appended = {"through the bus": run_module("benchmarks.append", "--events", events)}
    if args.counter:
        appended["one counting worker"] = run_module(
            "benchmarks.append", "--events", events, "--counter"
        )
    unrecorded = run_module("benchmarks.append", "--events", events, "--unrecorded")
    python_gc = run_module("benchmarks.append", "--events", events, "--python-gc")
    rows = log_rows(logged)
    rows += [row for label, result in appended.items() for row in append_rows(result, label)]
    rows += floor_rows(appended["through the bus"], unrecorded, python_gc)
    append_text = f"### Sustained append: {args.events:,} events, SQLite, default durability\n\n"
    append_text += markdown(header, rows)

    print(f"recording a {args.events:,}-event session, then rebuilding it ...", flush=True)
    rebuilt = run_module("benchmarks.rebuild", "--events", events)
    rebuild_text = f"### Projections over a {args.events:,}-event recorded session\n\n"
    rebuild_text += markdown(header, rebuild_rows(rebuilt))

    text = append_text + "\n\n" + rebuild_text
    print()
    print(text)
    save(
        "eventlog",
        {
            "append_log": logged,
            "append": appended,
            "unrecorded": unrecorded,
            "python_gc": python_gc,
            "rebuild": rebuilt,
        },
        text,
    )


if __name__ == "__main__":
    main()
