"""Recording a runner's session: everything stamped is committed, in order, whatever happens."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from pipebus import (
    BaseWorker,
    BusDataMessage,
    BusJobRequestMessage,
    EventLogError,
    WorkerRunner,
)
from pipebus.eventlog.store import EventLog
from pipebus.testing import EnvelopeCapture, running


@dataclass
class Note(BusDataMessage):
    n: int = 0


class Echo(BaseWorker):
    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await self.send_job_update(message.job_id, {"half": True})
        await self.send_job_response(message.job_id, {"ok": True})


class Crasher(BaseWorker):
    async def on_bus_message(self, message: object) -> None:
        await super().on_bus_message(message)  # type: ignore[arg-type]
        if isinstance(message, Note) and message.n == 3:
            raise ValueError("three is bad")


async def test_a_run_is_recorded_event_for_event(log_location: str) -> None:
    runner = WorkerRunner(handle_sigint=False, event_log=log_location, session_name="checkout")
    capture = EnvelopeCapture(runner.bus)
    boss = BaseWorker("boss")
    await runner.add_workers(boss, Echo("echo"), Crasher("crasher"))
    async with running(runner):
        for i in range(5):
            await boss.send_bus_message(Note(source="boss", n=i))
        async with boss.job("echo"):
            pass
        await runner.bus.drain()
    log = await EventLog.open(log_location)
    info = await log.session(runner.session_id)
    assert (info.status, info.name, info.runner, info.lost_events) == (
        "ended",
        "checkout",
        runner.name,
        0,
    )
    stored = await log.events(info.id)
    assert [e.message_id for e in stored] == [e.message_id for e in capture.envelopes]
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1)) and info.events == len(stored)
    failed = [e for e in stored if e.type == "BusHandlerErrorMessage"]
    assert len(failed) == 1 and info.errors == 1
    assert failed[0].message.error == "three is bad"  # type: ignore[attr-defined]
    note_three = next(e for e in stored if e.type == "Note" and e.message.n == 3)  # type: ignore[attr-defined]
    assert failed[0].causation_id == note_three.message_id
    await log.close()


async def test_a_cancelled_run_is_marked_cancelled(private_event_log: Path) -> None:
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(BaseWorker("w"))
    async with running(runner):
        await runner.cancel(reason="stop")
    log = await EventLog.open(private_event_log)
    assert (await log.session(runner.session_id)).status == "cancelled"
    await log.close()


async def test_sync_durability_returns_after_the_commit(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    runner = WorkerRunner(handle_sigint=False, event_log=path, durability="sync")
    sender = BaseWorker("sender")
    await runner.add_workers(sender)
    async with running(runner):
        reader = await EventLog.open(path)
        for i in range(5):
            await sender.send_bus_message(Note(source="sender", n=i))
            last = (await reader.events(runner.session_id, limit=1, stop=None, descending=True))[-1]
            assert last.type == "Note" and last.message.n == i  # type: ignore[attr-defined]
        await reader.close()


async def test_senders_wait_when_the_buffer_is_full_and_nothing_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    runner = WorkerRunner(handle_sigint=False, event_log=path, log_buffer=16)
    sender = BaseWorker("sender")
    await runner.add_workers(sender)
    async with running(runner):
        for i in range(2000):
            await sender.send_bus_message(Note(source="sender", n=i))
        recorder = runner.recorder
        assert recorder is not None
        await runner.flush()
        assert recorder.most_buffered <= 16 + 4  # the senders waited (a few system events may add)
    log = await EventLog.open(path)
    notes = await log.events(runner.session_id, types=["Note"])
    assert [e.message.n for e in notes] == list(range(2000))  # type: ignore[attr-defined]
    await log.close()


async def _break_the_events_table(path: Path) -> None:
    breaker = await EventLog.open(path)
    async with breaker.engine.begin() as connection:
        await connection.execute(text("DROP TABLE events"))
    await breaker.close()


async def test_a_log_that_fails_is_logged_once_counted_and_the_bus_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "log.db"
    runner = WorkerRunner(handle_sigint=False, event_log=path)
    sender, echo = BaseWorker("sender"), Echo("echo")
    await runner.add_workers(sender, echo)
    async with running(runner):
        await runner.flush()
        committed = runner.recorder.written  # type: ignore[union-attr]
        await _break_the_events_table(path)
        with caplog.at_level(logging.ERROR, logger="pipebus.eventlog"):
            for i in range(10):
                await sender.send_bus_message(Note(source="sender", n=i))
                await runner.flush()
            async with sender.job("echo", timeout=5) as t:  # the bus still works
                pass
            await runner.flush()
        assert t.response == {"ok": True}
        recorder = runner.recorder
        assert recorder is not None and recorder.lost >= 10
        assert recorder.first_lost_seq == committed + 1
    failures = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None  # once, with its cause
    log = await EventLog.open(path)
    info = await log.session(runner.session_id)
    assert info.first_lost_seq == committed + 1 and info.lost_events == recorder.lost
    await log.close()


class Listener(BaseWorker):
    """Keeps the notes it receives."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.heard: list[int] = []

    async def on_bus_message(self, message: object) -> None:
        await super().on_bus_message(message)
        if isinstance(message, Note):
            self.heard.append(message.n)


async def test_a_strict_log_delivers_only_what_it_stored_and_a_failed_send_is_not_delivered(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    runner = WorkerRunner(handle_sigint=False, event_log=path, strict=True)
    sender, listener = BaseWorker("sender"), Listener("listener")
    await runner.add_workers(sender, listener)
    async with running(runner):
        await sender.send_bus_message(Note(source="sender", n=1))  # stored, then delivered
        await runner.flush()
        await asyncio.sleep(0.05)
        assert listener.heard == [1]
        await _break_the_events_table(path)
        for n in (2, 3):  # each send fails on its own append: a retry would not duplicate
            with pytest.raises(EventLogError, match=r"could not store Note .* not delivered"):
                await sender.send_bus_message(Note(source="sender", n=n))
        await asyncio.sleep(0.05)
        assert listener.heard == [1]
        recorder = runner.recorder
        assert recorder is not None and recorder.lost == 2


async def test_strict_recording_that_cannot_start_fails_the_run(tmp_path: Path) -> None:
    runner = WorkerRunner(
        handle_sigint=False, event_log="postgresql://x@127.0.0.1:1/none", strict=True
    )
    with pytest.raises(EventLogError):
        await runner.run()


async def test_lenient_recording_that_cannot_start_runs_unrecorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = WorkerRunner(handle_sigint=False, event_log="postgresql://x@127.0.0.1:1/none")
    await runner.add_workers(BaseWorker("w"))
    with caplog.at_level(logging.ERROR):
        async with running(runner):
            assert runner.recorder is None
    assert any("not recording this session" in r.getMessage() for r in caplog.records)


async def test_record_deliveries_all_keeps_every_delivery(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    runner = WorkerRunner(handle_sigint=False, event_log=path, record_deliveries="all")
    boss = BaseWorker("boss")
    await runner.add_workers(boss, Echo("echo"))
    async with running(runner):
        async with boss.job("echo") as t:
            pass
    log = await EventLog.open(path)
    request = (await log.events(runner.session_id, types=["BusJobRequestMessage"]))[0]
    (delivery,) = await log.deliveries(runner.session_id, request.message_id)
    assert delivery["subscriber"] == "echo" and delivery["end_ns"] >= delivery["start_ns"]
    assert delivery["error_type"] is None
    assert t.response == {"ok": True}
    await log.close()


async def test_snapshots_are_taken_from_the_live_state(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    runner = WorkerRunner(handle_sigint=False, event_log=path, snapshot_every=5)
    boss = BaseWorker("boss")
    await runner.add_workers(boss, Echo("echo"))
    async with running(runner):
        for _ in range(4):
            async with boss.job("echo"):
                pass
    log = await EventLog.open(path)
    positions = await log.snapshot_positions(runner.session_id)
    count = await log.count(runner.session_id)
    assert positions == list(range(5, count + 1, 5))
    await log.close()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="durability must be one of batch, full, sync"):
        asyncio.run(_run_with(durability="fast"))


async def _run_with(**settings: object) -> None:
    runner = WorkerRunner(handle_sigint=False, **settings)  # type: ignore[arg-type]
    await runner.run()
