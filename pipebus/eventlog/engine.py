"""Opening an event log's database: the engine, SQLite pragmas, schema upgrade or refusal.

Every driver error that escapes while opening a log is translated into an
:class:`~pipebus.core.errors.EventLogError` naming the log and what is wrong with it
(the driver's exception stays as ``__cause__``).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from pipebus.core.errors import EventLogError, SchemaVersionError
from pipebus.eventlog.schema import metadata
from pipebus.eventlog.urls import describe, split_schema, to_url
from pipebus.eventlog.writer_child import SQLITE_PRAGMAS

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


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL (readers never block the writer), NORMAL sync, patience for locks."""
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _create_schema(schema: str) -> Any:
    """A connect hook making sure the log's schema exists (before search_path needs it)."""

    def create(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        cursor.close()

    return create


def create_engine(location: str | Path) -> AsyncEngine:
    """An async engine for a log path or URL (SQLite pragmas set on every connection).

    Raises:
        EventLogError: For an unsupported URL, or PostgreSQL without asyncpg installed.
    """
    url = to_url(location)
    try:
        if url.startswith("sqlite"):
            engine = create_async_engine(url)
            event.listen(engine.sync_engine, "connect", sqlite_pragmas)
            return engine
        url, schema = split_schema(url)
        if schema is not None and not schema.replace("_", "").isalnum():
            raise EventLogError(f"schema name {schema!r} must be letters, digits and underscores")
        settings = {"search_path": schema} if schema else {}
        engine = create_async_engine(
            url,
            pool_size=5,
            max_overflow=5,
            pool_pre_ping=True,
            connect_args={"server_settings": settings} if settings else {},
        )
        if schema:
            event.listen(engine.sync_engine, "connect", _create_schema(schema))
        return engine
    except ModuleNotFoundError as exc:
        raise EventLogError(
            f"cannot open {describe(url)}: the {exc.name} driver is missing; "
            "install it with: pip install 'pipebus[postgres]'"
        ) from exc
    except (SQLAlchemyError, ValueError) as exc:
        raise EventLogError(f"cannot open event log {describe(url)}: {exc}") from exc


def _current_revision(connection: Connection) -> tuple[str | None, list[str]]:
    context = MigrationContext.configure(connection)
    return context.get_current_revision(), inspect(connection).get_table_names()


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
            current, tables = await connection.run_sync(_current_revision)
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


def reason(error: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's wrapping and links."""
    original = getattr(error, "orig", None) or error
    text = str(original).splitlines()[0] if str(original) else type(original).__name__
    if "file is not a database" in text:
        return "the file is not an SQLite database (corrupt, or not a database at all)"
    return text
