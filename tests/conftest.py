"""Shared fixtures: a fresh runner per test, and a private event log for every test.

Runners record by default (``$PIPEBUS_EVENT_LOG``, else ``./pipebus.db``). Each test
gets its own log file, copied from a template migrated once per run, so tests never
share a log and never write into the working directory.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pipebus import WorkerRunner
from pipebus.eventlog.store import EventLog
from pipebus.testing import running


@pytest.fixture(scope="session")
def template_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty event log with the current schema, made once per test run."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def create() -> None:
        log = await EventLog.open(path)
        await log.close()

    asyncio.run(create())
    return path


@pytest.fixture(autouse=True)
def private_event_log(
    template_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point the default event log at a file of this test's own."""
    path = tmp_path / "pipebus.db"
    shutil.copyfile(template_log, path)
    monkeypatch.setenv("PIPEBUS_EVENT_LOG", str(path))
    yield path


@pytest.fixture
async def runner() -> AsyncIterator[WorkerRunner]:
    """A runner (no signal handling) that the test fills with workers and then runs."""
    yield WorkerRunner(handle_sigint=False, shutdown_timeout=2.0)


@pytest.fixture
def run_in_background():  # type: ignore[no-untyped-def]
    """``async with run_in_background(runner):`` runs it for the block."""
    return running
