"""Opening an event log's database: the engine its URL calls for, its schema made current.

The engine comes from the backend's module (:mod:`~pipebus.eventlog.sqlite`,
:mod:`~pipebus.eventlog.postgres`); the schema's history is Alembic's (``migrations/``):
an empty database is created, an older schema upgraded, a newer one or a stranger's
database refused. Every driver error that escapes while opening a log is translated
into an :class:`~pipebus.core.errors.EventLogError` naming the log and what is wrong
with it (the driver's exception stays as ``__cause__``).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from pipebus.core.errors import EventLogError, SchemaVersionError
from pipebus.eventlog import postgres, sqlite
from pipebus.eventlog.driver_errors import reason
from pipebus.eventlog.schema import metadata
from pipebus.eventlog.urls import describe, to_url

logger = logging.getLogger("pipebus.eventlog")

_PACKAGE = Path(__file__).resolve().parents[1]


def migrations_directory() -> Path:
    """Where the Alembic scripts are: in the wheel, or ``migrations/`` of a source tree."""
    for candidate in (_PACKAGE / "_migrations", _PACKAGE.parent / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise EventLogError("pipebus's migration scripts are missing from this installation")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for pipebus's scripts (and ``url``, when given)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest schema revision this pipebus knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    """Every schema revision this pipebus has scripts for."""
    return {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }


def create_engine(location: str | Path) -> AsyncEngine:
    """An async engine for a log path or URL, set up as its backend wants it.

    Raises:
        EventLogError: For an unsupported URL, or PostgreSQL without asyncpg installed.
    """
    url = to_url(location)
    try:
        if url.startswith("sqlite"):
            return sqlite.create_engine(url)
        return postgres.create_engine(url)
    except ModuleNotFoundError as exc:
        raise EventLogError(
            f"cannot open {describe(url)}: the {exc.name} driver is missing; "
            "install it with: pip install 'pipebus[postgres]'"
        ) from exc
    except (SQLAlchemyError, ValueError) as exc:
        raise EventLogError(f"cannot open event log {describe(url)}: {exc}") from exc


def _stored_revision(connection: Connection) -> str | None:
    revision: str | None = MigrationContext.configure(connection).get_current_revision()
    return revision


def _revision_and_tables(connection: Connection) -> tuple[str | None, list[str]]:
    return _stored_revision(connection), inspect(connection).get_table_names()


async def stored_revision(engine: AsyncEngine, where: str) -> str | None:
    """The schema revision the database records (None for an empty database).

    ``where`` names the log in messages.

    Raises:
        EventLogError: If the database cannot be read.
    """
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_stored_revision)
    except SQLAlchemyError as exc:
        raise EventLogError(f"cannot open event log {where}: {reason(exc)}") from exc


def _upgrade(connection: Connection, config: Config) -> None:
    from alembic import command

    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def prepare_schema(engine: AsyncEngine, *, upgrade: bool = True) -> str:
    """Make sure the log's schema is this pipebus's; returns the revision.

    An empty database is created; an older schema is upgraded (unless ``upgrade`` is
    False, then refused).

    Raises:
        SchemaVersionError: If the log was written by a newer pipebus.
        EventLogError: If the file is not a database, is someone else's database, or
            cannot be reached.
    """
    where = describe(str(engine.url))
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    try:
        async with engine.connect() as connection:
            current, tables = await connection.run_sync(_revision_and_tables)
            if current is not None and current == head:
                return current
            if current is not None and current not in {
                s.revision for s in scripts.walk_revisions()
            }:
                raise SchemaVersionError(
                    f"{where} was written by a newer pipebus (schema {current}); "
                    f"this pipebus knows schemas up to {head}: upgrade pipebus to read it"
                )
            ours = {t.name for t in metadata.sorted_tables}
            if current is None and tables and not ours & set(tables):
                raise EventLogError(
                    f"{where} is a database but not a pipebus event log "
                    f"(it holds {', '.join(sorted(tables)[:5])})"
                )
            if not upgrade:
                raise SchemaVersionError(
                    f"{where} has schema {current or 'none'}, not {head}: run `pipebus db upgrade`"
                )
            logger.info("upgrading event log %s from %s to %s", where, current, head)
            await connection.run_sync(_upgrade, alembic_config())
            await connection.commit()
            return str(head)
    except EventLogError:
        raise
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise EventLogError(f"cannot open event log {where}: {reason(exc)}") from exc
