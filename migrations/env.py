"""Alembic environment of the pipebus event log: async engines, batch mode for SQLite.

pipebus runs migrations itself when it opens a log to record (or for ``pipebus db
upgrade``), handing its own connection in ``config.attributes["connection"]``; the
``alembic`` command opens the log named by ``-x url=...``, ``$PIPEBUS_EVENT_LOG`` or
``sqlalchemy.url`` in alembic.ini the way pipebus does (a path or a URL; a PostgreSQL
URL's ``?schema=name`` is the log's schema, created if missing).
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from pipebus.core.errors import EventLogError
from pipebus.eventlog.engine import create_engine
from pipebus.eventlog.postgres import lock_migrations, split_schema
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
    if connection.dialect.name == "sqlite":
        # A log is in WAL mode (readers never block its writer); the mode is the file's
        # own, set here once the database is known to be a log.
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    """Connect with pipebus's engine for the log (its schema, its pragmas) and migrate."""
    engine = create_engine(database_url())
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await lock_migrations(connection)  # as pipebus does: one migrator at a time
            await connection.run_sync(run_with)
            await connection.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    """Write the migration SQL instead of running it (``alembic upgrade --sql``)."""
    url, schema = split_schema(database_url())
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        if schema is not None:
            if not schema.replace("_", "").isalnum():
                raise EventLogError(
                    f"schema name {schema!r} must be letters, digits and underscores"
                )
            # The online path creates it on connecting and sets it as the search_path.
            context.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            context.execute(f'SET search_path TO "{schema}"')
        context.run_migrations()


shared = config.attributes.get("connection")
if context.is_offline_mode():
    run_offline()
elif shared is not None:
    run_with(shared)
else:
    asyncio.run(run_online())
