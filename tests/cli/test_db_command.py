"""``pipebus db upgrade`` and ``pipebus db current``: the schema revision, by hand."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from pipebus.eventlog.engine import head_revision
from tests.cli import execute, log_path, pipebus, record_session
from tests.eventlog.conftest import drop_schema
from tests.services import need_postgres


def test_db_upgrade_creates_a_fresh_log_and_db_current_finds_it_at_head(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh.db"
    head = head_revision()
    run = pipebus(capsys, "db", "upgrade", "--db", str(fresh))
    assert run.status == 0 and run.err == ""
    assert run.out == f"{fresh}: schema {head} (head), upgraded from none\n"
    assert fresh.exists()
    again = pipebus(capsys, "db", "upgrade", "--db", str(fresh))
    assert again.out == f"{fresh}: schema {head} (head), already up to date\n"
    current = pipebus(capsys, "db", "current", "--db", str(fresh), "--check")
    assert (current.status, current.out) == (0, f"{fresh}: schema {head} (head)\n")


def test_db_current_reads_the_default_log(capsys: pytest.CaptureFixture[str]) -> None:
    run = pipebus(capsys, "db", "current")
    assert run.out == f"{log_path()}: schema {head_revision()} (head)\n"


def tables(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return [name for (name,) in rows]
    finally:
        connection.close()


def test_an_empty_database_has_no_schema_until_upgraded(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    run = pipebus(capsys, "db", "current", "--db", str(empty))
    assert run.status == 0
    assert run.out == (
        f"{empty}: schema none, head is {head_revision()}: run `pipebus db upgrade --db {empty}`\n"
    )
    assert pipebus(capsys, "db", "current", "--db", str(empty), "--check").status == 1
    assert tables(empty) == []  # `db current` changes nothing
    pipebus(capsys, "db", "upgrade", "--db", str(empty))
    assert "alembic_version" in tables(empty)
    assert pipebus(capsys, "db", "current", "--db", str(empty), "--check").status == 0


def test_a_log_from_a_newer_pipebus_is_reported_and_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_session("1234" * 8, events=2)
    execute("UPDATE alembic_version SET version_num = '9999'")
    current = pipebus(capsys, "db", "current", "--check")
    assert current.status == 1
    assert current.out == (
        f"{log_path()}: schema 9999, newer than this pipebus (head {head_revision()}): "
        "upgrade pipebus to read it\n"
    )
    for command in (["sessions"], ["db", "upgrade"], ["show"]):
        refused = pipebus(capsys, *command)
        assert refused.status == 1 and refused.out == ""
        assert refused.err.startswith("pipebus: error: ")
        assert "was written by a newer pipebus (schema 9999)" in refused.err


def test_db_current_does_not_create_a_missing_log(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.db"
    run = pipebus(capsys, "db", "current", "--db", str(missing))
    assert run.status == 1
    assert run.err == (
        f"pipebus: error: no event log at {missing} "
        "(give --db PATH|URL, or set PIPEBUS_EVENT_LOG)\n"
    )
    assert not missing.exists()


def test_db_upgrade_creates_the_postgresql_schema_the_url_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = need_postgres()
    schema = f"pbdb_{secrets.token_hex(6)}"
    # The README's form: postgresql://...?schema=NAME, the schema not created by hand.
    location = f"{base.replace('postgresql+asyncpg://', 'postgresql://')}?schema={schema}"
    try:
        run = pipebus(capsys, "db", "upgrade", "--db", location)
        assert (run.status, run.err) == (0, "")
        assert run.out == f"{location}: schema {head_revision()} (head), upgraded from none\n"
        current = pipebus(capsys, "db", "current", "--db", location, "--check")
        assert current.status == 0
        assert current.out == f"{location}: schema {head_revision()} (head)\n"
        listed = pipebus(capsys, "sessions", "--db", location)
        assert (listed.status, listed.err) == (0, "")
    finally:
        asyncio.run(drop_schema(base, schema))


def test_db_current_names_a_postgresql_schema_that_does_not_exist_and_creates_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = need_postgres()
    schema = f"pbdb_{secrets.token_hex(6)}"
    location = f"{base}?schema={schema}"
    run = pipebus(capsys, "db", "current", "--db", location)
    assert (run.status, run.out) == (1, "")
    assert run.err == (
        f"pipebus: error: {location} has no schema '{schema}': nothing was recorded there "
        f"(check the URL's ?schema=, or run `pipebus db upgrade --db {location}` to create "
        "the log)\n"
    )
    assert not asyncio.run(schema_exists(base, schema))


async def schema_exists(base: str, schema: str) -> bool:
    engine = create_async_engine(base)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
            )
    finally:
        await engine.dispose()
    return bool(found)
