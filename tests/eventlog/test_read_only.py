"""A log opened read-only is never written: not created, not migrated, not recorded into."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipebus.core.errors import EventLogError
from pipebus.eventlog.store import EventLog
from pipebus.projections import SessionState


async def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    with pytest.raises(
        EventLogError, match=r"no event log at .*missing\.db: the file does not exist"
    ):
        await EventLog.open(folder / "missing.db", read_only=True)
    assert list(folder.iterdir()) == []


async def test_a_read_only_log_refuses_to_record_or_store_a_snapshot(log_location: str) -> None:
    async with await EventLog.open(log_location) as log:
        await log.begin_session("s1", runner="r")
    async with await EventLog.open(log_location, read_only=True) as log:
        with pytest.raises(EventLogError, match="opened read-only"):
            log.writer("s1")
        with pytest.raises(EventLogError, match="opened read-only"):
            await log.save_snapshot("s1", SessionState())
        # The database refuses writes by itself too, whatever code tries them.
        with pytest.raises(EventLogError, match="cannot begin a session"):
            await log.begin_session("s2", runner="r")
        assert [info.id for info in await log.sessions()] == ["s1"]
