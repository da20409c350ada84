"""Runner processes for the integration tests: start, read their events, stop, kill."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class RunnerProcess:
    """One ``tests.integration.redis_runner`` process.

    Args:
        name: The runner's name.
        channel: The Redis channel (or stream).
        redis: The Redis URL.
        options: More command-line options (``--workers``, ``--bus``, ...).
    """

    def __init__(self, name: str, channel: str, redis: str, *options: str) -> None:
        self.name = name
        self._command = [
            sys.executable, "-m", "tests.integration.redis_runner",
            "--name", name, "--channel", channel, "--redis", redis, *options,
        ]  # fmt: skip
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 15.0) -> dict[str, Any]:
        """Start the process and wait for its ``ready`` line."""
        self._process = await asyncio.create_subprocess_exec(
            *self._command,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        return await self.expect("ready", timeout)

    async def expect(self, event: str, timeout: float = 15.0) -> dict[str, Any]:
        """Read lines until one says ``event``; return it."""
        assert self._process is not None and self._process.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await self._process.stdout.readline()
                if not line:
                    raise AssertionError(f"runner {self.name} exited before saying {event!r}")
                said: dict[str, Any] = json.loads(line)
                if said["event"] == event:
                    return said

    async def end(self, timeout: float = 15.0) -> int:
        """Close its stdin (it ends gracefully) and wait for it to exit."""
        process = self._process
        if process is None:
            return 0
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        try:
            async with asyncio.timeout(timeout):
                return await process.wait()
        finally:
            await self.close()

    def kill(self) -> None:
        """SIGKILL: the runner vanishes without a goodbye."""
        if self._process is not None and self._process.returncode is None:
            os.kill(self._process.pid, signal.SIGKILL)

    async def close(self) -> None:
        """Kill the process if it still runs, reap it, and close its pipes."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            process.kill()
        await process.wait()
        if process.stdin is not None:
            process.stdin.close()
        transport = getattr(process, "_transport", None)
        if transport is not None:
            transport.close()
