"""Re-running recorded inputs through (possibly changed) worker code: regression tests.

The worker runs alone on an isolated in-process bus, attached to a registry named
after its recorded runner. Its recorded inputs are sent to it in recorded order;
before each input, the rerun waits until the worker has sent as many messages as it
had sent by that point of the recording, and compares them. Ids and times are
normalised: a job id the new code generated stands for the recorded one it replaces,
``started_at`` and frame ids are ignored, handler errors compare by type and text.
The first divergence ends the rerun and is reported with its step and, when the
worker sent a different message, a structured diff in pytest's assertion style: each
differing field by its path with both full values, then the full diff of the two
messages (as compared, after the normalisation above).
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import pprint
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipebus.bus.async_queue import AsyncQueueBus
from pipebus.core.describe import describe
from pipebus.core.envelope import Envelope
from pipebus.core.frames import Frame
from pipebus.core.messages import BusHandlerErrorMessage, BusMessage, BusWorkerReadyMessage
from pipebus.live.worker_registry import WorkerRegistry
from pipebus.replay.transcript import Step, Transcript
from pipebus.workers.base import BaseWorker

IGNORED_FIELDS = frozenset({"started_at"})
"""Fields that hold times, different on every run: not compared."""


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where the new code stopped doing what the recording did.

    Attributes:
        step: The recorded step of the expected message (or of the last one, for an
            extra message).
        expected: What the worker sent in the recording (None: nothing more).
        actual: What it sent now (None: nothing within the timeout).
        reason: One sentence.
        diff: For two different messages, the structured diff: the differing fields
            with their full values, then the full diff (see :func:`message_diff`).
    """

    step: int
    expected: BusMessage | None
    actual: BusMessage | None
    reason: str
    diff: tuple[str, ...] = ()

    def __str__(self) -> str:
        expected = describe(self.expected) if self.expected is not None else "nothing"
        actual = describe(self.actual) if self.actual is not None else "nothing"
        lines = [f"step {self.step}: {self.reason}", f"  expected: {expected}"]
        lines.append(f"  actual:   {actual}")
        lines += (f"  {line}" if line else "" for line in self.diff)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class RerunResult:
    """The outcome of a rerun.

    Attributes:
        worker: The worker's name.
        inputs: How many recorded inputs were sent to it.
        compared: How many of its messages matched the recording.
        divergence: The first divergence, or None when everything matched.
    """

    worker: str
    inputs: int
    compared: int
    divergence: Divergence | None

    @property
    def ok(self) -> bool:
        """Whether the new code sent exactly what the recording holds."""
        return self.divergence is None

    def report(self) -> str:
        """A human-readable summary."""
        if self.divergence is None:
            matched = f"{self.compared} message(s) match the recording"
            return f"{self.worker}: {matched} ({self.inputs} inputs)"
        return f"{self.worker} diverges from the recording at {self.divergence}"


class _Outputs:
    """A bus tap keeping what the worker under test sends, and signalling each one."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.messages: list[BusMessage] = []
        self.changed = asyncio.Event()

    def on_envelope(self, envelope: Envelope) -> None:
        if envelope.message.source == self.worker:
            self.messages.append(envelope.message)
            self.changed.set()

    async def wait_for(self, count: int, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                while len(self.messages) < count:
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            return False
        return True


class _Normaliser:
    """Makes recorded and new messages comparable: job ids mapped, times and frame ids dropped."""

    def __init__(self) -> None:
        self.job_ids: dict[str, str] = {}  # recorded job id -> the new run's

    def learn(self, expected: BusMessage, actual: BusMessage) -> None:
        old, new = getattr(expected, "job_id", None), getattr(actual, "job_id", None)
        if isinstance(old, str) and isinstance(new, str) and old not in self.job_ids:
            self.job_ids[old] = new

    def rewrite_input(self, message: BusMessage) -> BusMessage:
        old = getattr(message, "job_id", None)
        if isinstance(old, str) and old in self.job_ids:
            return dataclasses.replace(message, job_id=self.job_ids[old])  # type: ignore[call-arg]
        return message

    def comparable(self, message: BusMessage, *, recorded: bool) -> Any:
        if isinstance(message, BusHandlerErrorMessage):
            return (
                "handler error",
                message.source,
                message.handler,
                message.error_type,
                message.error,
            )
        fields = {}
        for field in dataclasses.fields(message):
            if field.name in IGNORED_FIELDS:
                continue
            value = getattr(message, field.name)
            if field.name == "job_id" and recorded and isinstance(value, str):
                value = self.job_ids.get(value, value)
            fields[field.name] = _plain(value)
        return (type(message).__name__, fields)


def _plain(value: Any) -> Any:
    if isinstance(value, Frame):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in ("id", "name")
        }
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Absent:
    """A field one side has and the other has not."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _differing(expected: Any, actual: Any, path: str) -> list[tuple[str, Any, Any]]:
    """The leaves where two compared values differ, each as (path, expected, actual)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[tuple[str, Any, Any]] = []
        for key in [*expected, *(k for k in actual if k not in expected)]:
            inner = f"{path}[{key!r}]" if path else str(key)
            if key not in actual or key not in expected:
                found.append((inner, expected.get(key, _ABSENT), actual.get(key, _ABSENT)))
            else:
                found += _differing(expected[key], actual[key], inner)
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        found = []
        for index, (old, new) in enumerate(zip(expected, actual, strict=True)):
            found += _differing(old, new, f"{path}[{index}]")
        return found
    return [] if expected == actual else [(path or "message", expected, actual)]


def _as_mapping(compared: Any) -> Any:
    """A compared message as one mapping: its type, then its fields (or the error's parts)."""
    if isinstance(compared, tuple) and len(compared) == 2 and isinstance(compared[1], dict):
        return {"type": compared[0], **compared[1]}
    if isinstance(compared, tuple) and compared and compared[0] == "handler error":
        names = ("kind", "source", "handler", "error_type", "error")
        return dict(zip(names, compared, strict=False))
    return compared


def message_diff(expected: Any, actual: Any) -> tuple[str, ...]:
    """Two compared messages' differences, in pytest's assertion style.

    First each differing field by its path (``update['progress']``) with both values
    in full, never cut (for two strings, where they first differ); then the full
    diff of the two messages, ``-`` for the recording and ``+`` for the new code.
    """
    old, new = _as_mapping(expected), _as_mapping(actual)
    lines = ["Differing fields (expected != actual):"]
    for path, was, now in _differing(old, new, ""):
        lines.append(f"  {path}: {was!r} != {now!r}")
        if isinstance(was, str) and isinstance(now, str):
            pairs = enumerate(zip(was, now, strict=False))
            at = next((i for i, (a, b) in pairs if a != b), None)
            at = min(len(was), len(now)) if at is None else at
            lines.append(
                f"    (the strings first differ at character {at}: {len(was)} and {len(now)} long)"
            )
    lines.append("Full diff (- expected, + actual):")
    left = pprint.pformat(old, width=88, sort_dicts=False).splitlines()
    right = pprint.pformat(new, width=88, sort_dicts=False).splitlines()
    lines += (
        f"  {line.rstrip()}" for line in difflib.ndiff(left, right) if not line.startswith("?")
    )
    return tuple(lines)


class _Comparison:
    """Compares the worker's messages with the recorded ones, each once, in order."""

    def __init__(self, outputs: _Outputs, timeout: float) -> None:
        self.outputs = outputs
        self.timeout = timeout
        self.normaliser = _Normaliser()
        self.expected: list[Step] = []
        self.matched = 0

    async def check(self) -> Divergence | None:
        """Wait for the worker to have sent what it had sent by now; compare what is new."""
        arrived = await self.outputs.wait_for(len(self.expected), self.timeout)
        sent = self.outputs.messages
        while self.matched < len(self.expected):
            step = self.expected[self.matched]
            if self.matched >= len(sent):
                if arrived:
                    return None
                return Divergence(
                    step.seq, step.message, None, f"nothing was sent within {self.timeout}s"
                )
            actual = sent[self.matched]
            self.normaliser.learn(step.message, actual)
            recorded = self.normaliser.comparable(step.message, recorded=True)
            now = self.normaliser.comparable(actual, recorded=False)
            if recorded != now:
                reason = "the worker sent a different message"
                return Divergence(
                    step.seq, step.message, actual, reason, message_diff(recorded, now)
                )
            self.matched += 1
        return None


async def rerun(
    transcript: Transcript,
    make_worker: Callable[[], BaseWorker],
    *,
    timeout: float = 5.0,
) -> RerunResult:
    """Replay a transcript's inputs into a new worker and compare what it sends.

    Args:
        transcript: The recorded inputs and outputs (see :func:`transcript_of`).
        make_worker: Builds the worker under test; it must have the recorded name.
        timeout: Seconds to wait for each expected message before calling it missing.

    Raises:
        ValueError: If the new worker's name is not the recorded one.
    """
    worker = make_worker()
    if worker.name != transcript.worker:
        raise ValueError(
            f"the worker is named {worker.name!r}, the transcript {transcript.worker!r}"
        )
    ready = next(
        (s.message for s in transcript.outputs if isinstance(s.message, BusWorkerReadyMessage)),
        None,
    )
    if ready is not None:
        worker._parent = ready.parent  # a child announces its parent, as it did when recorded
    bus = AsyncQueueBus(runner_name=transcript.runner)
    outputs = _Outputs(worker.name)
    bus.add_tap(outputs)
    await worker.attach(registry=WorkerRegistry(transcript.runner), bus=bus)
    await bus.start()
    task = asyncio.get_running_loop().create_task(worker.run(), name=f"pipebus:rerun:{worker.name}")
    comparison = _Comparison(outputs, timeout)
    inputs = 0
    try:
        for step in transcript.steps:
            if step.kind == "out":
                comparison.expected.append(step)
                continue
            divergence = await comparison.check()
            if divergence is not None:
                return RerunResult(worker.name, inputs, comparison.matched, divergence)
            await bus.send(comparison.normaliser.rewrite_input(step.message))
            inputs += 1
        divergence = await comparison.check()
        if divergence is None:
            await bus.drain()
            if len(outputs.messages) > len(comparison.expected):
                extra = outputs.messages[len(comparison.expected)]
                last = transcript.steps[-1].seq if transcript.steps else 0
                reason = "the worker sent a message the recording does not have"
                divergence = Divergence(last, None, extra, reason)
        return RerunResult(worker.name, inputs, comparison.matched, divergence)
    finally:
        if not task.done():  # the recording ended before the worker did
            task.cancel()
            await asyncio.wait([task], timeout=timeout)
        await bus.stop()
