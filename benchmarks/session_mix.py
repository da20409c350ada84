"""A recorded voice-agent-like session of any length, for the replay benchmark.

How it is made: a recording ``WorkerRunner`` (fresh SQLite file, default durability and
``snapshot_every``) with no worker logic; a generator coroutine sends each message
with ``runner.bus.send()`` (record-only ones, verdicts and handler errors, are only
stamped), so every event goes through the real stamp, taps, live projections, live
snapshots and recorder. A job's answers are sent "from inside" the delivery of its
request (the bus's ``current_delivery`` is set), so they carry its trace and cause
like a worker's would. A seeded RNG makes the session the same on every run.

The mix, by event (measured shares are reported by the benchmark):

- ~50% frames and data between ten workers: ``BusFrameMessage`` carrying a
  ``TextFrame`` or a 160-byte ``AudioFrame`` along transport -> vad -> stt -> llm ->
  tts -> transport, and ``Transcript`` data messages with a dict payload;
- ~40% job traffic, up to 24 jobs open at once: requests from the agent (one in ten
  a group of 2-3 workers with its recorded verdict), progress updates, streams
  (start, 2-6 chunks, end) or responses, a few failures and cancellations;
- ~10% lifecycle: activations and deactivations, worker errors, handler errors,
  workers stopping and coming back, registry snapshots from a second runner.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipebus import (
    BusActivateWorkerMessage,
    BusDataMessage,
    BusDeactivateWorkerMessage,
    BusFrameMessage,
    BusHandlerErrorMessage,
    BusJobCancelMessage,
    BusJobGroupFinishedMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobStreamDataMessage,
    BusJobStreamEndMessage,
    BusJobStreamStartMessage,
    BusJobUpdateMessage,
    BusMessage,
    BusWorkerErrorMessage,
    BusWorkerReadyMessage,
    BusWorkerRegistryMessage,
    BusWorkerStoppedMessage,
    Frame,
    FrameDirection,
    JobStatus,
    WorkerRunner,
)
from pipebus.bus.context import ActiveDelivery, current_delivery
from pipebus.core.types import WorkerRegistryEntry
from pipebus.observability import Envelope

WORKERS = ("agent", "transport", "vad", "stt", "llm", "tts", "memory", "search", "translator")
JOB_WORKERS = ("llm", "tts", "memory", "search", "translator", "stt")
PIPELINE = ("transport", "vad", "stt", "llm", "tts", "transport")
MAX_OPEN_JOBS = 24


@dataclass
class TextFrame(Frame):
    text: str


@dataclass
class AudioFrame(Frame):
    audio: bytes
    sample_rate: int = 16000


@dataclass
class Transcript(BusDataMessage):
    payload: dict[str, Any]


class LastEnvelope:
    """A bus tap keeping the envelope stamped last (a job's answers name it as cause)."""

    def __init__(self) -> None:
        self.last: Envelope | None = None

    def on_envelope(self, envelope: Envelope) -> None:
        self.last = envelope


def job_script(rng: random.Random, job_id: str, n: int) -> Iterator[BusMessage | str]:
    """The messages of one job, in order; ``"request"`` marks where its requests end."""
    workers = rng.sample(JOB_WORKERS, rng.choice((2, 3))) if rng.random() < 0.1 else None
    targets = workers or [rng.choice(JOB_WORKERS)]
    payload = {"text": f"turn {n}", "lang": "en", "n": n}
    for worker in targets:
        yield BusJobRequestMessage(
            source="agent", target=worker, job_id=job_id, job_name="run", payload=payload
        )
    yield "request"
    for worker in targets:
        for step in range(rng.randrange(3)):
            yield BusJobUpdateMessage(
                source=worker, target="agent", job_id=job_id, update={"progress": step * 40}
            )
        if rng.random() < 0.02:
            yield BusJobCancelMessage(source="agent", target=worker, job_id=job_id, reason="barge")
            status = JobStatus.CANCELLED
        else:
            status = JobStatus.FAILED if rng.random() < 0.03 else JobStatus.COMPLETED
        if status is JobStatus.COMPLETED and rng.random() < 0.5:
            yield BusJobStreamStartMessage(source=worker, target="agent", job_id=job_id)
            for chunk in range(rng.randrange(2, 7)):
                data = {"chunk": chunk, "text": "some words of the answer"}
                yield BusJobStreamDataMessage(
                    source=worker, target="agent", job_id=job_id, data=data
                )
            yield BusJobStreamEndMessage(source=worker, target="agent", job_id=job_id)
        else:
            yield BusJobResponseMessage(
                source=worker, target="agent", job_id=job_id, status=status, response={"ok": 1}
            )
    if workers is not None:
        yield BusJobGroupFinishedMessage(source="agent", job_id=job_id, status="completed")


def data_message(rng: random.Random, n: int) -> BusMessage:
    """A frame between two pipeline neighbours, or a transcript broadcast."""
    if rng.random() < 0.4:
        return Transcript(source="stt", payload={"text": "and then we could", "final": n % 7 == 0})
    hop = rng.randrange(len(PIPELINE) - 1)
    frame: Frame
    if PIPELINE[hop] in ("transport", "vad", "tts"):
        frame = AudioFrame(audio=rng.randbytes(160))
    else:
        frame = TextFrame(text=f"hello there {n}")
    direction = FrameDirection.DOWNSTREAM
    return BusFrameMessage(
        source=PIPELINE[hop], target=PIPELINE[hop + 1], frame=frame, direction=direction
    )


def lifecycle_message(rng: random.Random, runner: str, stopped: set[str]) -> BusMessage:
    """An activation, an error, a stop or a comeback, or another runner's snapshot."""
    kind = rng.random()
    worker = rng.choice(WORKERS[1:])
    if worker in stopped:
        stopped.discard(worker)
        return BusWorkerReadyMessage(source=worker, runner=runner, started_at=time.time())
    if kind < 0.6:
        kind_type = BusActivateWorkerMessage if rng.random() < 0.5 else BusDeactivateWorkerMessage
        return kind_type(source="agent", target=worker)
    if kind < 0.75:
        return BusWorkerErrorMessage(source=worker, error="upstream timed out")
    if kind < 0.85:
        return BusHandlerErrorMessage(
            source=worker, message_id=None, handler="on_bus_message", error_type="E", error="x"
        )
    if kind < 0.95:
        stopped.add(worker)
        return BusWorkerStoppedMessage(source=worker, runner=runner, status="failed")
    entries = [WorkerRegistryEntry(name=f"remote-{i}") for i in range(3)]
    return BusWorkerRegistryMessage(source="runner-b", runner="runner-b", workers=entries)


async def generate(runner: WorkerRunner, events: int, seed: int = 7) -> None:
    """Send messages through the running ``runner``'s bus until it stamped ``events``."""
    bus, rng, tap = runner.bus, random.Random(seed), LastEnvelope()
    bus.add_tap(tap)
    for name in WORKERS:
        await bus.send(BusWorkerReadyMessage(source=name, runner=runner.name, started_at=0.0))
    open_jobs: list[tuple[Iterator[BusMessage | str], ActiveDelivery | None]] = []
    stopped: set[str] = set()
    n = 0
    while bus.stats.stamped < events:
        n += 1
        pick = rng.random()
        if pick < 0.1:
            await bus.send(lifecycle_message(rng, runner.name, stopped))
        elif pick < 0.5:
            await bus.send(data_message(rng, n))
        elif len(open_jobs) < MAX_OPEN_JOBS and (not open_jobs or rng.random() < 0.15):
            open_jobs.append((job_script(rng, f"job-{n}", n), None))
        else:
            index = rng.randrange(len(open_jobs))
            script, cause = open_jobs[index]
            message = next(script, None)
            if message is None:
                open_jobs[index] = open_jobs[-1]
                open_jobs.pop()
            elif message == "request":
                assert tap.last is not None
                delivery = ActiveDelivery(tap.last, "worker", time.time_ns())
                open_jobs[index] = (script, delivery)
            else:
                assert isinstance(message, BusMessage)
                token = current_delivery.set(cause)
                try:
                    await bus.send(message)  # record-only ones (verdicts) are only stamped
                finally:
                    current_delivery.reset(token)
    bus.remove_tap(tap)
