"""The counters of a bus between processes: what it wrote, read, skipped, time cut off."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TransportStats:
    """A snapshot of a transport bus's counters, read with ``bus.transport_stats``.

    Attributes:
        published: Envelopes written to the transport (Redis, PostgreSQL).
        batches: Round trips that carried them (one per event-loop turn, or fewer).
        pending: Envelopes waiting to be written now.
        publish_retries: Writes that failed and were tried again.
        unpublished: Envelopes still unwritten when the bus stopped (lost).
        received: Envelopes from other runners handed to the bus.
        own_skipped: This runner's own messages that came back, skipped undecoded.
        not_for_us: Entries addressed to another runner, skipped undecoded (streams).
        duplicates: Envelopes received twice (a retried write), dropped.
        decode_errors: Inputs that were not valid envelopes, by kind.
        reconnects: Times the reader reconnected after losing the transport.
        seconds_cut_off: Total time the reader could not read.
        connected: Whether the reader is connected now.
        runners_lost: Runners declared lost after a silence past the heartbeat timeout.
        trim_gaps: Times a stream runner found entries trimmed before it read them.
    """

    published: int
    batches: int
    pending: int
    publish_retries: int
    unpublished: int
    received: int
    own_skipped: int
    not_for_us: int
    duplicates: int
    decode_errors: dict[str, int]
    reconnects: int
    seconds_cut_off: float
    connected: bool
    runners_lost: int
    trim_gaps: int

    @property
    def decode_error_total(self) -> int:
        """Decode errors of every kind."""
        return sum(self.decode_errors.values())


@dataclass(slots=True)
class Counters:
    """The live, mutable counters behind :class:`TransportStats`."""

    published: int = 0
    batches: int = 0
    publish_retries: int = 0
    unpublished: int = 0
    received: int = 0
    own_skipped: int = 0
    not_for_us: int = 0
    duplicates: int = 0
    decode_errors: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    seconds_cut_off: float = 0.0
    runners_lost: int = 0
    trim_gaps: int = 0

    def snapshot(self, *, pending: int, connected: bool) -> TransportStats:
        """These counters, frozen, with the outbox's size and the reader's state now."""
        return TransportStats(
            published=self.published,
            batches=self.batches,
            pending=pending,
            publish_retries=self.publish_retries,
            unpublished=self.unpublished,
            received=self.received,
            own_skipped=self.own_skipped,
            not_for_us=self.not_for_us,
            duplicates=self.duplicates,
            decode_errors=dict(self.decode_errors),
            reconnects=self.reconnects,
            seconds_cut_off=self.seconds_cut_off,
            connected=connected,
            runners_lost=self.runners_lost,
            trim_gaps=self.trim_gaps,
        )
