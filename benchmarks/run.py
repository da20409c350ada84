"""``make bench``: run the benchmark scenarios on pipebus and Pipecat in one run, compare.

Each side runs in a fresh process of its own environment (Pipecat is installed in a
separate virtual environment by the Makefile). Rates are the median of the
repetitions; the table is printed as Markdown and saved under ``benchmarks/results``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

GOALS = {"targeted50": 20.0, "fanout1": 2.0, "fanout10": 1.5, "jobs": 2.0, "groups10": 2.0}


def run_side(python: str, impl: str, repeat: int, only: list[str] | None) -> dict[str, dict]:
    command = [python, "-m", "benchmarks.scenarios", "--impl", impl, "--repeat", str(repeat)]
    if only:
        command += ["--only", *only]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{impl} benchmark failed (exit {done.returncode}):\n{done.stderr}")
    results: dict[str, dict] = json.loads(done.stdout)["results"]
    return results


def table(pipecat: dict[str, dict], pipebus: dict[str, dict]) -> tuple[str, list[dict]]:
    rows = []
    lines = [
        "| scenario | unit | Pipecat 1.14 | pipebus | pipebus / Pipecat | goal |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for name, ours in pipebus.items():
        theirs = pipecat.get(name)
        ours_rate = statistics.median(ours["rates"])
        theirs_rate = statistics.median(theirs["rates"]) if theirs else None
        ratio = ours_rate / theirs_rate if theirs_rate else None
        goal = GOALS.get(name)
        met = "" if goal is None or ratio is None else ("met" if ratio >= goal else "MISSED")
        rows.append(
            {
                "scenario": name,
                "unit": ours["unit"],
                "pipecat": theirs_rate,
                "pipebus": ours_rate,
                "ratio": ratio,
                "goal": goal,
            }
        )
        lines.append(
            f"| {name} | {ours['unit']} | {theirs_rate or 0:,.0f} | {ours_rate:,.0f} | "
            f"{ratio or 0:.2f}x | {f'>= {goal}x, {met}' if goal else ''} |"
        )
    return "\n".join(lines), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipecat-python", required=True, help="python of the Pipecat environment")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="run only these scenarios")
    args = parser.parse_args()

    print(f"running {args.repeat} repetitions per scenario on each side ...", flush=True)
    pipecat = run_side(args.pipecat_python, "pipecat", args.repeat, args.only)
    pipebus = run_side(sys.executable, "pipebus", args.repeat, args.only)
    text, rows = table(pipecat, pipebus)
    print()
    print(text)
    RESULTS.mkdir(exist_ok=True)
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "rows": rows,
    }
    (RESULTS / "core.json").write_text(json.dumps(record, indent=2) + "\n")
    (RESULTS / "core.md").write_text(text + "\n")
    missed = [
        r["scenario"]
        for r in rows
        if r["goal"] and r["ratio"] is not None and r["ratio"] < r["goal"]
    ]
    if missed:
        print(f"\ngoals missed: {', '.join(missed)}")


if __name__ == "__main__":
    main()
