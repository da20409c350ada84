"""The loop watchdog: a handler that blocks the event loop is recorded, with who and where."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipebus import BaseWorker, BusEndWorkerMessage, BusMessage, WorkerRunner
from pipebus.core.messages import BusLoopBlockedMessage
from pipebus.replay import SessionReplay
from pipebus.testing import EnvelopeCapture, running
from pipebus.workers.loop_watchdog import DEFAULT_THRESHOLD_MS, threshold_from


class BlocksOnEnd(BaseWorker):
    """Calls blocking code (time.sleep) in its handler when told to end."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(name)
        self.seconds = seconds

    async def on_bus_message(self, message: BusMessage) -> None:
        if isinstance(message, BusEndWorkerMessage):
            time.sleep(self.seconds)  # noqa: ASYNC251 (the blocking call under test)
        await super().on_bus_message(message)


async def test_a_handler_that_blocks_the_loop_is_recorded_with_its_handler_and_message(
    private_event_log: Path,
) -> None:
    runner = WorkerRunner(handle_sigint=False, loop_blocked_ms=100)
    capture = EnvelopeCapture(runner.bus)
    await runner.add_workers(BlocksOnEnd("sleepy", 0.4))
    async with running(runner):
        await runner.end(reason="bye")
    end = next(e for e in capture.envelopes if isinstance(e.message, BusEndWorkerMessage))
    stalls = [e for e in capture.envelopes if isinstance(e.message, BusLoopBlockedMessage)]
    assert len(stalls) == 1
    stall = stalls[0].message
    assert isinstance(stall, BusLoopBlockedMessage)
    assert stall.source == "sleepy"
    assert stall.handler == "BlocksOnEnd.on_bus_message"
    assert stall.message_id == end.message_id
    assert stalls[0].causation_id == end.message_id  # the inspector's "cause" of the stall
    assert 300 <= stall.blocked_ms < 5000  # 400 ms, less at most one timer interval (50 ms)
    assert stall.threshold_ms == 100
    assert stall.blocked_in is not None and "test_loop_watchdog.py" in stall.blocked_in
    assert "time.sleep(self.seconds)" in stall.traceback
    assert runner.loop_watchdog is not None and runner.loop_watchdog.stalls == 1
    # ... and the event log has it, for `pipebus show` and the inspector.
    async with await SessionReplay.open(private_event_log, "last") as replay:
        recorded = await replay.events(types=["BusLoopBlockedMessage"])
    assert [(e.source, e.causation_id) for e in recorded] == [("sleepy", end.message_id)]


async def test_a_short_block_under_the_threshold_records_nothing() -> None:
    runner = WorkerRunner(handle_sigint=False, event_log=None, loop_blocked_ms=400)
    capture = EnvelopeCapture(runner.bus)
    await runner.add_workers(BlocksOnEnd("sleepy", 0.1))
    async with running(runner):
        await runner.end()
    assert capture.of_type(BusLoopBlockedMessage) == []


async def test_the_watchdog_is_off_with_zero_or_with_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    off = WorkerRunner(handle_sigint=False, event_log=None, loop_blocked_ms=0)
    capture = EnvelopeCapture(off.bus)
    await off.add_workers(BlocksOnEnd("sleepy", 0.3))
    async with running(off):
        await off.end()
    assert off.loop_watchdog is None
    assert capture.of_type(BusLoopBlockedMessage) == []
    monkeypatch.setenv("PIPEBUS_LOOP_BLOCKED_MS", "off")
    assert WorkerRunner(handle_sigint=False, event_log=None).loop_watchdog is None


def test_the_threshold_comes_from_the_argument_the_environment_or_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PIPEBUS_LOOP_BLOCKED_MS", raising=False)
    assert threshold_from(None) == DEFAULT_THRESHOLD_MS == 100
    assert threshold_from(250) == 250
    monkeypatch.setenv("PIPEBUS_LOOP_BLOCKED_MS", "40")
    assert threshold_from(None) == 40
    assert threshold_from(250) == 250  # the argument wins
    monkeypatch.setenv("PIPEBUS_LOOP_BLOCKED_MS", "soon")
    with pytest.raises(ValueError, match="PIPEBUS_LOOP_BLOCKED_MS='soon'"):
        threshold_from(None)
    with pytest.raises(ValueError, match="loop_blocked_ms=-1"):
        threshold_from(-1)


STOPPED_APP = """
import asyncio, os, signal, sys
from pipebus import BaseWorker, WorkerRunner

async def main():
    runner = WorkerRunner(handle_sigint=False, event_log=None, loop_blocked_ms=100)
    await runner.add_workers(BaseWorker("idle"))
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    print("ready", flush=True)
    await asyncio.sleep(1.0)  # stopped (SIGSTOP) for 0.4 s of this, by the test
    await runner.end()
    await task
    print("stalls", runner.loop_watchdog.stalls, flush=True)

asyncio.run(main())
"""


async def test_a_process_that_is_not_scheduled_records_no_stall(tmp_path: Path) -> None:
    """Its timers run late, but no code blocked the loop: nothing is recorded."""
    script = tmp_path / "stopped_app.py"
    script.write_text(textwrap.dedent(STOPPED_APP))
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    async with asyncio.timeout(20):
        assert await process.stdout.readline() == b"ready\n"
        await asyncio.sleep(0.1)
        process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(0.4)
        process.send_signal(signal.SIGCONT)
        out, _ = await process.communicate()
    assert process.returncode == 0
    assert out.decode().split() == ["stalls", "0"]
