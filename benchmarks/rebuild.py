"""Rebuilding the projections (goal 3): fold rate, rebuild from the log, ``state_at``.

First records a session of ``--events`` events (1,000,000) with
:mod:`benchmarks.session_mix` (a recording runner's bus, a voice-agent-like mix; see
there how) into a fresh SQLite file, default ``snapshot_every`` (1000); the live
projections' state at the end is kept next to it (``<db>.live``). Then each
measurement runs in a fresh process of its own, over that file, as a user opening
the session would (not in the process that generated it, whose heap holds the whole
session and makes every full garbage collection slow):

(a) ``fold``: ``fold()`` over every event of the session, already read back and
    decoded into envelopes held in memory (median of 3 runs);
(b) ``rebuild``: the end-to-end rebuild from the log of every event: read the rows
    (``EventLog.event_rows(columns=FOLD_COLUMNS)``, pages of 20,000), decode them
    one at a time (``fold_envelopes``) as ``fold()`` takes them, page by page; the
    time is split into reading and decoding + folding. A second run decodes each
    page whole before folding it, to time decoding and folding apart (the split
    shown). (b') the same for the events of the types the projections fold
    (``types=FOLDED_TYPES``): the rate is the library's own ``SessionReplay.rebuild()``,
    the split from a run as above. Rates are the session's events over the time;
(c) ``state_at``: ``SessionReplay.state_at(step)`` at the first and last steps and
    at ``--steps`` (20) random ones (after one warm-up call at step 0): min, median,
    max, and the time spent in garbage collection during the calls; (c') stepping:
    100 calls one step after the other from a random step (the inspector's "next");
(d) ``read``: ``SessionReplay.events()`` over the first 200,000 steps, then each
    event's message decoded, as a tool reading a session back does.

Every rebuilt state, and ``state_at(last)``, is checked against the live state.

    python -m benchmarks.rebuild [--events 1000000] [--steps 20]
    python -m benchmarks.rebuild --phase record --db PATH [--events N]
    python -m benchmarks.rebuild --phase fold|rebuild|state_at --db PATH

Prints one JSON object. ``python -m benchmarks.eventlog`` runs it and compares with
the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import pickle
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import session_mix
from benchmarks.common import ROOT, summary_ms
from pipebus import WorkerRunner
from pipebus.core.codec import wire_name
from pipebus.core.messages import JOB_MESSAGE_TYPES
from pipebus.eventlog.rows import FOLD_COLUMNS, fold_envelopes
from pipebus.eventlog.schema import EVENT_COLUMNS
from pipebus.eventlog.store import EventLog
from pipebus.observability import Envelope
from pipebus.projections import EMPTY, SessionState, fold
from pipebus.replay import SessionReplay
from pipebus.replay.session import FOLDED_TYPES

PAGE = 20_000
PHASES = ("record", "fold", "rebuild", "read", "state_at")
JOB_TYPES = frozenset(wire_name(t) for t in JOB_MESSAGE_TYPES)
DATA_TYPES = frozenset({"BusFrameMessage", "Transcript"})


class GcClock:
    """Time spent in garbage collection, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._start
        self.full += info["generation"] == 2


def live_of(path: Path) -> dict[str, Any]:
    """What the record phase kept: session id, live state, recording time."""
    with open(f"{path}.live", "rb") as kept:
        live: dict[str, Any] = pickle.load(kept)
    return live


def matches(state: SessionState, live: SessionState) -> bool:
    return (state.registry, state.jobs) == (live.registry, live.jobs)


# --- the record phase -----------------------------------------------------------------


async def record_session(path: Path, events: int) -> dict[str, Any]:
    """Record the session; returns its id, how long it took and the live state."""
    runner = WorkerRunner(handle_sigint=False, event_log=path)
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    start = time.perf_counter()
    await session_mix.generate(runner, events)
    await runner.flush()
    seconds = time.perf_counter() - start
    live = SessionState(runner.registry.state, runner.jobs.state, runner.bus.stats.stamped)
    session = runner.session_id
    await runner.cancel()
    await task
    return {"session": session, "live": live, "record_s": seconds}


def record(path: Path, events: int) -> dict[str, Any]:
    recorded = asyncio.run(record_session(path, events))
    with open(f"{path}.live", "wb") as kept:
        pickle.dump(recorded, kept)
    return {"session": recorded["session"], "record_s": recorded["record_s"]}


# --- (a) fold in memory -----------------------------------------------------------------


async def load_envelopes(path: Path, session: str) -> list[Envelope]:
    """Every event of the session as the bus stamped it (not timed)."""
    envelopes: list[Envelope] = []
    async with await EventLog.open(path) as log:
        while page := await log.events(session, len(envelopes) + 1, limit=PAGE):
            envelopes += [event.envelope() for event in page]
    return envelopes


def mix(envelopes: list[Envelope]) -> dict[str, float]:
    """The session's shares of data/frames, job traffic and lifecycle events."""
    types = Counter(type(e.message).__name__ for e in envelopes)
    total = sum(types.values())
    data = sum(n for t, n in types.items() if t in DATA_TYPES)
    jobs = sum(n for t, n in types.items() if t in JOB_TYPES)
    job_ids = len({e.job_id for e in envelopes if e.job_id is not None})
    return {
        "data_share": data / total,
        "job_share": jobs / total,
        "lifecycle_share": (total - data - jobs) / total,
        "jobs": job_ids,
    }


def measure_fold(path: Path) -> dict[str, Any]:
    kept = live_of(path)
    envelopes = asyncio.run(load_envelopes(path, kept["session"]))
    shares = mix(envelopes)
    runs, state = [], EMPTY
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        state = fold(envelopes)
        runs.append(time.perf_counter() - start)
    seconds = statistics.median(runs)
    return {
        "events": len(envelopes),
        "mix": shares,
        "fold": {
            "events_per_s": len(envelopes) / seconds,
            "seconds": seconds,
            "runs_s": runs,
            "matches_live": matches(state, kept["live"]),
        },
    }


# --- (b) rebuild from the log -----------------------------------------------------------


async def rebuild_from_log(
    path: Path, session: str, folded_only: bool, streamed: bool
) -> dict[str, Any]:
    """Read, decode and fold page by page, timing each stage.

    ``streamed`` decodes and folds one envelope at a time (as ``SessionReplay`` does),
    timed together; otherwise a page is decoded whole, then folded, timed apart.
    """
    read = decode = folding = 0.0
    state, position = EMPTY, 0
    types = FOLDED_TYPES if folded_only else None
    async with await EventLog.open(path) as log:
        length = await log.count(session)
        start = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            rows = await log.event_rows(
                session, position + 1, columns=FOLD_COLUMNS, types=types, limit=PAGE
            )
            t1 = time.perf_counter()
            if not rows:
                break
            if streamed:
                state = fold(fold_envelopes(rows, session), state)
                t2 = t1
            else:
                envelopes = list(fold_envelopes(rows, session))
                t2 = time.perf_counter()
                state = fold(envelopes, state)
                del envelopes
            t3 = time.perf_counter()
            read, decode, folding = read + t1 - t0, decode + t2 - t1, folding + t3 - t2
            position = rows[-1][0]
            del rows
        seconds = time.perf_counter() - start
    return {
        "state": state,
        "events": length,
        "folded": state.events,
        "events_per_s": length / seconds,
        "seconds": seconds,
        "read_s": read,
        "decode_s": decode,
        "fold_s": folding,
    }


async def replay_rebuild(path: Path, session: str) -> tuple[SessionState, float, int]:
    """``SessionReplay.rebuild()``: the library's own streamed rebuild."""
    async with await SessionReplay.open(path, session) as replay:
        start = time.perf_counter()
        state = await replay.rebuild()
        return state, time.perf_counter() - start, len(replay)


def measure_rebuild(path: Path) -> dict[str, Any]:
    kept = live_of(path)
    session, live = kept["session"], kept["live"]
    results: dict[str, Any] = {}
    for name, folded_only, streamed in (
        ("rebuild", False, True),
        ("rebuild_split", False, False),
        ("rebuild_folded_types_split", True, False),
    ):
        gc.collect()
        result = asyncio.run(rebuild_from_log(path, session, folded_only, streamed))
        result["matches_live"] = matches(result.pop("state"), live)
        results[name] = result
    gc.collect()
    state, seconds, length = asyncio.run(replay_rebuild(path, session))
    results["rebuild_folded_types"] = {
        "events": length,
        "folded": results["rebuild_folded_types_split"]["folded"],
        "events_per_s": length / seconds,
        "seconds": seconds,
        "matches_live": matches(state, live),
    }
    return results


# --- (d) reading back, decoded ----------------------------------------------------------

READ_STEPS = 200_000


async def read_decoded(path: Path, session: str) -> dict[str, Any]:
    """``SessionReplay.events()`` over the first steps, every message decoded."""
    async with await SessionReplay.open(path, session) as replay:
        start = time.perf_counter()
        stored = await replay.events(1, READ_STEPS + 1)
        read = time.perf_counter()
        for event in stored:
            event.message  # noqa: B018 (decoding is what is measured)
        end = time.perf_counter()
    return {
        "events": len(stored),
        "events_per_s": len(stored) / (end - start),
        "read_s": read - start,
        "decode_s": end - read,
        **read_floor(path, session),
    }


def read_floor(path: Path, session: str) -> dict[str, float]:
    """The same rows read with the standard library alone: sqlite3 fetching every
    column, then ``json.loads`` of each payload (no messages built): the floor."""
    connection = sqlite3.connect(path)
    start = time.perf_counter()
    rows = connection.execute(
        "SELECT * FROM events WHERE session_id = ? AND seq <= ? ORDER BY seq",
        (session, READ_STEPS),
    ).fetchall()
    fetched = time.perf_counter()
    payload = EVENT_COLUMNS.index("payload")
    loads = json.loads
    for row in rows:
        loads(row[payload])
    end = time.perf_counter()
    connection.close()
    return {"floor_fetch_s": fetched - start, "floor_parse_s": end - fetched}


def measure_read(path: Path) -> dict[str, Any]:
    gc.collect()
    return {"read": asyncio.run(read_decoded(path, live_of(path)["session"]))}


# --- (c) state_at -------------------------------------------------------------------------


async def states_at(path: Path, session: str, steps: int, live: SessionState) -> dict[str, Any]:
    """``state_at`` at the first, the last and ``steps`` random steps, then stepping."""
    clock = GcClock()
    start = time.perf_counter()
    async with await SessionReplay.open(path, session) as replay:
        opened = time.perf_counter() - start
        length = len(replay)
        await replay.state_at(0)  # warm-up: the snapshot query's first use
        rng = random.Random(11)
        chosen = [1, length, *sorted(rng.sample(range(2, length), min(steps, length - 2)))]
        seconds: dict[int, float] = {}
        in_gc: dict[int, float] = {}
        full_gcs = clock.full
        last: SessionState | None = None
        for step in chosen:
            gc_before, start = clock.seconds, time.perf_counter()
            state = await replay.state_at(step)
            seconds[step] = time.perf_counter() - start
            in_gc[step] = clock.seconds - gc_before
            if step == length:
                last = state
        full_gcs = clock.full - full_gcs
        origin = rng.randrange(1, length - 100)
        stepping = []
        for step in range(origin, origin + 101):
            start = time.perf_counter()
            stepped = await replay.state_at(step)
            stepping.append(time.perf_counter() - start)
        snapshots = len(await replay.log.snapshot_positions(session))
    async with await SessionReplay.open(path, session) as fresh:
        stepped_ok = (await fresh.state_at(origin + 100)) == stepped
    assert last is not None
    return {
        **summary_ms(list(seconds.values())),
        "open_ms": opened * 1000,
        "first_ms": seconds[1] * 1000,
        "last_ms": seconds[length] * 1000,
        "steps": len(chosen),
        "gc_ms": sum(in_gc.values()) * 1000,
        "gc_max_ms": max(in_gc.values()) * 1000,
        "full_gcs": full_gcs,
        "snapshots": snapshots,
        "matches_live": matches(last, live),
        "by_step_ms": {str(step): s * 1000 for step, s in seconds.items()},
        "stepping": {
            "from": origin,
            **summary_ms(stepping[1:]),
            "first_ms": stepping[0] * 1000,
            "matches_uncached": stepped_ok,
        },
    }


def measure_state_at(path: Path, steps: int = 20) -> dict[str, Any]:
    kept = live_of(path)
    return {"state_at": asyncio.run(states_at(path, kept["session"], steps, kept["live"]))}


def measure(phase: str, path: Path, events: int = 1_000_000, steps: int = 20) -> dict[str, Any]:
    """One phase, in this process."""
    logging.disable(logging.WARNING)
    if phase == "record":
        return record(path, events)
    if phase == "fold":
        return measure_fold(path)
    if phase == "rebuild":
        return measure_rebuild(path)
    if phase == "read":
        return measure_read(path)
    return measure_state_at(path, steps)


# --- all of it, each phase in a fresh process ---------------------------------------------


def run_phase(phase: str, path: Path, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.rebuild", "--phase", phase, "--db", str(path)]
    done = subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmarks.rebuild --phase {phase} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run(events: int, steps: int = 20) -> dict[str, Any]:
    """Record into a temporary directory, then measure each phase in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        path = Path(directory) / "events.db"
        recorded = run_phase("record", path, "--events", str(events))
        folded = run_phase("fold", path)
        rebuilt = run_phase("rebuild", path)
        read = run_phase("read", path)
        state_at = run_phase("state_at", path, "--steps", str(steps))
        db_mb = path.stat().st_size / 2**20
    return {
        "record_s": recorded["record_s"],
        "db_mb": db_mb,
        **folded,
        **rebuilt,
        **read,
        **state_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=20, help="random steps for state_at")
    parser.add_argument("--phase", choices=PHASES, help="only this phase, in this process")
    parser.add_argument("--db", type=Path, help="the log a phase records into or reads")
    args = parser.parse_args()
    if args.phase is None:
        result = run(args.events, args.steps)
    elif args.db is None:
        parser.error("--phase needs --db")
    else:
        result = measure(args.phase, args.db, args.events, args.steps)
    json.dump({"python": sys.version.split()[0], **result}, sys.stdout)


if __name__ == "__main__":
    main()
