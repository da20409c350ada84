"""Commands that read a log never write it: what they cannot read is refused, as one line.

Only recording and ``pipebus db upgrade`` create or migrate a log. Each test takes a
fingerprint of the log (the SQLite file's bytes and the files beside it; every table of
the PostgreSQL schema, row by row) before and after the command.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from pipebus.eventlog import engine as opening
from pipebus.eventlog.engine import head_revision, migrations_directory
from pipebus.eventlog.postgres import split_schema
from pipebus.eventlog.rows import recordable_row
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import Batch
from tests.cli import Run, pipebus, speak_envelopes
from tests.services import need_postgres

READ_ONLY_COMMANDS = [
    ["sessions"],
    ["sessions", "--json"],
    ["show"],
    ["state"],
    ["export", "--json", "-"],
    ["inspect", "--session", "last"],
    ["replay", "--name", "speaker"],
]
"""Every command that only reads (``inspect`` stops at its check, before the terminal UI)."""

READING_COMMANDS = [["sessions"], ["show", "--limit", "3"], ["state"], ["export", "--json", "-"]]
"""Those that print something from a good log without a terminal UI."""

SESSION = "5eed" * 8
EVENTS = 30
SNAPSHOT_EVERY = 10
"""Snapshots are due at steps 10, 20 and 30, but none is stored: folding to the last step
is where a reader would once have stored them."""


class Log:
    """A log at ``location`` and a fingerprint of everything in it."""

    def __init__(self, location: str, fingerprint: Callable[[], object]) -> None:
        self.location = location
        self.fingerprint = fingerprint


def file_fingerprint(path: Path) -> Callable[[], object]:
    def take() -> object:
        beside = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))
        return beside, path.read_bytes() if path.exists() else None

    return take


def schema_fingerprint(location: str) -> Callable[[], object]:
    base, schema = split_schema(location)
    assert schema is not None

    async def take() -> object:
        engine = create_async_engine(base)
        try:
            async with engine.connect() as connection:
                exists = await connection.scalar(
                    text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
                )
                names = (
                    await connection.execute(
                        text(
                            "SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = :s ORDER BY table_name"
                        ),
                        {"s": schema},
                    )
                ).scalars()
                tables: dict[str, list[str]] = {}
                for name in list(names):
                    rows = await connection.exec_driver_sql(f'SELECT * FROM "{schema}"."{name}"')
                    tables[name] = sorted(repr(tuple(row)) for row in rows)
                return exists, tables
        finally:
            await engine.dispose()

    return lambda: asyncio.run(take())


@pytest.fixture(params=["sqlite", "postgresql"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Log]:
    """Where a log of each backend would be, not created yet: a file, a schema of its own."""
    if request.param == "sqlite":
        path = tmp_path / "log.db"
        yield Log(str(path), file_fingerprint(path))
        return
    base = need_postgres()
    schema = f"pbreadonly_{secrets.token_hex(6)}"
    location = f"{base}?schema={schema}"
    yield Log(location, schema_fingerprint(location))
    asyncio.run(run_sql(base, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


async def run_sql(location: str, *statements: str) -> None:
    """Run statements on a log's database behind pipebus's back (in its schema, if any)."""
    base, schema = split_schema(location)
    url = base if "://" in base else f"sqlite+aiosqlite:///{base}"
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            if schema is not None:
                await connection.exec_driver_sql(f'SET search_path TO "{schema}"')
            for statement in statements:
                await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


async def record(location: str) -> None:
    """A session of ``EVENTS`` broadcasts, recorded without its snapshots."""
    async with await EventLog.open(location) as log:
        await log.begin_session(
            SESSION, runner="runner-a", name="synthetic", snapshot_every=SNAPSHOT_EVERY
        )
        writer = log.writer(SESSION)
        rows = [recordable_row(e, SESSION, seq) for seq, e in speak_envelopes(SESSION, EVENTS)]
        await writer.append(Batch(rows, [], []))
        await writer.close()
        await log.end_session(SESSION, "ended")


def refused_unchanged(
    capsys: pytest.CaptureFixture[str], log: Log, command: list[str], *expected: str
) -> Run:
    """Run a command on ``log``: it must fail with one line and leave the log as it was."""
    before = log.fingerprint()
    run = pipebus(capsys, *command, "--db", log.location)
    assert (run.status, run.out) == (1, ""), run
    assert run.err.startswith("pipebus: error: ") and run.err.count("\n") == 1, run.err
    for words in expected:
        assert words in run.err
    assert log.fingerprint() == before
    return run


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=" ".join)
def test_a_database_with_its_own_events_table_is_refused_and_left_as_it_was(
    capsys: pytest.CaptureFixture[str], place: Log, command: list[str]
) -> None:
    if place.location.startswith("postgresql"):
        _, schema = split_schema(place.location)
        asyncio.run(run_sql(need_postgres(), f'CREATE SCHEMA "{schema}"'))
    asyncio.run(
        run_sql(
            place.location,
            "CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)",
            "INSERT INTO events VALUES (1, 'mine')",
        )
    )
    refused_unchanged(capsys, place, command, "not a pipebus event log (it holds events)")


def test_db_upgrade_refuses_a_database_with_its_own_events_table_and_leaves_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "theirs.db"
    asyncio.run(run_sql(str(path), "CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)"))
    log = Log(str(path), file_fingerprint(path))
    for command in (["db", "upgrade"], ["db", "upgrade"], ["db", "current"]):
        refused_unchanged(capsys, log, command, "not a pipebus event log (it holds events)")


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=" ".join)
def test_an_empty_sqlite_file_is_refused_and_stays_empty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    log = Log(str(path), file_fingerprint(path))
    refused_unchanged(capsys, log, command, "is empty, not an event log yet", "pipebus db upgrade")
    assert path.stat().st_size == 0


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=" ".join)
def test_a_postgresql_schema_that_does_not_exist_is_refused_not_created(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    base, schema = need_postgres(), f"pbnosuch_{secrets.token_hex(6)}"
    location = f"{base}?schema={schema}"
    log = Log(location, schema_fingerprint(location))
    assert log.fingerprint() == (0, {})
    try:
        refused_unchanged(capsys, log, command, "has no schema 'pbnosuch_", "?schema=")
    finally:  # what a command that wrongly created it left behind goes too
        asyncio.run(run_sql(base, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def test_an_empty_postgresql_schema_is_refused_and_stays_empty(
    capsys: pytest.CaptureFixture[str], place: Log
) -> None:
    if not place.location.startswith("postgresql"):
        pytest.skip("the SQLite twin is the empty file")
    _, schema = split_schema(place.location)
    asyncio.run(run_sql(need_postgres(), f'CREATE SCHEMA "{schema}"'))
    for command in READ_ONLY_COMMANDS:
        refused_unchanged(capsys, place, command, "is empty, not an event log yet")
    assert place.fingerprint() == (1, {})


@pytest.mark.parametrize("command", READING_COMMANDS, ids=" ".join)
def test_reading_a_log_leaves_it_exactly_as_it_was(
    capsys: pytest.CaptureFixture[str], place: Log, command: list[str]
) -> None:
    asyncio.run(record(place.location))
    before = place.fingerprint()
    run = pipebus(capsys, *command, "--db", place.location)
    assert run.status == 0 and "error" not in run.err
    assert run.out
    assert place.fingerprint() == before


def become_a_newer_pipebus(scripts: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make this pipebus one with a revision after the head: its logs are older then.

    A copy of the migration scripts plus a revision after the head (an index), put where
    pipebus looks for its scripts. Returns the revision that was the head.
    """
    older = head_revision()
    shutil.copytree(migrations_directory(), scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9000_next.py").write_text(
        '"""A revision after the head, for tests."""\n'
        "from alembic import op\n\n"
        f'revision = "9000"\ndown_revision = "{older}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    op.create_index("ix_sessions_name_for_tests", "sessions", ["name"])\n\n\n'
        "def downgrade() -> None:\n"
        '    op.drop_index("ix_sessions_name_for_tests", "sessions")\n'
    )
    monkeypatch.setattr(opening, "migrations_directory", lambda: scripts)
    assert head_revision() == "9000"
    return older


def test_a_log_of_an_older_schema_is_refused_until_db_upgrade_migrates_it(
    capsys: pytest.CaptureFixture[str], place: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(record(place.location))
    older = become_a_newer_pipebus(tmp_path / "migrations", monkeypatch)
    for command in READ_ONLY_COMMANDS:
        refused_unchanged(
            capsys,
            place,
            command,
            f"has schema {older}, older than this pipebus's (9000): run `pipebus db upgrade`",
        )
    upgraded = pipebus(capsys, "db", "upgrade", "--db", place.location)
    assert upgraded.out == f"{place.location}: schema 9000 (head), upgraded from {older}\n"
    listed = pipebus(capsys, "sessions", "--db", place.location)
    assert listed.status == 0 and SESSION[:8] in listed.out
