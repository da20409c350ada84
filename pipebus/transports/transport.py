"""``TransportBus``: what every bus between processes shares, whatever carries its envelopes.

A published message is delivered to this runner's subscribers at once (no round
trip), then goes to the outbox for the other runners: a targeted message whose target
lives here does not leave the runner at all, and one whose target lives on a known
runner is addressed to that runner only. What the reader brings back is this runner's
own traffic (skipped without decoding when its header says so, the ``runner`` field
itself, never a look for the name anywhere in the bytes), or another runner's envelope,
decoded once and handed to :meth:`~pipebus.bus.base.WorkerBus.receive_envelope`.

The reader survives everything: it reconnects with backoff after any error and says
how long it was cut off (log, counters, and a ``BusTransportGapMessage`` event). A runner
that has published nothing for a heartbeat interval sends a heartbeat; one that stops
sends a goodbye; one silent past the heartbeat timeout is declared lost to the local
runner. A message whose envelope could be over the limit every receiver enforces is
refused before it is stamped.

A transport (Redis pub/sub, a Redis stream, PGMQ queues) implements the I/O only:
connect, read, reconnect, disconnect, and write one batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from abc import abstractmethod
from collections.abc import Callable
from typing import ClassVar

from pipebus.bus.base import WorkerBus
from pipebus.core.codec import encode_message
from pipebus.core.envelope import Envelope
from pipebus.core.errors import TransportError
from pipebus.core.messages import (
    BusMessage,
    BusRunnerHeartbeatMessage,
    BusRunnerLeftMessage,
    BusTransportGapMessage,
)
from pipebus.core.routing import Delivery, delivery_of
from pipebus.core.wire import encode_envelope
from pipebus.transports.backoff import Backoff
from pipebus.transports.inbound import Inbound
from pipebus.transports.limits import ROOMY_CHARS, check_envelope_size
from pipebus.transports.outbox import Entry, Outbox
from pipebus.transports.peers import PeerWatch
from pipebus.transports.stats import Counters, TransportStats

logger = logging.getLogger("pipebus.transports")

OWN_MARKER_WINDOW = 512
"""Bytes of an envelope searched for its ``runner`` field (the header comes first)."""

RUNNER_KEY = b',"runner":'

_STRING = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
HEADER_TO_RUNNER = re.compile(
    rb'\{"v":\d+,"type":' + _STRING + rb',"id":' + _STRING + rb',"session":' + _STRING
    + rb',"seq":\d+,"time":\d+,"runner":'
)  # fmt: skip
"""An envelope's header as :func:`~pipebus.core.wire.encode_envelope` lays it out, up to
the value of its ``runner`` field: every value before it is a scalar, so the match
ends at the header's own field, never at a ``"runner"`` key inside the message."""

TASK_STOP_S = 1.0
"""How long ``stop()`` waits for the reader to end on its cancel before disconnecting."""


class TransportBus(WorkerBus):
    """Base of the buses between processes; see the module docstring.

    Args:
        channel: The name every runner of one application shares.
        heartbeat_interval: Seconds of quiet after which this runner sends a heartbeat.
        heartbeat_timeout: Seconds of silence after which another runner is lost.
        max_pending: Messages waiting to be written before senders wait.
        stop_timeout: Seconds ``stop()`` spends writing what is still queued.
        runner_name: The runner; a ``WorkerRunner`` sets it.
        session_id: The recording session; a ``WorkerRunner`` sets it.

    Raises:
        ValueError: If the heartbeat timeout is not longer than the interval.
    """

    carries_fields_text: ClassVar[bool] = True
    """Every published message crosses the transport as the codec's text: ``send()``
    encodes it first and refuses one the codec cannot write, or one too large for its
    envelope to cross (:mod:`~pipebus.transports.limits`), wherever its target lives."""

    transport_name: ClassVar[str] = "the transport"
    """What carries the envelopes (``"Redis"``, ``"PostgreSQL"``), for log lines and errors."""

    replays_gaps: ClassVar[bool] = False
    """Whether what was published while the reader was cut off is read afterwards."""

    gap_note: ClassVar[str] = ""
    """What a gap means for this transport, for the log."""

    keeps_liveness: ClassVar[bool] = True
    """Whether this bus sends heartbeats and a goodbye (peers that speak pipebus's wire)."""

    connection_errors: ClassVar[tuple[type[BaseException], ...]] = (Exception,)
    """What a lost connection raises: the reader reconnects after these without a
    traceback in the log (after any other exception, with one)."""

    def __init__(
        self,
        *,
        channel: str,
        heartbeat_interval: float = 2.0,
        heartbeat_timeout: float = 10.0,
        max_pending: int = 10_000,
        stop_timeout: float = 5.0,
        runner_name: str | None = None,
        session_id: str | None = None,
    ) -> None:
        super().__init__(runner_name=runner_name, session_id=session_id)
        if heartbeat_interval <= 0 or heartbeat_timeout <= heartbeat_interval:
            raise ValueError(
                f"heartbeat_timeout ({heartbeat_timeout}) must be longer than "
                f"heartbeat_interval ({heartbeat_interval}), which must be positive"
            )
        self.channel = channel
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self._stop_timeout = stop_timeout
        self._counters = Counters()
        self._outbox = Outbox(
            self._write,
            self._counters,
            limit=max_pending,
            label=str(self),
            transport=self.transport_name,
        )
        self._inbound = Inbound(self, self._counters)
        self._peers = PeerWatch(heartbeat_timeout)
        self._runner_of: Callable[[str], str | None] | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._liveness_task: asyncio.Task[None] | None = None
        self._batching = True
        self._cut_since: float | None = None
        self._cut_error = ""
        self._connected_at = 0.0
        self._broadcasts = 0
        self._own_marker = b""

    # --- what a transport implements ---------------------------------------------------

    @abstractmethod
    async def _connect(self) -> None:
        """Get ready to read (subscribe, join, find the position); raise ``TransportError``."""

    @abstractmethod
    async def _read(self) -> None:
        """Read until an error; hand each input to :meth:`_on_raw` or :meth:`_decoded`."""

    @abstractmethod
    async def _reconnect(self) -> None:
        """Get ready to read again after an error; raise if the transport is still away."""

    @abstractmethod
    async def _disconnect(self) -> None:
        """Stop reading and release what the bus holds of the transport."""

    @abstractmethod
    async def _write(self, batch: list[Entry]) -> None:
        """Write one batch in one round trip, in order; raise to have it tried again."""

    def _address(self, runner: str) -> str:
        """Where a message for ``runner``'s workers goes (``""``: to every runner)."""
        return runner

    async def _publish_one(self, data: bytes, message: BusMessage) -> None:
        """Send one envelope now, for a transport that does not batch (``_batching`` off)."""
        raise NotImplementedError(f"{type(self).__name__} writes through its outbox only")

    @property
    def _gap_replayed(self) -> bool:
        """Whether what was published during the gap just ended is read now."""
        return self.replays_gaps

    # --- public ------------------------------------------------------------------------

    def set_runner_lookup(self, lookup: Callable[[str], str | None]) -> None:
        """Find a worker's runner with ``lookup`` (a ``WorkerRunner`` installs its registry's).

        Without it, a message targeted at another runner's worker goes to every runner.
        """
        self._runner_of = lookup

    @property
    def transport_stats(self) -> TransportStats:
        """A snapshot of this bus's transport counters."""
        return self._counters.snapshot(
            pending=self._outbox.pending, connected=self.running and self._cut_since is None
        )

    @property
    def peers(self) -> list[str]:
        """The other runners this bus hears from, by name."""
        return self._peers.runners

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, start reading and writing, then start delivering. Idempotent.

        Raises:
            TransportError: If the transport cannot be reached.
        """
        if self.running:
            return
        self._own_marker = json.dumps(self.runner_name, ensure_ascii=False).encode() + b","
        self._outbox.label = str(self)
        await self._connect()
        self._connected_at = time.monotonic()
        self._outbox.start()
        tasks = self.task_manager
        self._reader_task = tasks.create_task(
            self._read_forever(), name=f"pipebus:{self.runner_name}:reader"
        )
        if self.keeps_liveness:
            self._liveness_task = tasks.create_task(
                self._keep_alive(), name=f"pipebus:{self.runner_name}:liveness"
            )
        await super().start()

    async def stop(self) -> None:
        """Say goodbye, write what is queued, stop reading, then stop delivering. Idempotent."""
        if not self.running:
            return
        if self.keeps_liveness:
            goodbye = BusRunnerLeftMessage(
                source=self.runner_name, runner=self.runner_name, status="left"
            )
            try:
                await self._put_direct(goodbye)
            except Exception as exc:
                logger.warning("%s could not say goodbye: %s", self, exc)
        await self._outbox.close(self._stop_timeout)
        tasks = [task for task in (self._reader_task, self._liveness_task) if task is not None]
        self._reader_task = self._liveness_task = None
        for task in tasks:
            task.cancel()
        _, running = await asyncio.wait(tasks, timeout=TASK_STOP_S) if tasks else (set(), set())
        try:
            await self._disconnect()  # also ends a read that let the cancel go by
        except Exception:
            logger.warning(
                "%s: closing its %s connection failed", self, self.transport_name, exc_info=True
            )
        if running:
            await asyncio.wait(running)
        await super().stop()

    async def drain(self) -> None:
        """Wait until everything queued is written and local deliveries are done."""
        await self._outbox.flushed()
        await super().drain()

    # --- sending -------------------------------------------------------------------------

    def stamp(
        self, message: BusMessage, *, remote: bool = False, fields_json: str | None = None
    ) -> Envelope:
        """Stamp ``message`` (see :meth:`WorkerBus.stamp`), unless it is too large to publish.

        ``send()`` encodes a message's fields before stamping it, so a message to be
        published whose envelope would be over the limit is refused here, before the
        taps (the event log) see it and before anything is delivered.

        Raises:
            MessageTooLargeError: If the envelope of a message to be published could be
                over the 4 MiB every receiver accepts.
        """
        if (
            fields_json is not None
            and len(fields_json) > ROOMY_CHARS
            and delivery_of(type(message)) is Delivery.PUBLISH
        ):
            check_envelope_size(
                message, fields_json, self.session_id, self.runner_name, self.transport_name
            )
        return super().stamp(message, remote=remote, fields_json=fields_json)

    async def publish(self, message: BusMessage) -> None:
        """Stamp ``message``, deliver it here and send it to the other runners.

        Raises:
            EncodeError: If the message cannot be encoded.
            MessageTooLargeError: If its envelope could be over the limit.
            TransportError: If a transport that does not batch fails to send it.
        """
        fields_json = encode_message(message)  # refused before stamping, as by send()
        await self.publish_envelope(self.stamp(message, fields_json=fields_json))

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Deliver locally first, then send the envelope to the other runners.

        A targeted message whose target lives on this runner stays here; one whose
        target's runner is known goes to that runner only (where the transport can
        address it).

        Raises:
            EncodeError: If the message cannot be encoded (it is then not delivered).
            TransportError: If a transport that does not batch fails to send it.
        """
        target = envelope.message.target
        to = ""
        if target is not None:
            if self.subscription(target) is not None:
                self.route(envelope)
                return
            lookup = self._runner_of
            if lookup is not None:
                runner = lookup(target)
                if runner is not None:
                    if runner == self.runner_name:
                        self.route(envelope)
                        return
                    to = self._address(runner)
        data = encode_envelope(envelope)
        self.route(envelope)
        if not to:
            self._broadcasts += 1
        if not self._batching:
            await self._publish_one(data, envelope.message)
            return
        outbox = self._outbox
        outbox.put(to, data)
        if outbox.full:
            await outbox.room()

    async def _put_direct(self, message: BusMessage) -> None:
        """Stamp and send a liveness message to the other runners (not delivered here).

        It never waits for room in the outbox: a goodbye must not hold up ``stop()``.
        """
        data = encode_envelope(self.stamp(message))
        self._broadcasts += 1
        if self._batching:
            self._outbox.put("", data)
        else:
            await self._publish_one(data, message)

    # --- receiving -------------------------------------------------------------------------

    def _on_raw(self, raw: bytes, channel: bytes | str) -> None:
        """One input read: this runner's own (skipped), or decoded and delivered.

        Own only when the header's ``runner`` field names this runner: a message's
        fields may name it too (``"runner": "<this runner>"`` in a payload), and such a
        message is another runner's. Input laid out otherwise is decoded, and
        :meth:`_decoded` compares the decoded runner.
        """
        at = raw.find(RUNNER_KEY, 0, OWN_MARKER_WINDOW)
        if at != -1 and raw.startswith(self._own_marker, at + len(RUNNER_KEY)):
            header = HEADER_TO_RUNNER.match(raw)
            if header is not None and header.end() == at + len(RUNNER_KEY):
                self._counters.own_skipped += 1
                return
        self._decoded(raw, channel)

    def _decoded(self, raw: bytes, channel: bytes | str) -> None:
        if isinstance(channel, bytes):
            channel = channel.decode("utf-8", "replace")
        envelope = self._inbound.decode(raw, channel)
        if envelope is None:
            return
        runner = envelope.runner
        if runner == self.runner_name:
            self._counters.own_skipped += 1
            return
        self._peers.heard(runner, time.monotonic())
        message = envelope.message
        if type(message) is BusRunnerHeartbeatMessage:
            return  # liveness only: recorded by its sender, delivered to nobody
        if type(message) is BusRunnerLeftMessage and message.runner == runner:
            self._peers.left(runner)
        self._counters.received += 1
        self.receive_envelope(envelope)

    def _heard(self, runner: str) -> None:
        """``runner`` wrote something this bus skipped (addressed to another runner)."""
        self._peers.heard(runner, time.monotonic())

    async def _read_forever(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._read()
            except self.connection_errors as exc:
                self._cut_off(exc)
            except Exception as exc:
                logger.exception("%s: reading from %s failed", self, self.transport_name)
                self._cut_off(exc)
            while True:
                await asyncio.sleep(backoff.next())
                try:
                    await self._reconnect()
                    break
                except Exception as exc:
                    logger.debug(
                        "%s: reconnecting to %s failed: %s", self, self.transport_name, exc
                    )
            backoff.reset()
            self._back_on()

    def _cut_off(self, error: BaseException) -> None:
        if self._cut_since is None:
            self._cut_since = time.monotonic()
            self._cut_error = f"{type(error).__name__}: {error}"
            logger.warning(
                "%s lost %s (%s); reconnecting", self, self.transport_name, self._cut_error
            )

    def _back_on(self) -> None:
        now = time.monotonic()
        seconds = now - (self._cut_since if self._cut_since is not None else now)
        self._cut_since = None
        self._counters.reconnects += 1
        self._counters.seconds_cut_off += seconds
        self._connected_at = now
        self._peers.grace(now)
        logger.warning(
            "%s reconnected after %.2fs cut off from %s; %s",
            self,
            seconds,
            self.transport_name,
            self.gap_note,
        )
        self.record(
            BusTransportGapMessage(
                source=self.runner_name,
                channel=self.channel,
                seconds=round(seconds, 3),
                error=self._cut_error,
                replayed=self._gap_replayed,
            )
        )

    # --- liveness -------------------------------------------------------------------------

    async def _keep_alive(self) -> None:
        interval = self.heartbeat_interval
        tick = min(interval, self.heartbeat_timeout / 4)
        last_beat = time.monotonic()
        broadcasts = self._broadcasts
        due = last_beat + tick
        while True:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            now = time.monotonic()
            late = now - due
            due = now + tick
            if now - last_beat >= interval:
                if self._broadcasts == broadcasts and not self._outbox.pending:
                    beat = BusRunnerHeartbeatMessage(
                        source=self.runner_name, runner=self.runner_name, interval=interval
                    )
                    try:
                        await self._put_direct(beat)
                    except TransportError as exc:  # a transport that does not batch is away
                        logger.debug("%s: a heartbeat was not sent: %s", self, exc)
                broadcasts = self._broadcasts
                last_beat = now
            if late > tick:  # this loop was blocked: nobody could be heard meanwhile
                self._peers.grace(now)
            elif self._cut_since is None and now - self._connected_at >= self.heartbeat_timeout:
                for runner, silence in self._peers.silent(now):
                    self._runner_lost(runner, silence)

    def _runner_lost(self, runner: str, silence: float) -> None:
        self._counters.runners_lost += 1
        reason = f"silent for {silence:.1f}s (heartbeat timeout {self.heartbeat_timeout:g}s)"
        logger.warning("%s: runner %r is lost: %s", self, runner, reason)
        lost = BusRunnerLeftMessage(
            source=self.runner_name,
            target=self.runner_name,
            runner=runner,
            status="lost",
            reason=reason,
        )
        self.route(self.stamp(lost))

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.runner_name} on {self.channel!r})"
