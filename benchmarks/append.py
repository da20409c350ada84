"""Sustained append (goal 2): 1,000,000 events through a recording runner's bus.

One ``WorkerRunner`` records into a fresh SQLite file in a temporary directory, with the
defaults (``durability="batch"``, ``log_buffer=5_000``, ``snapshot_every=1000``). A
driver coroutine sends ``--events`` small data messages (``Sample``: a dict payload
of four fields, like a partial transcript) with ``runner.bus.send()``; they are
broadcasts that no subscriber takes, so the run measures the recording path: stamp,
recorder buffer, encode, insert, commit. ``--counter`` adds one worker that counts
them (the delivery path too).

Measured: events/s from the first send until ``await runner.flush()`` returns (every
event committed); the send phase alone; the final flush; RSS growth over the runner's
baseline (taken once it runs, after a ``gc.collect()``): the peak during the run (the
kernel's ``VmHWM``, reset at the start) and at the end (after the flush); and the
peak RSS of the log's writer process (all of it: it exists only to record). The log
is reopened afterwards to check that every event was stored. The log's own append
rate, without the bus and the encoding, is :mod:`benchmarks.append_log`.

``--python-gc`` keeps Python's collector thresholds (``$PIPEBUS_GC_THRESHOLD=off``),
which recording otherwise raises (:mod:`pipebus.eventlog.collector`).

``--unrecorded`` runs the same sends on a runner that records nothing: the rate the bus
itself allows, the floor under the recording path, measured the same way (no flush).

``--postgres URL`` records into that PostgreSQL log instead (give it a schema of its
own, ``?schema=``; the tables must exist), a session of this runner's own; ``--wait``
makes it say ``ready`` on stdout once the runner runs and start sending when a line
comes on stdin, so that several runners start at once
(:mod:`benchmarks.eventlog_postgres`). The times are also given as wall-clock
seconds (``start_wall``, ``end_wall``) to combine runners.

    python -m benchmarks.append [--events 1000000] [--counter] [--unrecorded]
        [--postgres URL] [--wait]

Prints one JSON object (with ``--wait``: after the ``ready`` line).
``python -m benchmarks.eventlog`` runs it and compares with the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import (
    child_peak_rss_mb,
    peak_rss_mb,
    ready_then_wait,
    reset_peak_rss,
    rss_mb,
)
from pipebus import BaseWorker, BusDataMessage, BusMessage, WorkerRunner
from pipebus.eventlog.store import EventLog


@dataclass
class Sample(BusDataMessage):
    """A small data message: what an STT worker might broadcast many times a second."""

    payload: dict[str, Any]


class Counter(BaseWorker):
    """Counts the samples it receives; ``done`` is set at the last one."""

    def __init__(self, name: str, expected: int) -> None:
        super().__init__(name)
        self.count = 0
        self.expected = expected
        self.done = asyncio.Event()

    async def on_bus_message(self, message: BusMessage) -> None:
        await super().on_bus_message(message)
        if isinstance(message, Sample):
            self.count += 1
            if self.count == self.expected:
                self.done.set()


def sample(i: int) -> Sample:
    """The ``i``-th message."""
    return Sample(
        source="stt",
        payload={"seq": i, "text": "and then we could meet on", "final": i % 10 == 0, "p": 0.93},
    )


async def measure_unrecorded(events: int, counter: bool) -> dict[str, Any]:
    """The same sends on a runner that records nothing: the bus's own rate."""
    runner = WorkerRunner(handle_sigint=False, event_log=None)
    counting = Counter("consumer", events) if counter else None
    if counting is not None:
        await runner.add_workers(counting)
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    gc.collect()
    bus = runner.bus
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(events):
        await bus.send(sample(i))
    if counting is not None:
        await counting.done.wait()
    end, cpu = time.perf_counter(), time.process_time() - cpu
    await runner.cancel()
    await task
    return {
        "events": events,
        "counter": counter,
        "events_per_s": events / (end - start),
        "total_s": end - start,
        "cpu_s": cpu,
    }


async def measure(
    events: int, counter: bool, directory: Path, postgres: str | None = None, wait: bool = False
) -> dict[str, Any]:
    path = directory / "events.db"
    location: str | Path = postgres or path
    runner = WorkerRunner(handle_sigint=False, event_log=location)
    counting = Counter("consumer", events) if counter else None
    if counting is not None:
        await runner.add_workers(counting)
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    await runner.flush()
    recorder = runner.recorder
    assert recorder is not None, "the runner does not record"
    gc.collect()
    base = rss_mb()
    peak_reset = reset_peak_rss()
    bus = runner.bus
    already = recorder.written
    if wait:
        await ready_then_wait()

    start, start_wall, cpu = time.perf_counter(), time.time(), time.process_time()
    for i in range(events):
        await bus.send(sample(i))
    sent = time.perf_counter()
    if counting is not None:
        await counting.done.wait()
    handled = time.perf_counter()
    await runner.flush()
    end, end_wall, cpu = time.perf_counter(), time.time(), time.process_time() - cpu

    peak, after, writer_peak = peak_rss_mb(), rss_mb(), child_peak_rss_mb()
    written, most_buffered, session = recorder.written - already, recorder.most_buffered, ""
    session = runner.session_id
    await runner.cancel()
    await task
    async with await EventLog.open(location) as log:
        stored = await log.count(session)
    return {
        "events": events,
        "counter": counter,
        "events_per_s": events / (end - start),
        "send_s": sent - start,
        "handled_s": handled - start,
        "flush_s": end - handled,
        "total_s": end - start,
        "start_wall": start_wall,
        "end_wall": end_wall,
        "cpu_s": cpu,
        "written": written,
        "stored": stored,
        "most_buffered": most_buffered,
        "rss_base_mb": base,
        "rss_peak_growth_mb": peak - base if peak_reset else None,
        "rss_end_growth_mb": after - base,
        "writer_rss_peak_mb": writer_peak,
        "db_mb": None if postgres else path.stat().st_size / 2**20,
    }


def run(
    events: int, counter: bool, postgres: str | None = None, wait: bool = False
) -> dict[str, Any]:
    logging.disable(logging.WARNING)
    gc.collect()
    with tempfile.TemporaryDirectory(prefix="pipebus-bench-") as directory:
        return asyncio.run(measure(events, counter, Path(directory), postgres, wait))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--counter", action="store_true", help="add a worker that counts them")
    parser.add_argument("--postgres", metavar="URL", help="record into this PostgreSQL log")
    parser.add_argument("--wait", action="store_true", help="say ready, send on a line of stdin")
    parser.add_argument("--unrecorded", action="store_true", help="the same, recording nothing")
    parser.add_argument(
        "--python-gc", action="store_true", help="keep Python's collector thresholds"
    )
    args = parser.parse_args()
    if args.python_gc:
        os.environ["PIPEBUS_GC_THRESHOLD"] = "off"
    if args.unrecorded:
        logging.disable(logging.WARNING)
        result = asyncio.run(measure_unrecorded(args.events, args.counter))
    else:
        result = run(args.events, args.counter, args.postgres, args.wait)
    json.dump({"python": sys.version.split()[0], **result}, sys.stdout)


if __name__ == "__main__":
    main()
