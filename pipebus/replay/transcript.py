"""A worker's transcript: what it received and what it sent in a recorded session.

The inputs are the messages delivered to it (targeted at it, or broadcast by others);
the outputs are the messages it sent, including its recorded handler errors and job
verdicts. A transcript is what a regression test replays against new worker code. It
can be saved as a JSONL file (one step per line) and shipped with the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipebus.core.codec import decode_message, encode_message, wire_name
from pipebus.core.errors import DecodeError
from pipebus.core.messages import BusMessage, BusRecordOnly
from pipebus.eventlog.rows import StoredEvent
from pipebus.replay.session import SessionReplay

Kind = Literal["in", "out"]
TRANSCRIPT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Step:
    """One message of a transcript.

    Attributes:
        kind: ``"in"`` (delivered to the worker) or ``"out"`` (sent by it).
        seq: The event's step in the recorded session.
        message: The message.
    """

    kind: Kind
    seq: int
    message: BusMessage


@dataclass(frozen=True, slots=True)
class Transcript:
    """A worker's inputs and outputs in recorded order.

    Attributes:
        worker: The worker's name.
        runner: The runner that hosted it (its registry name, part of its messages).
        session_id: The recorded session.
        steps: Inputs and outputs, in the order the session recorded them.
    """

    worker: str
    runner: str
    session_id: str
    steps: tuple[Step, ...]

    @property
    def inputs(self) -> list[Step]:
        """The messages delivered to the worker."""
        return [s for s in self.steps if s.kind == "in"]

    @property
    def outputs(self) -> list[Step]:
        """The messages the worker sent."""
        return [s for s in self.steps if s.kind == "out"]

    def save(self, path: str | Path) -> None:
        """Write the transcript as JSONL: a header line, then one line per step."""
        lines = [
            json.dumps(
                {
                    "pipebus_transcript": TRANSCRIPT_VERSION,
                    "worker": self.worker,
                    "runner": self.runner,
                    "session": self.session_id,
                }
            )
        ]
        for step in self.steps:
            message = step.message
            lines.append(
                f'{{"kind":"{step.kind}","seq":{step.seq},'
                f'"type":{json.dumps(wire_name(type(message)))},"message":{encode_message(message)}}}'
            )
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Transcript:
        """Read a transcript written by :meth:`save`.

        Raises:
            DecodeError: If the file is not a transcript, naming the line that is wrong.
        """
        rows = Path(path).read_text(encoding="utf-8").splitlines()
        try:
            header = json.loads(rows[0]) if rows else {}
        except ValueError as exc:
            raise DecodeError(f"{path}: line 1 is not JSON: {exc}") from None
        if not isinstance(header, dict) or header.get("pipebus_transcript") != TRANSCRIPT_VERSION:
            raise DecodeError(f"{path} is not a pipebus transcript (version {TRANSCRIPT_VERSION})")
        steps = []
        for number, row in enumerate(rows[1:], start=2):
            try:
                item = json.loads(row)
                kind = item["kind"]
                if kind not in ("in", "out"):
                    raise DecodeError(f"kind {kind!r} is neither 'in' nor 'out'")
                message = decode_message(item["type"], item["message"])
                steps.append(Step(kind, int(item["seq"]), message))
            except (ValueError, KeyError, TypeError) as exc:
                raise DecodeError(f"{path}: line {number}: {exc}") from None
        return cls(
            str(header["worker"]), str(header["runner"]), str(header["session"]), tuple(steps)
        )


def step_of(event: StoredEvent, worker: str) -> Kind | None:
    """Whether a recorded event is an input or an output of ``worker`` (or neither)."""
    if event.source == worker:
        return "out"
    if event.local and issubclass(type(event.message), BusRecordOnly):
        return None
    if event.target == worker:
        return "in"
    if event.target is None:
        return "in"
    return None


async def transcript_of(replay: SessionReplay, worker: str, page: int = 5000) -> Transcript:
    """The transcript of ``worker`` in a recorded session.

    Raises:
        ValueError: If the worker never appears in the session.
    """
    steps: list[Step] = []
    runner: str | None = None
    position = 1
    while True:
        events = await replay.events(position, limit=page)
        for event in events:
            kind = step_of(event, worker)
            if kind is None:
                continue
            if kind == "out" and runner is None:
                runner = event.runner
            steps.append(Step(kind, event.seq, event.message))
        if len(events) < page:
            break
        position = events[-1].seq + 1
    if runner is None:
        raise ValueError(f"worker {worker!r} sent nothing in session {replay.session_id[:8]}")
    return Transcript(worker, runner, replay.session_id, tuple(steps))
