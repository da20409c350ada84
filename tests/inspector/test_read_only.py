"""The inspector only reads: stepping through a session leaves its log exactly as it was."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inspector.app import InspectorApp
from inspector.data import open_log
from pipebus.core.errors import EventLogError
from tests.cli.test_read_only_commands import (
    EVENTS,
    SESSION,
    Log,
    file_fingerprint,
    place,  # noqa: F401 (a fixture: a log's place on each backend)
    record,
)
from tests.inspector.sessions import shown

SIZE = (170, 48)


async def test_stepping_to_the_end_of_a_session_writes_nothing(place: Log) -> None:  # noqa: F811
    await record(place.location)
    before = await asyncio.to_thread(place.fingerprint)
    app = InspectorApp(place.location, SESSION[:8])
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app, 1)
        # The state at the last step folds past three due snapshots: a reader used to store them.
        await pilot.press("G")
        screen = await shown(pilot, app, EVENTS)
        assert "speaker" in screen.panel("detail").plain
    assert await asyncio.to_thread(place.fingerprint) == before


async def test_the_inspector_refuses_an_empty_file_and_leaves_it_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    before = file_fingerprint(path)()
    with pytest.raises(EventLogError, match="is empty, not an event log yet"):
        await open_log(path)
    assert file_fingerprint(path)() == before
