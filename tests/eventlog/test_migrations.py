"""Alembic owns the schema: `alembic upgrade head` works, and matches the tables pipebus uses."""

from __future__ import annotations

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
