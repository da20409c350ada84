"""Shared fixtures: a fresh runner per test, and a private event log for every test.

Runners record by default (``$PIPEBUS_EVENT_LOG``, else ``./pipebus.db``). Each test
gets its own log file (pipebus's pytest plugin copies a template migrated once per
run), so tests never share a log and never write into the working directory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pipebus import WorkerRunner
from pipebus.testing import running

# The loop watchdog is on by default (100 ms) and records a BusLoopBlockedMessage on a
# stall; on a loaded test machine a slow step of any test would add that event to the
# events it compares. Its own tests (tests/workers/test_loop_watchdog.py) turn it on.
os.environ.setdefault("PIPEBUS_LOOP_BLOCKED_MS", "off")


@pytest.fixture(autouse=True)
def private_event_log(pipebus_event_log: Path) -> Path:
    """Every test records into a log of its own (the plugin's ``pipebus_event_log``)."""
    return pipebus_event_log


@pytest.fixture
async def runner() -> AsyncIterator[WorkerRunner]:
    """A runner (no signal handling) that the test fills with workers and then runs."""
    yield WorkerRunner(handle_sigint=False, shutdown_timeout=2.0)


@pytest.fixture
def run_in_background():  # type: ignore[no-untyped-def]
    """``async with run_in_background(runner):`` runs it for the block."""
    return running
