"""``make bench``: run the core scenarios on Pipecat and pipebus in one run, compare.

Three sides, taking turns, each turn a fresh process of its own environment (Pipecat is installed in
a separate virtual environment by the Makefile): Pipecat 1.14, pipebus with recording
off (``event_log=None``) and pipebus recording into a fresh SQLite file per run
(default durability). Both pipebus columns are compared with Pipecat *without*
recording. Rates are the median of the repetitions; the recorded side also shows the
median final flush (until every event is committed, after the rate's clock stopped).
The table is printed as Markdown and saved as ``benchmarks/results/core.{json,md}``.
The event-log benchmarks are separate: ``python -m benchmarks.eventlog``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.common import RESULTS, ROOT, machine

GOALS = {"targeted50": 20.0, "fanout1": 2.0, "fanout10": 1.5, "jobs": 2.0, "groups10": 2.0}
"""pipebus without recording over Pipecat."""
RECORDING_GOALS = {"fanout1": 1.2, "jobs": 1.2, "targeted50": 15.0}
"""pipebus recording into SQLite (default durability) over Pipecat without recording."""


def run_side(
    python: str,
    impl: str,
    repeat: int,
    only: list[str] | None,
    record: bool = False,
    tracing: str = "off",
) -> dict[str, dict[str, Any]]:
    command = [python, "-m", "benchmarks.scenarios", "--impl", impl, "--repeat", str(repeat)]
    if tracing != "off":
        command += ["--tracing", tracing]
    if only:
        command += ["--only", *only]
    if record:
        command.append("--record")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{impl} benchmark failed (exit {done.returncode}):\n{done.stderr}")
    results: dict[str, dict[str, Any]] = json.loads(done.stdout)["results"]
    return results


Side = tuple[str, str, bool, str]
"""How to run one side: its python, ``--impl``, whether it records, its tracing mode."""


def run_interleaved(
    sides: dict[str, Side], repeat: int, only: list[str] | None
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every side ``repeat`` times, taking turns (A B C, A B C, ...), merged per side.

    Each turn is a fresh process that runs every scenario once. Taking turns spreads
    whatever drifts during a run (the machine's other work, its clock) over all sides
    alike, instead of loading it onto the side that ran last.
    """
    merged: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in sides}
    for _ in range(repeat):
        for name, (python, impl, record, tracing) in sides.items():
            for scenario, result in run_side(python, impl, 1, only, record, tracing).items():
                into = merged[name].setdefault(scenario, {"unit": result["unit"]})
                for key, value in result.items():
                    if isinstance(value, list):
                        into.setdefault(key, []).extend(value)
    return merged


def _goal(ratio: float | None, goal: float | None) -> str:
    if goal is None or ratio is None:
        return ""
    return f">= {goal}x, {'met' if ratio >= goal else 'MISSED'}"


def table(
    pipecat: dict[str, dict[str, Any]],
    pipebus: dict[str, dict[str, Any]],
    recorded: dict[str, dict[str, Any]],
) -> tuple[str, list[dict[str, Any]]]:
    rows = []
    lines = [
        "| scenario | unit | Pipecat 1.14 | pipebus | pipebus / Pipecat | goal "
        "| pipebus + recording | recording / Pipecat | goal | final flush |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |",
    ]
    for name, ours in pipebus.items():
        theirs, rec = pipecat.get(name), recorded.get(name)
        ours_rate = statistics.median(ours["rates"])
        theirs_rate = statistics.median(theirs["rates"]) if theirs else None
        rec_rate = statistics.median(rec["rates"]) if rec else None
        flush_ms = statistics.median(rec["flush_s"]) * 1000 if rec else None
        ratio = ours_rate / theirs_rate if theirs_rate else None
        rec_ratio = rec_rate / theirs_rate if theirs_rate and rec_rate else None
        goal, rec_goal = GOALS.get(name), RECORDING_GOALS.get(name)
        rows.append(
            {
                "scenario": name,
                "unit": ours["unit"],
                "pipecat": theirs_rate,
                "pipebus": ours_rate,
                "ratio": ratio,
                "goal": goal,
                "pipebus_recording": rec_rate,
                "ratio_recording": rec_ratio,
                "goal_recording": rec_goal,
                "flush_ms": flush_ms,
                "recorded_events": rec["events"][0] if rec else None,
            }
        )
        lines.append(
            f"| {name} | {ours['unit']} | {theirs_rate or 0:,.0f} | {ours_rate:,.0f} | "
            f"{ratio or 0:.2f}x | {_goal(ratio, goal)} | {rec_rate or 0:,.0f} | "
            f"{rec_ratio or 0:.2f}x | {_goal(rec_ratio, rec_goal)} | {flush_ms or 0:,.0f} ms |"
        )
    return "\n".join(lines), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipecat-python", required=True, help="python of the Pipecat environment")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="run only these scenarios")
    args = parser.parse_args()

    print(f"running {args.repeat} repetitions per scenario on each side ...", flush=True)
    sides = run_interleaved(
        {
            "pipecat": (args.pipecat_python, "pipecat", False, "off"),
            "pipebus": (sys.executable, "pipebus", False, "off"),
            "recorded": (sys.executable, "pipebus", True, "off"),
        },
        args.repeat,
        args.only,
    )
    text, rows = table(sides["pipecat"], sides["pipebus"], sides["recorded"])
    text = (
        f"### Core scenarios: median of {args.repeat} runs; both pipebus columns over "
        "Pipecat without recording\n\n" + text
    )
    print()
    print(text)
    RESULTS.mkdir(exist_ok=True)
    record = {**machine(), "repeat": args.repeat, "rows": rows}
    (RESULTS / "core.json").write_text(json.dumps(record, indent=2) + "\n")
    (RESULTS / "core.md").write_text(text + "\n")
    missed = [
        r["scenario"]
        for r in rows
        if r["goal"] and r["ratio"] is not None and r["ratio"] < r["goal"]
    ] + [
        f"{r['scenario']} (recording)"
        for r in rows
        if r["goal_recording"]
        and r["ratio_recording"] is not None
        and r["ratio_recording"] < r["goal_recording"]
    ]
    if missed:
        print(f"\ngoals missed: {', '.join(missed)}")


if __name__ == "__main__":
    main()
