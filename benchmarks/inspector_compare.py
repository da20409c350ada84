"""Two sessions side by side in the inspector: compare, step both cursors, jump.

Records a session with ``benchmarks.rebuild``'s record phase, then writes a "rerun"
of it into the same file: the same events under another session id, one message
inserted a third of the way in and one payload changed two thirds of the way in.
Then drives the real app headless (``App.run_test()``, 180x50) in a fresh process:

- compare: from creating the app (``--compare``) to the side-by-side screen showing
  the first divergence (both sessions read twice: shapes, then fields);
- step: ``j`` / ``k`` pressed, until both columns and the difference panel are
  redrawn for the new row (both cursors move);
- next divergence and end: ``n`` and ``G``.

    python -m benchmarks.inspector_compare [--events 1000000] [--db PATH]

Prints a Markdown table and saves ``benchmarks/results/inspector_compare.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import session_mix  # noqa: F401 (registers the mix's message types)
from benchmarks.common import ROOT, markdown, peak_rss_mb, save, summary_ms, verdict
from benchmarks.inspector import press, until
from benchmarks.rebuild import live_of, run_phase
from inspector.app import InspectorApp
from inspector.screens.compare import CompareScreen

GOALS = {"step_ms": 60.0}
RERUN = "4e4e4e4e" + "0" * 24


def write_rerun(path: Path, session: str) -> dict[str, int]:
    """Copy ``session`` as :data:`RERUN`: one message inserted, one payload changed."""
    with sqlite3.connect(path) as db:
        for table in ("events", "snapshots"):  # a log reused: the rerun is written again
            db.execute(f"delete from {table} where session_id = ?", (RERUN,))
        db.execute("delete from sessions where id = ?", (RERUN,))
        length = db.execute("select last_seq from sessions where id = ?", (session,)).fetchone()[0]
        inserted, changed = length // 3, 2 * length // 3
        columns = [row[1] for row in db.execute("pragma table_info(sessions)")]
        picked = ", ".join("?" if c == "id" else c for c in columns)
        db.execute(
            f"insert into sessions ({', '.join(columns)}) "
            f"select {picked} from sessions where id = ?",
            (RERUN, session),
        )
        db.execute("update sessions set last_seq = last_seq + 1 where id = ?", (RERUN,))
        names = [row[1] for row in db.execute("pragma table_info(events)")]
        values = {"session_id": "?", "seq": f"case when seq > {inserted} then seq + 1 else seq end"}
        shifted = ", ".join(values.get(name, name) for name in names)
        db.execute(
            f"insert into events ({', '.join(names)}) "
            f"select {shifted} from events where session_id = ?",
            (RERUN, session),
        )
        copied = {name: name for name in names} | {
            "session_id": "?",
            "seq": str(inserted + 1),
            "message_id": "message_id || '-again'",
        }
        db.execute(
            f"insert into events ({', '.join(names)}) select "
            f"{', '.join(copied[name] for name in names)} from events "
            "where session_id = ? and seq = ?",
            (RERUN, session, inserted),
        )
        db.execute(
            "update events set payload = replace(payload, '\"', '\"changed-') "
            "where session_id = ? and seq = ?",
            (RERUN, changed + 1),
        )
    return {"inserted_after": inserted, "changed": changed}


def drawn(app: InspectorApp) -> Callable[[], bool]:
    def check() -> bool:
        screen = app.screen
        return isinstance(screen, CompareScreen) and screen.drawn

    return check


async def drive(path: Path, session: str) -> dict[str, Any]:
    start = time.perf_counter()
    app = InspectorApp(path, session, compare=RERUN)
    async with app.run_test(size=(180, 50)):
        await until(drawn(app), timeout=600)
        compared = time.perf_counter() - start
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert screen.model.comparison is not None
        comparison = screen.model.comparison

        async def timed(action: Callable[[], Any]) -> float:
            moves = screen.moves
            began = time.perf_counter()
            action()
            await until(lambda: screen.moves > moves)
            await until(drawn(app))
            return time.perf_counter() - began

        forward = [await timed(press(app, "j")) for _ in range(50)]
        back = [await timed(press(app, "k")) for _ in range(50)]
        divergences = [await timed(press(app, "n")) for _ in range(2)]
        end = [await timed(press(app, "G"))]
        home = [await timed(press(app, "g"))]
    return {
        "events": len(comparison),
        "compare_s": compared,
        "counts": comparison.counts(),
        "first_divergence_row": (comparison.first_divergence or 0) + 1,
        "step_forward": summary_ms(forward),
        "step_back": summary_ms(back),
        "next_divergence": summary_ms(divergences),
        "end": summary_ms(end),
        "home": summary_ms(home),
        "rss_mb": peak_rss_mb(),
    }


def table(result: dict[str, Any]) -> str:
    forward, back = result["step_forward"], result["step_back"]
    step_max = max(forward["max_ms"], back["max_ms"])
    met = verdict(step_max, GOALS["step_ms"], at_most=True)
    rows = [
        ["compare (to the first divergence drawn)", f"{result['compare_s']:.1f} s", "", ""],
        ["step forward (j), median / max", _ms(forward), "< 60 ms", met],
        ["step back (k), median / max", _ms(back), "< 60 ms", met],
        ["next divergence (n), median / max", _ms(result["next_divergence"]), "", ""],
        ["last row (G)", _ms(result["end"]), "", ""],
        ["first row (g)", _ms(result["home"]), "", ""],
        ["peak RSS", f"{result['rss_mb']:.0f} MB", "", ""],
    ]
    head = (
        f"### Two sessions side by side: {result['events']:,} rows\n\n"
        "A session recorded by `benchmarks.rebuild` and a copy of it with one message "
        f"inserted and one payload changed ({result['counts']}); the app driven headless "
        "by `App.run_test()` at 180x50 in a fresh process.\n\n"
    )
    return head + markdown(["measure", "result", "goal", ""], rows)


def _ms(summary: dict[str, float]) -> str:
    return f"{summary['median_ms']:.1f} / {summary['max_ms']:.1f} ms"


def measure(path: Path) -> dict[str, Any]:
    logging.disable(logging.WARNING)
    return asyncio.run(drive(path, live_of(path)["session"]))


def run(events: int, db: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        path = db or Path(directory) / "events.db"
        if not Path(f"{path}.live").exists():
            run_phase("record", path, "--events", str(events))
        made = write_rerun(path, live_of(path)["session"])
        command = [sys.executable, "-m", "benchmarks.inspector_compare", "--phase", "measure"]
        done = subprocess.run(
            [*command, "--db", str(path)], cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode != 0:
            sys.exit(f"benchmarks.inspector_compare --phase measure failed:\n{done.stderr}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["rerun"] = made
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="record into this log (kept), else a fresh one")
    parser.add_argument("--phase", choices=("measure",), help="only measure, in this process")
    args = parser.parse_args()
    if args.phase == "measure":
        json.dump(measure(args.db), sys.stdout)
        return
    result = run(args.events, args.db)
    text = table(result)
    print(text)
    save("inspector_compare", result, text)


if __name__ == "__main__":
    main()
