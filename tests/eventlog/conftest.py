"""The event-log fixtures: the same tests on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from pipebus.eventlog.store import EventLog
from tests.services import need_postgres


async def drop_schema(base_url: str, schema: str) -> None:
    engine = create_async_engine(base_url)
    async with engine.begin() as connection:
        await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await engine.dispose()


@pytest.fixture
async def pg_location() -> AsyncIterator[str]:
    """A PostgreSQL log URL with a schema of this test's own, dropped afterwards."""
    base = need_postgres()
    schema = f"pbtest_{secrets.token_hex(6)}"
    yield f"{base}?schema={schema}"
    await drop_schema(base, schema)


@pytest.fixture(params=["sqlite", "postgresql"])
async def log_location(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Where a log of each backend lives (a file, or a PostgreSQL schema)."""
    if request.param == "sqlite":
        yield str(tmp_path / "log.db")
        return
    base = need_postgres()
    schema = f"pbtest_{secrets.token_hex(6)}"
    yield f"{base}?schema={schema}"
    await drop_schema(base, schema)


@pytest.fixture
async def log(log_location: str) -> AsyncIterator[EventLog]:
    """An open event log of each backend."""
    opened = await EventLog.open(log_location)
    yield opened
    await opened.close()
