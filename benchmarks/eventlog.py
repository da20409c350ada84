"""The event-log benchmarks, against the project's goals: append, rebuild, ``state_at``.

Runs, each in a fresh process (so memory readings start clean):

- :mod:`benchmarks.append`: 1,000,000 events appended through a recording runner's bus:
  events/s until all are committed (goal >= 150,000/s), RSS growth (goal < 150 MB);
- :mod:`benchmarks.rebuild`: a recorded 1,000,000-event voice-agent-like session:
  ``fold()`` rate and end-to-end rebuild rates (goal >= 300,000 events/s),
  ``SessionReplay.state_at`` latency at random steps (goal < 50 ms at any step).

Prints two Markdown tables and saves ``benchmarks/results/eventlog.{json,md}``.

    python -m benchmarks.eventlog [--events 1000000] [--counter]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from benchmarks.common import ROOT, markdown, save, verdict

APPEND_RATE_GOAL = 150_000
RSS_GOAL_MB = 150
REBUILD_RATE_GOAL = 300_000
STATE_AT_GOAL_MS = 50


def run_module(module: str, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", module, *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{module} failed (exit {done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def append_rows(result: dict[str, Any], label: str) -> list[list[str]]:
    rate, peak, end = (
        result["events_per_s"],
        result["rss_peak_growth_mb"],
        result["rss_end_growth_mb"],
    )
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
            f"{label}: RSS growth, peak",
            "n/a" if peak is None else f"{peak:.0f} MB",
            f"< {RSS_GOAL_MB} MB",
            "" if peak is None else verdict(peak, RSS_GOAL_MB, at_most=True),
        ],
        [
            f"{label}: RSS growth, at the end",
            f"{end:.0f} MB",
            f"< {RSS_GOAL_MB} MB",
            verdict(end, RSS_GOAL_MB, at_most=True),
        ],
        [
            f"{label}: events stored / largest buffer / file",
            f"{result['stored']:,} / {result['most_buffered']:,} / {result['db_mb']:.0f} MB",
            "",
            "",
        ],
    ]


def rebuild_rows(result: dict[str, Any]) -> list[list[str]]:
    fold, rebuilt, folded, state_at, shares = (
        result["fold"],
        result["rebuild"],
        result["rebuild_folded_types"],
        result["state_at"],
        result["mix"],
    )
    worst = state_at["max_ms"]
    return [
        [
            "(a) fold() over the decoded envelopes in memory",
            f"{fold['events_per_s']:,.0f} events/s",
            f">= {REBUILD_RATE_GOAL:,}/s",
            verdict(fold["events_per_s"], REBUILD_RATE_GOAL),
        ],
        [
            "(b) rebuild from the log: read + decode + fold",
            f"{rebuilt['events_per_s']:,.0f} events/s",
            f">= {REBUILD_RATE_GOAL:,}/s",
            verdict(rebuilt["events_per_s"], REBUILD_RATE_GOAL),
        ],
        [
            "(b) of which: read / decode / fold",
            f"{rebuilt['read_s']:.1f} s / {rebuilt['decode_s']:.1f} s / {rebuilt['fold_s']:.1f} s",
            "",
            "matches live" if rebuilt["matches_live"] else "DIFFERS FROM LIVE",
        ],
        [
            f"(b') the same, reading only the {folded['folded']:,} events of folded types",
            f"{folded['events_per_s']:,.0f} events/s",
            f">= {REBUILD_RATE_GOAL:,}/s",
            verdict(folded["events_per_s"], REBUILD_RATE_GOAL),
        ],
        [
            "(b') of which: read / decode / fold",
            f"{folded['read_s']:.1f} s / {folded['decode_s']:.1f} s / {folded['fold_s']:.1f} s",
            "",
            "matches live" if folded["matches_live"] else "DIFFERS FROM LIVE",
        ],
        [
            f"(c) state_at, {state_at['steps']} steps: min / median / max",
            f"{state_at['min_ms']:.1f} / {state_at['median_ms']:.1f} / {worst:.1f} ms",
            f"< {STATE_AT_GOAL_MS} ms",
            verdict(worst, STATE_AT_GOAL_MS, at_most=True),
        ],
        [
            "(c) state_at first / last step",
            f"{state_at['first_ms']:.1f} / {state_at['last_ms']:.1f} ms",
            f"< {STATE_AT_GOAL_MS} ms",
            "matches live" if state_at["matches_live"] else "DIFFERS FROM LIVE",
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
    args = parser.parse_args()
    events = str(args.events)
    header = ["measure", "value", "goal", "verdict"]

    print(f"appending {args.events:,} events through a recording runner ...", flush=True)
    appended = {"no subscriber": run_module("benchmarks.append", "--events", events)}
    if args.counter:
        appended["one counting worker"] = run_module(
            "benchmarks.append", "--events", events, "--counter"
        )
    rows = [row for label, result in appended.items() for row in append_rows(result, label)]
    append_text = f"### Sustained append: {args.events:,} events, SQLite, default durability\n\n"
    append_text += markdown(header, rows)

    print(f"recording a {args.events:,}-event session, then rebuilding it ...", flush=True)
    rebuilt = run_module("benchmarks.rebuild", "--events", events)
    rebuild_text = f"### Projections over a {args.events:,}-event recorded session\n\n"
    rebuild_text += markdown(header, rebuild_rows(rebuilt))

    text = append_text + "\n\n" + rebuild_text
    print()
    print(text)
    save("eventlog", {"append": appended, "rebuild": rebuilt}, text)


if __name__ == "__main__":
    main()
