"""The event log's tables, as SQLAlchemy Core (Alembic in ``migrations/`` owns their history).

- ``sessions``: one row per recording session (one ``WorkerRunner.run()``).
- ``events``: every message a runner's bus stamped, by session and gapless sequence.
- ``deliveries``: handler outcomes: every failure, the deliveries that sent messages
  (their span is a parent), and all deliveries with ``record_deliveries="all"``.
- ``snapshots``: the projections' state every N events, so any step is computed from
  the nearest snapshot instead of from the start.

Indexes are few on purpose: every one is paid for on each append. A window of
events is a range of the primary key; a message is found by id (jumping to a cause),
a job's events by job id, a message's effects by causation id.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=True),
    Column("runner", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("version", String(40), nullable=False),
    Column("started_ns", BigInteger, nullable=False),
    Column("ended_ns", BigInteger, nullable=True),
    Column("heartbeat_ns", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("lost_events", BigInteger, nullable=False, default=0),
    Column("first_lost_seq", BigInteger, nullable=True),
    Column("snapshot_every", Integer, nullable=False),
    Column("durability", String(10), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("session_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", String(64), nullable=False),
    Column("time_ns", BigInteger, nullable=False),
    Column("type", String(200), nullable=False),
    Column("source", String(200), nullable=False),
    Column("target", String(200), nullable=True),
    Column("priority", String(6), nullable=False),
    Column("local", Boolean, nullable=False),
    Column("job_id", String(64), nullable=True),
    Column("runner", String(200), nullable=False),
    Column("remote", Boolean, nullable=False),
    Column("payload", Text, nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("parent_span_id", String(16), nullable=True),
    Column("causation_id", String(64), nullable=True),
    Index(None, "session_id", "message_id", unique=True),
    Index(
        None,
        "session_id",
        "job_id",
        sqlite_where=text("job_id IS NOT NULL"),
        postgresql_where=text("job_id IS NOT NULL"),
    ),
    Index(
        None,
        "session_id",
        "causation_id",
        sqlite_where=text("causation_id IS NOT NULL"),
        postgresql_where=text("causation_id IS NOT NULL"),
    ),
    # Clustered on (session_id, seq) in SQLite: reading a window of a session is one
    # range of one B-tree, and an append touches one tree fewer.
    sqlite_with_rowid=False,
)

EVENT_COLUMNS: tuple[str, ...] = tuple(events.columns.keys())
"""The events table's columns, in the order a row holds them (see ``rows.event_row``)."""

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(32), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("subscriber", String(200), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("error_type", String(200), nullable=True),
    Column("error", Text, nullable=True),
    Index(None, "session_id", "message_id"),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("session_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("state", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)
