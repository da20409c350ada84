"""Shared fixtures: a fresh runner per test, run in the background."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pipebus import WorkerRunner
from pipebus.testing import running


@pytest.fixture
async def runner() -> AsyncIterator[WorkerRunner]:
    """A runner (no signal handling) that the test fills with workers and then runs."""
    yield WorkerRunner(handle_sigint=False, shutdown_timeout=2.0)


@pytest.fixture
def run_in_background():  # type: ignore[no-untyped-def]
    """``async with run_in_background(runner):`` runs it for the block."""
    return running
