"""PgmqBus across a PostgreSQL restart: a PostgreSQL of this test's own (``pg_ctl`` on a free
port, never the shared one), stopped and started again under two running buses.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from pipebus import BusDataMessage, BusMessage, BusSubscriber, BusTransportGapMessage, PgmqBus
from pipebus.testing import EnvelopeCapture, until
from pipebus.transports.pgmq_sql import install
from tests.transports.pgmq_database import close_client, pgmq_client

BIN = Path("/usr/lib/postgresql/15/bin")

pytestmark = pytest.mark.services


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OwnPostgres:
    """A PostgreSQL cluster in a temporary folder, run as the ``postgres`` user if root."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="pipebus-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._run(str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8")  # fmt: skip
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.folder / "log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[OwnPostgres]:
    if not (BIN / "pg_ctl").exists():
        pytest.skip(f"no PostgreSQL 15 binaries in {BIN}")
    server = OwnPostgres()
    try:
        server.create()
        yield server
    finally:
        server.remove()


class Inbox(BusSubscriber):
    def __init__(self) -> None:
        self.sources: list[str] = []

    @property
    def name(self) -> str:
        return "inbox"

    async def on_bus_message(self, message: BusMessage) -> None:
        self.sources.append(message.source)


@pytest.mark.timeout(120)
async def test_the_bus_recovers_after_postgresql_restarts_and_loses_nothing_sent(
    postgres: OwnPostgres,
) -> None:
    connection = await asyncpg.connect(postgres.url)
    try:
        await install(connection)
    finally:
        await connection.close()
    sender_client = await pgmq_client(postgres.url)
    reader_client = await pgmq_client(postgres.url)
    sender = PgmqBus(pgmq=sender_client, channel="restart", runner_name="sender")
    reader = PgmqBus(pgmq=reader_client, channel="restart", runner_name="reader")
    inbox = Inbox()
    await reader.subscribe(inbox)
    gaps = EnvelopeCapture(reader)
    try:
        await sender.start()
        await reader.start()
        await sender.send(BusDataMessage(source="before"))
        await until(lambda: inbox.sources == ["before"])
        await asyncio.to_thread(postgres.stop)
        await sender.send(BusDataMessage(source="while-down"))  # kept in the outbox
        await asyncio.to_thread(postgres.start)
        await sender.send(BusDataMessage(source="after"))
        await until(lambda: len(inbox.sources) == 3, timeout=30)
        assert inbox.sources == ["before", "while-down", "after"]
        await until(lambda: reader.transport_stats.reconnects >= 1, timeout=30)
        gap = gaps.of_type(BusTransportGapMessage)
        assert gap and gap[0].replayed and gap[0].channel == "restart"
        assert sender.transport_stats.publish_retries >= 1
        assert reader.transport_stats.connected
    finally:
        await sender.stop()
        await reader.stop()
        await close_client(sender_client)
        await close_client(reader_client)
