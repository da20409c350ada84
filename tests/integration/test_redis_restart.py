"""Redis restarted under a running session: the stream bus loses nothing, pub/sub reconnects
and reports how long it was cut off.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from pipebus import BusTransportGapMessage, RedisBus
from pipebus.testing import EnvelopeCapture, until
from pipebus.transports import RedisStreamBus
from tests.transports.helpers import Note, Sink


class RedisServer:
    """A redis-server of the test's own, on a free port, persisting to an append-only file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--loglevel", "warning",
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with asyncio.timeout(10):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                await writer.wait_closed()
                return

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()  # a clean shutdown: the append-only file is complete
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed; install it to run the restart tests")
    own = RedisServer(tmp_path)
    await own.start()
    yield own
    await own.stop()


async def keep_sending(bus: RedisBus | RedisStreamBus, count: int) -> None:
    for n in range(count):
        await bus.send(Note(source="writer", n=n))
        await asyncio.sleep(0.002)


async def test_the_stream_bus_loses_nothing_when_redis_restarts(server: RedisServer) -> None:
    client = Redis.from_url(server.url)
    writer = RedisStreamBus(redis=client, channel="restart", runner_name="writer")
    reader = RedisStreamBus(redis=client, channel="restart", runner_name="reader")
    sink = Sink("sink")
    await reader.subscribe(sink)
    gaps = EnvelopeCapture(reader)
    await writer.start()
    await reader.start()
    sending = asyncio.create_task(keep_sending(writer, 600))
    await sink.has(100)
    await server.stop()
    await asyncio.sleep(0.3)  # messages pile up in the writer's outbox meanwhile
    await server.start()
    await sending
    await sink.has(600, timeout=20)
    assert sink.numbers() == list(range(600))  # in order, each once
    await until(lambda: reader.transport_stats.reconnects >= 1, timeout=10)
    assert writer.transport_stats.publish_retries >= 1
    assert writer.transport_stats.unpublished == 0
    gap = gaps.of_type(BusTransportGapMessage)
    assert gap and gap[0].replayed and gap[0].seconds > 0
    await writer.stop()
    await reader.stop()
    await client.aclose()


async def test_pubsub_reconnects_and_reports_how_long_it_was_cut_off(server: RedisServer) -> None:
    client = Redis.from_url(server.url)
    writer = RedisBus(redis=client, channel="restart", runner_name="writer")
    reader = RedisBus(redis=client, channel="restart", runner_name="reader")
    sink = Sink("sink")
    await reader.subscribe(sink)
    gaps = EnvelopeCapture(reader)
    await writer.start()
    await reader.start()
    await writer.send(Note(source="writer", n=0))
    await sink.has(1)
    await server.stop()
    await asyncio.sleep(0.3)
    await server.start()
    await until(lambda: reader.transport_stats.reconnects == 1, timeout=15)
    stats = reader.transport_stats
    assert stats.connected and stats.seconds_cut_off >= 0.2
    gap = gaps.of_type(BusTransportGapMessage)
    assert len(gap) == 1 and not gap[0].replayed and gap[0].seconds >= 0.2
    await writer.send(Note(source="writer", n=1))  # after the gap, messages flow again
    await sink.has(2, timeout=10)
    assert sink.numbers()[-1] == 1
    await writer.stop()
    await reader.stop()
    await client.aclose()
