"""While an event log is open, young collections are rarer; the application's own
settings, and ``$PIPEBUS_GC_THRESHOLD``, are respected."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipebus import BaseWorker, WorkerRunner
from pipebus.eventlog import collector
from pipebus.observability import SessionReplay
from pipebus.testing import running


@pytest.fixture(autouse=True)
def python_defaults(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(collector.ENV_VAR, raising=False)
    monkeypatch.setattr(collector, "_holders", 0)  # logs other tests left open
    monkeypatch.setattr(collector, "_saved", None)
    before = gc.get_threshold()
    gc.set_threshold(collector.PYTHON_DEFAULT, 10, 10)
    yield
    gc.set_threshold(*before)


async def test_recording_raises_the_young_threshold_and_puts_it_back(tmp_path: Path) -> None:
    runner = WorkerRunner(handle_sigint=False, event_log=tmp_path / "log.db")
    await runner.add_workers(BaseWorker("w"))
    async with running(runner):
        assert gc.get_threshold() == (collector.RAISED, 10, 10)
    assert gc.get_threshold() == (collector.PYTHON_DEFAULT, 10, 10)


async def test_a_replay_raises_it_while_open(tmp_path: Path) -> None:
    runner = WorkerRunner(handle_sigint=False, event_log=tmp_path / "log.db")
    await runner.add_workers(BaseWorker("w"))
    async with running(runner):
        pass
    replay = await SessionReplay.open(tmp_path / "log.db")
    assert gc.get_threshold()[0] == collector.RAISED
    await replay.close()
    assert gc.get_threshold()[0] == collector.PYTHON_DEFAULT


async def test_two_recording_runners_hold_it_until_the_last_stops(tmp_path: Path) -> None:
    first = WorkerRunner(handle_sigint=False, event_log=tmp_path / "a.db")
    second = WorkerRunner(handle_sigint=False, event_log=tmp_path / "b.db")
    await first.add_workers(BaseWorker("a"))
    await second.add_workers(BaseWorker("b"))
    async with running(first):
        async with running(second):
            pass
        assert gc.get_threshold()[0] == collector.RAISED
    assert gc.get_threshold()[0] == collector.PYTHON_DEFAULT


async def test_an_applications_own_thresholds_are_left_alone(tmp_path: Path) -> None:
    gc.set_threshold(2000, 5, 5)
    runner = WorkerRunner(handle_sigint=False, event_log=tmp_path / "log.db")
    await runner.add_workers(BaseWorker("w"))
    async with running(runner):
        assert gc.get_threshold() == (2000, 5, 5)
    assert gc.get_threshold() == (2000, 5, 5)


async def test_the_environment_chooses_the_threshold_or_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for setting, during in (("50000", 50_000), ("off", collector.PYTHON_DEFAULT)):
        monkeypatch.setenv(collector.ENV_VAR, setting)
        runner = WorkerRunner(handle_sigint=False, event_log=tmp_path / f"{setting}.db")
        await runner.add_workers(BaseWorker("w"))
        async with running(runner):
            assert gc.get_threshold()[0] == during
        assert gc.get_threshold()[0] == collector.PYTHON_DEFAULT


def test_a_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(collector.ENV_VAR, "lots")
    with pytest.raises(ValueError, match=r"\$PIPEBUS_GC_THRESHOLD='lots': give a number"):
        collector.hold()
