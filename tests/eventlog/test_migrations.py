"""Alembic owns the schema: `alembic upgrade head` works, and matches the tables pipebus uses."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from pipebus.eventlog.engine import head_revision
from pipebus.eventlog.schema import metadata
from pipebus.eventlog.store import EventLog

ROOT = Path(__file__).resolve().parents[2]


def alembic(*args: str) -> str:
    command = [sys.executable, "-m", "alembic", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


def test_alembic_upgrade_head_creates_a_log_pipebus_opens(tmp_path: Path) -> None:
    path = tmp_path / "by-alembic.db"
    alembic("-x", f"url={path}", "upgrade", "head")
    assert head_revision() in alembic("-x", f"url={path}", "current")


async def test_the_migrations_build_exactly_the_schema_of_the_code(log_location: str) -> None:
    log = await EventLog.open(log_location)

    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    async with log.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    await log.close()


async def test_alembic_upgrade_head_takes_the_readme_postgresql_url_with_its_schema(
    pg_location: str,
) -> None:
    # The README's form, postgresql://...?schema=NAME, with a schema that does not exist yet.
    readme_form = pg_location.replace("postgresql+asyncpg://", "postgresql://")
    await asyncio.to_thread(alembic, "-x", f"url={readme_form}", "upgrade", "head")
    assert head_revision() in await asyncio.to_thread(
        alembic, "-x", f"url={readme_form}", "current"
    )
    async with await EventLog.open(readme_form, read_only=True) as log:
        assert await log.sessions() == []


def test_alembic_writes_the_sql_of_a_postgresql_schema_offline() -> None:
    sql = alembic("-x", "url=postgresql://nowhere/db?schema=agent", "upgrade", "head", "--sql")
    lines = [line for line in sql.splitlines() if line.strip()]
    assert lines.index('CREATE SCHEMA IF NOT EXISTS "agent";') < lines.index(
        'SET search_path TO "agent";'
    )
    assert lines.index('SET search_path TO "agent";') < next(
        i for i, line in enumerate(lines) if line.startswith("CREATE TABLE alembic_version")
    )


def test_a_log_created_by_alembic_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "by-alembic.db"
    alembic("-x", f"url={path}", "upgrade", "head")
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()
