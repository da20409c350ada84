"""Opening an event log's database: the engine its URL calls for, its schema made current.

The engine comes from the backend's module (:mod:`~pipebus.eventlog.sqlite`,
:mod:`~pipebus.eventlog.postgres`); the schema's history is Alembic's (``migrations/``).
A log is opened in one of two ways:

- **to record** (``read_only=False``): an empty database is created, an older schema
  upgraded; this is what a recording runner and ``pipebus db upgrade`` do.
- **to read** (``read_only=True``): nothing is ever written. The connections refuse
  writes themselves (SQLite ``query_only`` on a file that must exist, a PostgreSQL
  read-only transaction), and a database that is not a current event log (empty, a
  missing PostgreSQL schema, an older schema) is refused with one line saying why.

Either way a newer schema or a stranger's database is refused and left as it is. Every
driver error that escapes while opening a log is translated into an
:class:`~pipebus.core.errors.EventLogError` naming the log and what is wrong with it
(the driver's exception stays as ``__cause__``).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
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

UPGRADE_HINT = "run `pipebus db upgrade`"


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
    return revisions()[0]


def known_revisions() -> set[str]:
    """Every schema revision this pipebus has scripts for."""
    return revisions()[1]


def revisions() -> tuple[str, set[str]]:
    """The head revision and every revision this pipebus has scripts for (one read)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    assert head is not None
    return head, {script.revision for script in scripts.walk_revisions()}


def create_engine(location: str | Path, *, read_only: bool = False) -> AsyncEngine:
    """An async engine for a log path or URL, set up as its backend wants it.

    With ``read_only``, its connections never write: a missing SQLite file is not
    created, a missing PostgreSQL schema neither, and every write is refused by the
    database itself.

    Raises:
        EventLogError: For an unsupported URL, PostgreSQL without asyncpg installed, or
            (``read_only``) an SQLite file that does not exist.
    """
    url = to_url(location)
    missing = sqlite.database_file(url) if read_only else None
    if missing is not None and not missing.exists():
        # Said here, not by a failing connection (which would leave aiosqlite's thread behind).
        raise EventLogError(f"no event log at {missing}: the file does not exist")
    try:
        if url.startswith("sqlite"):
            return sqlite.create_engine(url, read_only=read_only)
        return postgres.create_engine(url, read_only=read_only)
    except ModuleNotFoundError as exc:
        raise EventLogError(
            f"cannot open {describe(url)}: the {exc.name} driver is missing; "
            "install it with: pip install 'pipebus[postgres]'"
        ) from exc
    except (SQLAlchemyError, ValueError) as exc:
        raise EventLogError(f"cannot open event log {describe(url)}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SchemaState:
    """What a database holds, as far as the log's schema goes.

    Attributes:
        revision: The revision Alembic recorded, or None (no ``alembic_version`` row).
        tables: The tables of the log's schema.
        missing_schema: On PostgreSQL, the ``search_path`` naming a schema that does not
            exist (the log's ``?schema=``); None when the schema is there.
    """

    revision: str | None
    tables: tuple[str, ...]
    missing_schema: str | None = None

    @property
    def empty(self) -> bool:
        """Nothing there yet: no tables (or no schema at all)."""
        return not self.tables

    def foreign(self, known: set[str]) -> bool:
        """Someone else's database: tables that no pipebus schema history accounts for.

        Tables without a revision (pipebus logs always have one, Alembic writes it with
        the tables), or a revision this pipebus does not know without pipebus's tables
        (another application's Alembic history).
        """
        if self.revision is None:
            return bool(self.tables)
        ours = {table.name for table in metadata.sorted_tables}
        return self.revision not in known and not ours <= set(self.tables)


def _schema_state(connection: Connection) -> SchemaState:
    if connection.dialect.name == "postgresql":
        # A search_path naming no existing schema leaves current_schema() NULL.
        if connection.exec_driver_sql("SELECT current_schema()").scalar() is None:
            path = connection.exec_driver_sql("SHOW search_path").scalar()
            return SchemaState(None, (), missing_schema=str(path))
    revision: str | None = MigrationContext.configure(connection).get_current_revision()
    return SchemaState(revision, tuple(sorted(inspect(connection).get_table_names())))


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """What the log's database holds (its revision, its tables); changes nothing.

    Raises:
        EventLogError: If the database cannot be read.
    """
    where = describe(str(engine.url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_schema_state)
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise EventLogError(f"cannot open event log {where}: {reason(exc)}") from exc


async def stored_revision(engine: AsyncEngine, where: str) -> str | None:
    """The schema revision the database records (None for an empty database).

    ``where`` names the log in messages.

    Raises:
        EventLogError: If the database cannot be read.
    """
    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(_schema_state)
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise EventLogError(f"cannot open event log {where}: {reason(exc)}") from exc
    return found.revision


def refusal(
    state: SchemaState, where: str, *, upgrade: bool, hint: str = UPGRADE_HINT
) -> EventLogError | None:
    """Why a log in ``state`` cannot be used as it is (None if it can).

    ``upgrade`` says whether the opener may create or upgrade the schema (then an
    empty database or an older schema is fine). ``hint`` is the command that creates
    or upgrades it, for the messages.
    """
    head, known = revisions()
    if state.revision == head:
        return None
    if state.missing_schema is not None:
        return EventLogError(
            f"{where} has no schema {state.missing_schema!r}: nothing was recorded there "
            f"(check the URL's ?schema=, or {hint} to create the log)"
        )
    if state.foreign(known):
        held = ", ".join(state.tables[:5]) + (", ..." if len(state.tables) > 5 else "")
        return EventLogError(
            f"{where} is a database but not a pipebus event log (it holds {held}); "
            "pipebus leaves it as it is"
        )
    if state.revision is not None and state.revision not in known:
        return SchemaVersionError(
            f"{where} was written by a newer pipebus (schema {state.revision}); "
            f"this pipebus knows schemas up to {head}: upgrade pipebus to read it"
        )
    if upgrade:
        return None
    if state.empty:
        return EventLogError(
            f"{where} is empty, not an event log yet: record a session into it, "
            f"or {hint} to create one"
        )
    return SchemaVersionError(
        f"{where} has schema {state.revision or 'none'}, older than this pipebus's "
        f"({head}): {hint} to read it"
    )


def _upgrade(connection: Connection, config: Config) -> None:
    from alembic import command

    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def prepare_schema(engine: AsyncEngine, *, upgrade: bool = True) -> str:
    """Make sure the log's schema is this pipebus's; returns the revision.

    With ``upgrade`` an empty database is created and an older schema upgraded;
    without it (an engine made ``read_only``) nothing is written, and a log that is
    not current is refused.

    Raises:
        SchemaVersionError: If the log was written by a newer pipebus, or is older and
            ``upgrade`` is False.
        EventLogError: If the file is not a database, is someone else's database, is
            empty or misses its schema (when not to ``upgrade``), or cannot be reached.
    """
    where = describe(str(engine.url))
    try:
        async with engine.connect() as connection:
            state = await connection.run_sync(_schema_state)
            head = head_revision()
            if state.revision == head:
                return head
            if upgrade and connection.dialect.name == "postgresql":
                # Several processes may open a new log at once: one migrates, under
                # the lock; the others then look again and find it current.
                await postgres.lock_migrations(connection)
                state = await connection.run_sync(_schema_state)
                if state.revision == head:
                    return head
            refused = refusal(state, where, upgrade=upgrade)
            if refused is not None:
                raise refused
            logger.info("upgrading event log %s from %s to %s", where, state.revision, head)
            await connection.run_sync(_upgrade, alembic_config())
            await connection.commit()
            return head
    except EventLogError:
        raise
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise EventLogError(f"cannot open event log {where}: {reason(exc)}") from exc
