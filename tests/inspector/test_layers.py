"""The inspector's layers, checked by reading its imports: a pure view-model, one data module."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_architecture import imported_roots

INSPECTOR = Path(__file__).resolve().parents[2] / "inspector"
PURE = ["model.py", "query.py", "panels.py", "waterfall.py", "keys.py"]
IO = {"asyncio", "sqlalchemy", "aiosqlite", "asyncpg"}


@pytest.mark.parametrize("module", PURE)
def test_the_view_model_imports_no_io_and_no_textual(module: str) -> None:
    roots = imported_roots(INSPECTOR / module)
    assert not roots & IO
    if module != "keys.py":  # the key table hands Textual its bindings
        assert "textual" not in roots


def test_the_inspector_reads_through_the_logs_query_interface_never_its_tables() -> None:
    readers = sorted(
        str(path.relative_to(INSPECTOR))
        for path in INSPECTOR.rglob("*.py")
        if "sqlalchemy" in imported_roots(path)
        or "pipebus.eventlog.schema" in path.read_text()
        or "select(" in path.read_text()
    )
    assert readers == []  # the event log builds every query; inspector.data asks it


def test_widgets_and_screens_never_query_the_log_themselves() -> None:
    for path in [INSPECTOR / "widgets.py", *(INSPECTOR / "screens").glob("*.py")]:
        text = path.read_text()
        assert "replay." not in text.replace("data.replay.log.url", ""), path.name
        assert "EventLog.open" not in text and "_fetch" not in text, path.name
