"""The writer interface: what one transaction appends, and the ``Writer`` every backend is.

:meth:`EventLog.writer() <pipebus.eventlog.store.EventLog.writer>` picks the backend:
:class:`~pipebus.eventlog.sqlite.SqliteWriter` (a writer process of its own) or
:class:`~pipebus.eventlog.postgres.PostgresWriter` (a connection of its own). The
recorder's :class:`~pipebus.eventlog.committer.Committer` is their one caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pipebus.bus.context import ActiveDelivery
from pipebus.projections import SessionState


@dataclass(slots=True)
class DeliveryRecord:
    """A finished delivery the recorder keeps (a failure, or any, if asked to keep all)."""

    message_id: str
    subscriber: str
    span_id: int
    start_ns: int
    end_ns: int
    error_type: str | None
    error: str | None

    @classmethod
    def of(
        cls, delivery: ActiveDelivery, end_ns: int, error: BaseException | None
    ) -> DeliveryRecord:
        """The record of one delivery."""
        return cls(
            delivery.envelope.message_id,
            delivery.subscriber,
            delivery.span_id,
            delivery.start_ns,
            end_ns,
            type(error).__name__ if error is not None else None,
            str(error) if error is not None else None,
        )


@dataclass(slots=True)
class Batch:
    """What one transaction appends.

    Attributes:
        rows: Event rows (values in the order of
            :data:`~pipebus.eventlog.schema.EVENT_COLUMNS`); in shared mode their
            positions are assigned by the writer, under the session's lock.
        deliveries: Delivery records.
        snapshots: States to store, with the position each was taken after.
    """

    rows: list[tuple[Any, ...]]
    deliveries: list[DeliveryRecord]
    snapshots: list[tuple[int, SessionState]]


class Writer(Protocol):
    """Appends one session's batches to the log: a group-committed, ordered log.

    Group commit: a batch is whatever the recorder gathered meanwhile, and it is one
    transaction, committed whole or not at all; a writer may commit several batches
    that arrived together in one transaction (the SQLite writer process does).

    Ordering: up to :attr:`in_flight` batches may be handed over before the first is
    committed; they are committed in the order they were handed over. With one
    runner (exclusive), a row's position is the one the recorder gave it, the bus's
    send order. With several runners recording one session (shared, PostgreSQL), the
    writer numbers the rows after the session's last position under a lock on the
    session, drops messages another runner recorded already, and so commits in
    position order: a reader following the log by position never skips a row.

    On failure: :meth:`append` raises :class:`~pipebus.core.errors.EventLogError`
    (the driver's error as its ``__cause__``) and nothing of the batch is stored; the
    recorder counts its events as lost and marks the session with :meth:`mark_lost`.
    The writer recovers by itself: the next call opens a fresh connection (or starts
    a fresh writer process), so later batches land and the loss stays a counted gap.

    Durability is the session's setting (see :mod:`pipebus.eventlog.recorder`): with
    ``"full"`` each commit waits until the database has it on disk (SQLite
    ``synchronous=FULL``; PostgreSQL ``synchronous_commit=on``, as with ``"sync"``).
    """

    in_flight: int
    """How many batches the recorder may hand over before the first is committed."""

    async def append(self, batch: Batch) -> int:
        """Append a batch; returns the position of its last event (-1: it had none).

        Raises:
            EventLogError: If the batch was not committed (none of it is stored).
        """

    async def mark_lost(self, lost: int, first_lost_seq: int | None) -> None:
        """Record on the session how many events were lost and where the loss began.

        Raises:
            EventLogError: If the log still cannot be written.
        """

    async def close(self) -> None:
        """Commit what was handed over, then release the connection (or the process)."""
