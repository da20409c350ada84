"""Rebuilding the projections (goal 3): fold rate, rebuild from the log, ``state_at``.

First records a session of ``--events`` events (1,000,000) with
:mod:`benchmarks.session_mix` (a recording runner's bus, a voice-agent-like mix; see
there how), into a fresh SQLite file, default ``snapshot_every`` (2000). Then, each in
an event loop of its own:

(a) **fold**: ``fold()`` over every event of the session, already read back and
    decoded into envelopes held in memory (median of 3 runs);
(b) **rebuild**: the end-to-end rebuild from the log: read every event back page by
    page (``EventLog.events(session, start, limit=5000)``), decode each
    (``StoredEvent.envelope()``) and fold page by page; the time is split into
    reading, decoding and folding. (b') is the same reading only the types the
    projections fold (``types=FOLDED_TYPES``, as ``SessionReplay`` does); both rates
    are the session's events over the time taken;
(c) **state_at**: ``SessionReplay.state_at(step)`` at the first and last steps and at
    ``--steps`` (20) random ones (after one warm-up call at step 0): min, median, max.

The rebuilt state and ``state_at(last)`` are checked against the live projections'
state at the end of the recording.

    python -m benchmarks.rebuild [--events 1000000] [--steps 20]

Prints one JSON object. ``python -m benchmarks.eventlog`` runs it and compares with
the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import gc
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from benchmarks import session_mix
from benchmarks.common import summary_ms
from pipebus import Envelope, WorkerRunner
from pipebus.core.codec import wire_name
from pipebus.eventlog.store import EventLog
from pipebus.messages import JOB_MESSAGE_TYPES
from pipebus.projections import EMPTY, SessionState, fold
from pipebus.replay import SessionReplay
from pipebus.replay.session import FOLDED_TYPES

PAGE = 5000
T = TypeVar("T")
JOB_TYPES = frozenset(wire_name(t) for t in JOB_MESSAGE_TYPES)
DATA_TYPES = frozenset({"BusFrameMessage", "Transcript"})


async def record_session(path: Path, events: int) -> dict[str, Any]:
    """Record the session; returns its id, size, how long it took and the live state."""
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


async def rebuild(path: Path, session: str, folded_only: bool = False) -> dict[str, Any]:
    """(b) Read back, decode and fold every event (or the folded types), page by page."""
    read = decode = folding = 0.0
    state, position = EMPTY, 0
    types = FOLDED_TYPES if folded_only else None
    async with await EventLog.open(path) as log:
        length = await log.count(session)
        start = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            page = await log.events(session, position + 1, types=types, limit=PAGE)
            t1 = time.perf_counter()
            if not page:
                break
            envelopes = [event.envelope() for event in page]
            t2 = time.perf_counter()
            state = fold(envelopes, state)
            t3 = time.perf_counter()
            read, decode, folding = read + t1 - t0, decode + t2 - t1, folding + t3 - t2
            position = page[-1].seq
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


async def load_envelopes(path: Path, session: str) -> list[Envelope]:
    """Every event of the session, decoded (not timed)."""
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


async def states_at(path: Path, session: str, steps: int, live: SessionState) -> dict[str, Any]:
    """(c) ``state_at`` at the first, the last and ``steps`` random steps."""
    async with await SessionReplay.open(path, session) as replay:
        length = len(replay)
        await replay.state_at(0)  # warm-up: the log's first pooled connection
        rng = random.Random(11)
        chosen = [1, length, *sorted(rng.sample(range(2, length), min(steps, length - 2)))]
        seconds: dict[int, float] = {}
        last: SessionState | None = None
        for step in chosen:
            start = time.perf_counter()
            state = await replay.state_at(step)
            seconds[step] = time.perf_counter() - start
            if step == length:
                last = state
        snapshots = len(await replay.log.snapshot_positions(session))
    assert last is not None
    return {
        **summary_ms(list(seconds.values())),
        "first_ms": seconds[1] * 1000,
        "last_ms": seconds[length] * 1000,
        "steps": len(chosen),
        "snapshots": snapshots,
        "matches_live": (last.registry, last.jobs) == (live.registry, live.jobs),
        "by_step_ms": {str(step): s * 1000 for step, s in seconds.items()},
    }


def run(
    events: int,
    steps: int = 20,
    profiler: cProfile.Profile | None = None,
    phase: str = "rebuild",
) -> dict[str, Any]:
    """The whole benchmark; ``profiler`` (if given) runs during ``phase`` only."""
    logging.disable(logging.WARNING)

    def measured(name: str, action: Callable[[], T]) -> T:
        if profiler is None or name != phase:
            return action()
        profiler.enable()
        try:
            return action()
        finally:
            profiler.disable()

    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        path = Path(directory) / "events.db"
        recorded = asyncio.run(record_session(path, events))
        session, live = recorded["session"], recorded["live"]
        gc.collect()
        rebuilt = measured("rebuild", lambda: asyncio.run(rebuild(path, session)))
        state = rebuilt.pop("state")
        matches = (state.registry, state.jobs) == (live.registry, live.jobs)
        gc.collect()
        folded = asyncio.run(rebuild(path, session, folded_only=True))
        state = folded.pop("state")
        folded["matches_live"] = (state.registry, state.jobs) == (live.registry, live.jobs)

        envelopes = asyncio.run(load_envelopes(path, session))
        shares = mix(envelopes)
        fold_seconds = []
        for _ in range(3):
            gc.collect()
            start = time.perf_counter()
            measured("fold", functools.partial(fold, envelopes))
            fold_seconds.append(time.perf_counter() - start)
        count = len(envelopes)
        del envelopes
        gc.collect()
        state_at = measured("state_at", lambda: asyncio.run(states_at(path, session, steps, live)))
        db_mb = path.stat().st_size / 2**20
    fold_s = statistics.median(fold_seconds)
    return {
        "events": count,
        "record_s": recorded["record_s"],
        "db_mb": db_mb,
        "mix": shares,
        "fold": {"events_per_s": count / fold_s, "seconds": fold_s, "runs_s": fold_seconds},
        "rebuild": {**rebuilt, "matches_live": matches},
        "rebuild_folded_types": folded,
        "state_at": state_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=20, help="random steps for state_at")
    args = parser.parse_args()
    result = run(args.events, args.steps)
    json.dump({"python": sys.version.split()[0], **result}, sys.stdout)


if __name__ == "__main__":
    main()
