"""Fixtures of the inspector's tests: the fixed session and the demo's, each in its own log."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pipebus.demo import run_demo
from tests.eventlog.conftest import drop_schema
from tests.inspector.sessions import long_scenario, write_session
from tests.services import need_postgres


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own state directory: saved breakpoints and history never touch the user's."""
    path = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    return path


@pytest.fixture
async def fixed_log(tmp_path: Path) -> Path:
    """A log of this test holding the fixed, synthetic session (25 events)."""
    path = tmp_path / "fixed.db"
    await write_session(path)
    return path


@pytest.fixture
async def long_log(tmp_path: Path) -> Path:
    """A log of this test holding the long session (3,000 events: many screens)."""
    path = tmp_path / "long.db"
    await write_session(path, messages=long_scenario())
    return path


@pytest.fixture
async def demo_log(private_event_log: Path) -> tuple[Path, str]:
    """The demo's session, recorded into this test's own log: (log, session id)."""
    runner = await run_demo(lambda _line: None, failures=True)
    return private_event_log, runner.session_id


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The fixed session in a log of each backend: a file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        location = str(tmp_path / "fixed.db")
        await write_session(location)
        yield location
        return
    base = need_postgres()
    schema = f"pbinspect_{secrets.token_hex(6)}"
    location = f"{base}?schema={schema}"
    await write_session(location)
    yield location
    await drop_schema(base, schema)
