"""The inspector over a 1,000,000-event session: open, step, jump, filter, memory.

Records the session with ``benchmarks.rebuild``'s record phase (the same session
mix, into a fresh SQLite file), then drives the real app headless
(``App.run_test()``) in a fresh process, as a person opening the session would:

- open: from creating the app to the main screen showing step 1 with its panels
  (Textual's start, the log and session opened, the first window read, the state);
- step: ``j`` / ``k`` pressed, until the timeline and the panels show the new step
  (every row on screen read, state at the cursor folded, cause and effects read);
- jump: the cursor put on random steps across the session, until redrawn;
- next error / continue: ``e`` and ``r`` (a breakpoint on a message type) pressed;
- back / forward: ``[`` and ``]`` over the jumps made, until redrawn;
- state diff: with the state panel showing the step's diff (``d``), the cursor put on
  random steps, until the diff is drawn too; and the diff alone (``diff()``) there;
- filter: a filter set (type, category, regex over the payload, inverted), until the
  timeline shows its rows and "N of M shown"; then folding every job into one row;
- memory: the process's peak RSS (VmHWM) over the whole run.

    python -m benchmarks.inspector [--events 1000000] [--db PATH]

Prints a Markdown table and saves ``benchmarks/results/inspector.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events

from benchmarks import session_mix  # noqa: F401 (registers the mix's message types)
from benchmarks.common import ROOT, markdown, peak_rss_mb, save, summary_ms, verdict
from benchmarks.rebuild import live_of, run_phase
from inspector.app import InspectorApp
from inspector.query import parse
from inspector.screens.main import MainScreen
from pipebus.projections.diff import diff

GOALS = {
    "open_s": 2.0,
    "step_ms": 50.0,
    "worst_step_ms": 30.0,
    "diff_ms": 50.0,
    "filter_s": 1.0,
    "rss_mb": 500.0,
}
FILTERS = {
    "type:update": "type",
    "cat:lifecycle": "category",
    "worker:llm cat:job": "worker and category",
    '/"final":true/': "payload text (no regex characters: a substring search)",
    '/"final":(true|1)/': "regex over the payload, prefiltered by the text it needs",
    "! cat:frame": "inverted category",
}


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Let the app run until ``condition()`` holds (polled every millisecond)."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the inspector did not get there")
        await asyncio.sleep(0.001)


def drawn(app: InspectorApp) -> Callable[[], bool]:
    """Whether the screen shows the cursor's step: every panel filled, then painted.

    Filled: the message, workers and jobs panels are the cursor's step's, every row on
    screen is read. Painted: the timeline and each panel drew a line after its last
    change (Textual's compositor rendered the new frame).
    """

    def check() -> bool:
        screen = app.screen
        if not isinstance(screen, MainScreen) or screen.at is None:
            return False
        cursor = screen.model.cursor
        message = screen.shown_message
        if screen.at.step != cursor or message is None or message.step != cursor:
            return False
        if screen.data.missing(screen.timeline.wanted()):
            return False
        names = ("detail", "workers", "jobs", "state")
        panels = (screen.panel(name) for name in names if screen.panel(name).display)
        return all(w.painted_at > w.changed_at for w in (screen.timeline, *panels))

    return check


def press(app: InspectorApp, key: str) -> Callable[[], None]:
    """A key press as the terminal driver sends it (no test-harness waits)."""

    def send() -> None:
        assert app._driver is not None
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)

    return send


async def drive(path: Path, session: str) -> dict[str, Any]:
    start = time.perf_counter()
    app = InspectorApp(path, session)
    async with app.run_test(size=(180, 50)):
        await until(drawn(app))
        opened = time.perf_counter() - start
        screen = app.screen
        assert isinstance(screen, MainScreen)
        length = screen.model.length

        async def timed(action: Callable[[], Any]) -> float:
            moves = screen.moves
            began = time.perf_counter()
            done = action()
            if asyncio.iscoroutine(done):
                await done
            await until(lambda: screen.moves > moves)
            await until(drawn(app))
            return time.perf_counter() - began

        rng = random.Random(5)
        jumps = []
        for step in [length, 1, *rng.sample(range(2, length), 20)]:

            def go(step: int = step) -> None:
                screen.model.go(step)
                screen.moved()

            jumps.append(await timed(go))
        screen.model.go(rng.randrange(1, length - 200))
        screen.moved()
        await until(drawn(app))
        forward = [await timed(press(app, "j")) for _ in range(50)]
        back = [await timed(press(app, "k")) for _ in range(50)]
        errors = [await timed(press(app, "e")) for _ in range(5)]
        for step in rng.sample(range(2, length), 10):  # jumps to go back and forward over
            screen.model.jump(step)
            screen.moved()
            await until(drawn(app))
        backs = [await timed(press(app, "left_square_bracket")) for _ in range(10)]
        forwards = [await timed(press(app, "right_square_bracket")) for _ in range(10)]

        async def toggle_state() -> None:
            view = screen.model.state_view
            press(app, "d")()
            await until(lambda: screen.model.state_view != view)
            await until(drawn(app))

        await toggle_state()
        diffs = []
        for step in rng.sample(range(2, length), 20):

            def go_diff(step: int = step) -> None:
                screen.model.go(step)
                screen.moved()

            diffs.append(await timed(go_diff))
        alone = []
        for step in rng.sample(range(2, length), 20):
            event = await screen.data.event(step)
            before, after, _ = await screen.data.state_around(event)
            began = time.perf_counter()
            diff(before, after)
            alone.append(time.perf_counter() - began)
        await toggle_state()
        await toggle_state()  # the panel hidden again
        screen.model.add_breakpoint(parse("type:JobCancel"))
        hits = [await timed(press(app, "r")) for _ in range(5)]
        filters: dict[str, Any] = {}
        for text, what in FILTERS.items():

            async def apply(text: str = text) -> None:
                screen.model.filter = parse(text)
                await screen.apply_rows()

            seconds = await timed(apply)
            filters[text] = {"what": what, "seconds": seconds, "shown": screen.model.shown}
            stepped = [await timed(press(app, "j")) for _ in range(10)]
            filters[text]["step_ms"] = statistics.median(stepped) * 1000
        screen.model.filter = None

        async def fold() -> None:
            screen.model.folded = True
            await screen.apply_rows()

        folded = {"seconds": await timed(fold), "shown": screen.model.shown}
        folded["step_ms"] = (
            statistics.median([await timed(press(app, "j")) for _ in range(10)]) * 1000
        )
        screen.model.folded = False
        await screen.apply_rows()
    return {
        "fold": folded,
        "events": length,
        "open_s": opened,
        "jump": summary_ms(jumps),
        "jump_each_ms": [round(seconds * 1000, 1) for seconds in jumps],
        "step_forward_each_ms": [round(seconds * 1000, 1) for seconds in forward],
        "step_forward": summary_ms(forward),
        "step_back": summary_ms(back),
        "next_error": summary_ms(errors),
        "continue": summary_ms(hits),
        "back": summary_ms(backs),
        "forward": summary_ms(forwards),
        "state_diff": summary_ms(diffs),
        "diff_alone": summary_ms(alone),
        "filters": filters,
        "rss_mb": peak_rss_mb(),
    }


def measure(path: Path) -> dict[str, Any]:
    logging.disable(logging.WARNING)
    return asyncio.run(drive(path, live_of(path)["session"]))


def table(result: dict[str, Any]) -> str:
    slowest_filter = max(f["seconds"] for f in result["filters"].values())
    step_max = max(result["step_forward"]["max_ms"], result["step_back"]["max_ms"])
    rows = [
        [
            "open the session (to step 1 drawn)",
            f"{result['open_s']:.2f} s",
            "< 2 s",
            verdict(result["open_s"], GOALS["open_s"], at_most=True),
        ],
    ]
    for name, label, goal in (
        ("step_forward", "step forward (j), median / max", "worst_step_ms"),
        ("step_back", "step back (k), median / max", "worst_step_ms"),
        ("back", "back after jumps ([), median / max", "worst_step_ms"),
        ("forward", "forward again (]), median / max", "worst_step_ms"),
        ("state_diff", "jump with the state diff shown (d), to drawn, median / max", "diff_ms"),
        ("diff_alone", "the state diff alone (diff()), median / max", "diff_ms"),
        ("jump", "jump to a step (22: first, last, random), median / max", "step_ms"),
        ("next_error", "next error (e), median / max", "step_ms"),
        ("continue", "continue to a breakpoint (r), median / max", "step_ms"),
    ):
        if name not in result:
            continue
        numbers = result[name]
        rows.append(
            [
                label,
                f"{numbers['median_ms']:.2f} / {numbers['max_ms']:.2f} ms"
                if numbers["max_ms"] < 1
                else f"{numbers['median_ms']:.1f} / {numbers['max_ms']:.1f} ms",
                f"< {GOALS[goal]:.0f} ms",
                verdict(numbers["max_ms"], GOALS[goal], at_most=True),
            ]
        )
    for text, found in result["filters"].items():
        rows.append(
            [
                f"filter `{text}` ({found['what']}): {found['shown']}; then a step",
                f"{found['seconds']:.2f} s; {found['step_ms']:.1f} ms",
                "< 1 s",
                verdict(found["seconds"], GOALS["filter_s"], at_most=True),
            ]
        )
    folded = result["fold"]
    rows.append(
        [
            f"fold every job into one row (z): {folded['shown']}; then a step",
            f"{folded['seconds']:.2f} s; {folded['step_ms']:.1f} ms",
            "< 1 s",
            verdict(folded["seconds"], GOALS["filter_s"], at_most=True),
        ]
    )
    rows.append(
        [
            "peak memory (RSS) of the inspector's process",
            f"{result['rss_mb']:.0f} MB",
            "< 500 MB",
            verdict(result["rss_mb"], GOALS["rss_mb"], at_most=True),
        ]
    )
    head = (
        f"### The inspector over a {result['events']:,}-event session\n\n"
        f"Recorded by `benchmarks.rebuild`'s record phase ({result.get('record_s', 0):.1f} s, "
        f"{result.get('db_mb', 0):.0f} MB SQLite file); the app driven headless by "
        f"`App.run_test()` at 180x50 in a fresh process. Slowest filter {slowest_filter:.2f} s; "
        f"slowest step {step_max:.1f} ms.\n\n"
    )
    return head + markdown(["measure", "result", "goal", ""], rows)


def run(events: int, db: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        path = db or Path(directory) / "events.db"
        recorded: dict[str, Any] = {}
        if not Path(f"{path}.live").exists():
            recorded = run_phase("record", path, "--events", str(events))
        command = [sys.executable, "-m", "benchmarks.inspector", "--phase", "measure"]
        done = subprocess.run(
            [*command, "--db", str(path)], cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode != 0:
            sys.exit(f"benchmarks.inspector --phase measure failed:\n{done.stderr}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["record_s"] = recorded.get("record_s", 0.0)
        result["db_mb"] = path.stat().st_size / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="reuse this recorded log (else a fresh one)")
    parser.add_argument("--phase", choices=("measure",), help="only measure, in this process")
    args = parser.parse_args()
    if args.phase == "measure":
        json.dump(measure(args.db), sys.stdout)
        return
    result = run(args.events, args.db)
    text = table(result)
    print(text)
    save("inspector", result, text)


if __name__ == "__main__":
    main()
