"""Alembic environment of the pipebus event log: async engines, batch mode for SQLite.

pipebus runs migrations itself when it opens a log, handing its own connection in
``config.attributes["connection"]``; the ``alembic`` command builds an engine from
``-x url=...``, ``$PIPEBUS_EVENT_LOG`` or ``sqlalchemy.url`` in alembic.ini.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from pipebus.eventlog.schema import metadata
from pipebus.eventlog.urls import to_url

config = context.config


def database_url() -> str:
    """The log to migrate: ``-x url=...``, then ``$PIPEBUS_EVENT_LOG``, then alembic.ini."""
    given = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "PIPEBUS_EVENT_LOG"
    )
    return to_url(given) if given else str(config.get_main_option("sqlalchemy.url"))


def run_with(connection: Connection) -> None:
    """Run the migrations on an open (sync-facing) connection."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    """Connect with an async engine and migrate."""
    engine = create_async_engine(database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_with)
            await connection.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    """Write the migration SQL instead of running it (``alembic upgrade --sql``)."""
    context.configure(url=database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


shared = config.attributes.get("connection")
if context.is_offline_mode():
    run_offline()
elif shared is not None:
    run_with(shared)
else:
    asyncio.run(run_online())
