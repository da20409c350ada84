"""What tracing costs: fanout1 and jobs with tracing off, stripped out, and fully on.

Four sides, taking turns, each turn a fresh process (``benchmarks.scenarios``),
recording off:

- Pipecat 1.14 without tracing (its own environment);
- pipebus ``stripped``: no tracer provider and the ids it still makes patched out
  (:mod:`benchmarks.tracing_modes`), the "tracing code paths removed" reference;
- pipebus ``off``: no tracer provider, as it ships;
- pipebus ``on``: every message sampled, every send and delivery a span, a batch
  span processor and an exporter that discards. Its rate includes building every
  span: the clock stops once the live tracer has handed the last one over.

Goals (issue "Tracing"): ``on`` at least 0.6x Pipecat; ``off`` at most 5% slower than
``stripped``. Also printed: what tracing costs per message (fanout1) and per job,
from the difference of the times per item. Saves ``benchmarks/results/tracing.{json,md}``.

    python -m benchmarks.tracing --pipecat-python .venv-pipecat/bin/python [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

from benchmarks.common import markdown, save, verdict
from benchmarks.run import run_interleaved

SCENARIOS = ["fanout1", "jobs"]
ON_GOAL = 0.6
"""Tracing on, over Pipecat without tracing."""
OFF_GOAL = 0.95
"""No tracer provider, over pipebus with the tracing code paths removed."""
PER = {"fanout1": "message", "jobs": "job"}


def median(side: dict[str, Any], name: str) -> float:
    return float(statistics.median(side[name]["rates"]))


def rows(sides: dict[str, dict[str, Any]]) -> tuple[list[list[str]], list[dict[str, Any]]]:
    table, records = [], []
    for name in SCENARIOS:
        pipecat, stripped, off, on = (median(sides[s], name) for s in sides)
        off_ratio, on_ratio = off / stripped, on / pipecat
        on_cost_us = (1 / on - 1 / off) * 1e6
        off_cost_us = (1 / off - 1 / stripped) * 1e6
        records.append(
            {
                "scenario": name,
                "unit": sides["pipebus-off"][name]["unit"],
                "pipecat": pipecat,
                "stripped": stripped,
                "off": off,
                "on": on,
                "off_over_stripped": off_ratio,
                "on_over_pipecat": on_ratio,
                "on_cost_us": on_cost_us,
                "off_cost_us": off_cost_us,
            }
        )
        table.append(
            [
                name,
                sides["pipebus-off"][name]["unit"],
                f"{pipecat:,.0f}",
                f"{stripped:,.0f}",
                f"{off:,.0f} ({off_ratio:.3f}x; {verdict(off_ratio, OFF_GOAL)})",
                f"{on:,.0f} ({on_ratio:.2f}x Pipecat; {verdict(on_ratio, ON_GOAL)})",
                f"{off_cost_us:+.2f} us / {on_cost_us:.1f} us per {PER[name]}",
            ]
        )
    return table, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipecat-python", required=True, help="python of the Pipecat environment")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"tracing: {args.repeat} repetitions of {', '.join(SCENARIOS)} per side ...", flush=True)
    sides = run_interleaved(
        {
            "pipecat": (args.pipecat_python, "pipecat", False, "off"),
            "pipebus-stripped": (sys.executable, "pipebus", False, "stripped"),
            "pipebus-off": (sys.executable, "pipebus", False, "off"),
            "pipebus-on": (sys.executable, "pipebus", False, "on"),
        },
        args.repeat,
        SCENARIOS,
    )
    table, records = rows(sides)
    header = [
        "scenario",
        "unit",
        "Pipecat 1.14, no tracing",
        "pipebus, tracing stripped",
        "pipebus, no provider (goal >= 0.95x stripped)",
        "pipebus, tracing on (goal >= 0.6x Pipecat)",
        "cost: no provider / tracing on",
    ]
    text = f"### Tracing: median of {args.repeat} runs, recording off\n\n" + markdown(header, table)
    print()
    print(text)
    save("tracing", {"repeat": args.repeat, "rows": records, "sides": sides}, text)


if __name__ == "__main__":
    main()
