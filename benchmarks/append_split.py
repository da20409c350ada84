"""Where a recorded send's time goes in the recording process (issue #13).

:mod:`benchmarks.append` gives the whole: CPU per event of a runner sending small data
messages with recording on, and off (the bus's own floor). This times, one at a time
and on the same message, the pieces that recording adds on the sending process:

- **encode**: ``encode_message``, the fields to JSON (msgspec, with pipebus's walk);
- **stamp**: ``bus.stamp`` with the recorder's tap on the bus, less without it: the
  envelope handed to the recorder and its buffer;
- **row**: ``recordable_row``, the envelope to the events table's row;
- **hand-over**: ``marshal.dumps`` of the rows in batches of 2,000, what crosses the
  socket to the writer process.

CPU time, the best of ``--repeat`` rounds of ``--events`` messages each. Prints a
Markdown table and saves ``benchmarks/results/append_split.{json,md}``.

    python -m benchmarks.append_split [--events 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import marshal
import time
from collections.abc import Callable
from typing import Any

from benchmarks.append import Sample, sample
from benchmarks.common import markdown, save, speed_probe_us
from pipebus import AsyncQueueBus
from pipebus.core.codec import encode_message
from pipebus.eventlog.recorder import Recorder
from pipebus.eventlog.rows import recordable_row
from pipebus.eventlog.store import EventLog
from pipebus.observability import Envelope


def best_us(work: Callable[[], object], count: int, repeat: int) -> float:
    """The least CPU time per item of ``work`` (which handles ``count`` items), in us."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best / count * 1e6


async def stamp_costs(messages: list[Sample], repeat: int) -> tuple[float, float]:
    """``bus.stamp`` per message without taps, and with a recorder's tap (not running)."""
    bus = AsyncQueueBus()

    def stamp_bare() -> None:
        for message in messages:
            bus.stamp(message)

    bare = best_us(stamp_bare, len(messages), repeat)
    log = await EventLog.open("sqlite+aiosqlite://")
    recorder = Recorder(log, "split", runner_name="bench", buffer_size=len(messages) * 2)
    bus.add_tap(recorder)

    def stamp_recorded() -> None:
        pending = recorder._pending
        for index, message in enumerate(messages):
            bus.stamp(message)
            if index % 2000 == 1999:  # the encoder's job (measured as "row"), as often
                pending.clear()
        pending.clear()

    tapped = best_us(stamp_recorded, len(messages), repeat)
    await log.close()
    return bare, tapped


def measure(events: int, repeat: int) -> dict[str, Any]:
    messages = [sample(i) for i in range(events)]
    encode = best_us(lambda: [encode_message(m) for m in messages], events, repeat)
    texts = [encode_message(m) for m in messages]
    envelopes = [
        Envelope(m, f"m-{i}", "s", i, i, "r", 1, i + 1, fields_json=t)
        for i, (m, t) in enumerate(zip(messages, texts, strict=True))
    ]
    row = best_us(lambda: [recordable_row(e, "s", e.seq) for e in envelopes], events, repeat)
    rows = [recordable_row(e, "s", e.seq) for e in envelopes]
    batches = [rows[i : i + 2000] for i in range(0, events, 2000)]
    hand_over = best_us(lambda: [marshal.dumps(b) for b in batches], events, repeat)
    bare, tapped = asyncio.run(stamp_costs(messages, repeat))
    return {
        "events": events,
        "encode_us": encode,
        "stamp_us": bare,
        "stamp_with_recorder_us": tapped,
        "row_us": row,
        "hand_over_us": hand_over,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    probe = speed_probe_us()
    result = measure(args.events, args.repeat)
    rows = [
        ["encode the fields (encode_message)", f"{result['encode_us']:.2f} us"],
        [
            "stamp, the recorder's tap included / without taps",
            f"{result['stamp_with_recorder_us']:.2f} / {result['stamp_us']:.2f} us",
        ],
        ["the envelope to a row (recordable_row)", f"{result['row_us']:.2f} us"],
        [
            "hand-over to the writer process (marshal, 2,000 rows a batch)",
            f"{result['hand_over_us']:.2f} us",
        ],
    ]
    text = (
        "### What recording adds to a send, piece by piece\n\n"
        f"CPU per event, best of {args.repeat} rounds of {args.events:,} `Sample` messages "
        f"(benchmarks.append's). Speed probe at the start: {probe:.0f} us.\n\n"
        + markdown(["piece", "CPU per event"], rows)
    )
    print(text)
    save("append_split", result, text)


if __name__ == "__main__":
    main()
