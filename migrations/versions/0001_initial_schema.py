"""The first schema: sessions, events, deliveries, snapshots.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 08:01:00.547024
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('subscriber', sa.String(length=200), nullable=False),
    sa.Column('span_id', sa.String(length=16), nullable=False),
    sa.Column('start_ns', sa.BigInteger(), nullable=False),
    sa.Column('end_ns', sa.BigInteger(), nullable=False),
    sa.Column('error_type', sa.String(length=200), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_session_id_message_id'), ['session_id', 'message_id'], unique=False)

    op.create_table('events',
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('time_ns', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=True),
    sa.Column('priority', sa.String(length=6), nullable=False),
    sa.Column('local', sa.Boolean(), nullable=False),
    sa.Column('job_id', sa.String(length=64), nullable=True),
    sa.Column('runner', sa.String(length=200), nullable=False),
    sa.Column('remote', sa.Boolean(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('trace_id', sa.String(length=32), nullable=False),
    sa.Column('span_id', sa.String(length=16), nullable=False),
    sa.Column('parent_span_id', sa.String(length=16), nullable=True),
    sa.Column('causation_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('session_id', 'seq', name=op.f('pk_events')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_session_id_causation_id'), ['session_id', 'causation_id'], unique=False, sqlite_where=sa.text('causation_id IS NOT NULL'), postgresql_where=sa.text('causation_id IS NOT NULL'))
        batch_op.create_index(batch_op.f('ix_events_session_id_job_id'), ['session_id', 'job_id'], unique=False, sqlite_where=sa.text('job_id IS NOT NULL'), postgresql_where=sa.text('job_id IS NOT NULL'))
        batch_op.create_index(batch_op.f('ix_events_session_id_message_id'), ['session_id', 'message_id'], unique=True)

    op.create_table('sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('runner', sa.String(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('started_ns', sa.BigInteger(), nullable=False),
    sa.Column('ended_ns', sa.BigInteger(), nullable=True),
    sa.Column('heartbeat_ns', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('lost_events', sa.BigInteger(), nullable=False),
    sa.Column('first_lost_seq', sa.BigInteger(), nullable=True),
    sa.Column('snapshot_every', sa.Integer(), nullable=False),
    sa.Column('durability', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions'))
    )
    op.create_table('snapshots',
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('created_ns', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('session_id', 'seq', name=op.f('pk_snapshots')),
    sqlite_with_rowid=False
    )


def downgrade() -> None:
    op.drop_table('snapshots')
    op.drop_table('sessions')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_session_id_message_id'))
        batch_op.drop_index(batch_op.f('ix_events_session_id_job_id'), sqlite_where=sa.text('job_id IS NOT NULL'), postgresql_where=sa.text('job_id IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_events_session_id_causation_id'), sqlite_where=sa.text('causation_id IS NOT NULL'), postgresql_where=sa.text('causation_id IS NOT NULL'))

    op.drop_table('events')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_session_id_message_id'))

    op.drop_table('deliveries')
