"""A recording process killed with SIGKILL: the log opens and keeps every committed event."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from pipebus.eventlog.store import EventLog
from tests.eventlog.crash_program import SESSION, Tick

ROOT = Path(__file__).resolve().parents[2]


async def committed(path: Path) -> int:
    log = await EventLog.open(path)
    try:
        return (await log.session(SESSION)).events
    finally:
        await log.close()


async def test_a_killed_recorder_leaves_a_readable_log_marked_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.eventlog.crash_program", str(path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert (await process.stdout.readline()).strip() == b"started"
        seen = 0
        async with asyncio.timeout(20):
            while seen < 2000:  # the other process commits in the background
                seen = await committed(path)
                await asyncio.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    log = await EventLog.open(path)
    try:
        info = await log.session(SESSION)
        stored = await log.events(info.id, types=["Tick"])
        ticks = [e.message.n for e in stored if isinstance(e.message, Tick)]
        assert len(ticks) == len(stored)
        assert ticks == list(range(1, len(ticks) + 1))  # nothing missing, nothing torn
        assert info.events >= seen  # every event committed before the kill is there
        assert info.status == "running" and info.shown_status(info.heartbeat_ns) == "incomplete"
    finally:
        await log.close()
