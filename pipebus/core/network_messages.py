"""(pipebus) The messages runners exchange on a network transport, and what it records.

Heartbeats and goodbyes let runners sharing Redis forget each other's workers when a
runner leaves or falls silent; decode errors and gaps are record-only events that say
what a transport could not read and when it was cut off. Re-exported by
:mod:`pipebus.core.messages`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipebus.core.messages import BusRecordOnly, BusSystemMessage


@dataclass
class BusRunnerHeartbeatMessage(BusSystemMessage):
    """(pipebus) A runner on a network transport is alive.

    Sent only by a runner that has published nothing else for a heartbeat interval:
    any message proves that its sender is alive.

    Attributes:
        runner: The runner.
        interval: Seconds between its heartbeats.
    """

    runner: str
    interval: float = 0.0


@dataclass
class BusRunnerLeftMessage(BusSystemMessage):
    """(pipebus) A runner left a network transport; the others forget its workers.

    A runner publishes it as its goodbye when its bus stops (status ``"left"``); a
    runner that stops hearing from another past its heartbeat timeout sends one to
    itself (status ``"lost"``, targeted at its own runner). Either way the receiving
    runner stops each worker of the departed runner it still knows as ready, with a
    local ``BusWorkerStoppedMessage(status="lost")``.

    Attributes:
        runner: The runner that left.
        status: ``"left"`` (its goodbye) or ``"lost"`` (silent too long).
        reason: Why, when known.
    """

    runner: str
    status: str = "left"
    reason: str | None = None


@dataclass
class BusDecodeErrorMessage(BusSystemMessage, BusRecordOnly):
    """(pipebus, record-only) Input on a transport that is not a valid envelope; skipped.

    Attributes:
        kind: ``"oversized"``, ``"not_json"``, ``"not_an_envelope"``,
            ``"newer_version"``, ``"unknown_type"`` or ``"bad_fields"``.
        error: What the decoder said.
        raw_excerpt: The first bytes of the input, as text.
        size: Size of the input in bytes.
        channel: The channel or stream it arrived on.
    """

    kind: str
    error: str
    raw_excerpt: str = ""
    size: int = 0
    channel: str | None = None


@dataclass
class BusTransportGapMessage(BusSystemMessage, BusRecordOnly):
    """(pipebus, record-only) A transport was cut off from its server, then came back.

    Attributes:
        channel: The channel or stream the bus reads.
        seconds: How long the bus could not read.
        error: The error that cut it off.
        replayed: Whether what was published meanwhile was read after the gap
            (streams) or may be lost (pub/sub).
    """

    channel: str
    seconds: float
    error: str
    replayed: bool = False
