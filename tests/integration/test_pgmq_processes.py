"""Runners in separate processes on one PGMQ channel: jobs, broadcasts, and a SIGKILLed runner
whose queue is read again when it comes back under its name.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from pipebus import BaseWorker, PgmqBus, WorkerRunner
from pipebus.testing import running, until
from pipebus.transports.pgmq_backends import runner_queue
from tests.integration.processes import RunnerProcess
from tests.integration.redis_runner import Ping
from tests.transports.pgmq_database import close_client, pgmq_client, pgmq_database

pytestmark = pytest.mark.services


class PgmqRunnerProcess(RunnerProcess):
    """One ``tests.integration.pgmq_runner`` process."""

    def __init__(
        self, name: str, channel: str, database: str, workers: str, heartbeat: tuple[str, str]
    ) -> None:
        super().__init__(name, channel, database)
        self._command = [
            sys.executable, "-m", "tests.integration.pgmq_runner", "--name", name,
            "--channel", channel, "--database", database, "--workers", workers,
            "--heartbeat", *heartbeat,
        ]  # fmt: skip


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with pgmq_database() as url:
        yield url


@pytest.fixture
async def processes() -> AsyncIterator[list[PgmqRunnerProcess]]:
    started: list[PgmqRunnerProcess] = []
    yield started
    for process in started:
        await process.close()


@pytest.fixture
async def client(database: str) -> AsyncIterator[Any]:
    made = await pgmq_client(database)
    yield made
    await close_client(made)


BUS_DEFAULT_HEARTBEAT = ("2.0", "10.0")
"""PgmqBus's own heartbeat interval and timeout: a loaded machine never loses a peer."""

FAST_HEARTBEAT = ("0.2", "1.0")
"""For the test that waits for a killed runner to be found lost."""


async def spawn(
    processes: list[PgmqRunnerProcess],
    name: str,
    channel: str,
    database: str,
    workers: str,
    heartbeat: tuple[str, str] = BUS_DEFAULT_HEARTBEAT,
) -> PgmqRunnerProcess:
    process = PgmqRunnerProcess(name, channel, database, workers, heartbeat)
    processes.append(process)
    await process.start(timeout=30)
    return process


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.timeout(90)
async def test_runner_processes_on_one_channel_run_jobs_and_hear_broadcasts(
    count: int, database: str, client: Any, processes: list[PgmqRunnerProcess]
) -> None:
    channel = f"procs:{secrets.token_hex(4)}"
    names = [f"p{i}" for i in range(count)]
    for name in names:
        await spawn(processes, name, channel, database, f"echo:echo_{name},counter:count_{name}")
    asker = BaseWorker("asker")
    runner = WorkerRunner(
        name="driver", bus=PgmqBus(pgmq=client, channel=channel), handle_sigint=False
    )
    await runner.add_workers(asker)
    async with running(runner):
        await until(lambda: all(f"count_{n}" in runner.registry for n in names), timeout=15)
        for name in names:
            async with asker.job(f"echo_{name}", payload={"to": name}, timeout=10) as job:
                pass
            assert job.response == {"from": f"echo_{name}", "runner": name,
                                    "payload": {"to": name}}  # fmt: skip
        for n in range(3):
            await asker.send_bus_message(Ping(source="asker", n=n))
        for name in names:
            async with asker.job(f"count_{name}", timeout=10) as job:
                pass
            assert job.response == {"pings": [0, 1, 2]}
    for process in processes:
        assert await process.end() == 0


@pytest.mark.timeout(90)
async def test_a_sigkilled_runner_reads_its_queue_again_when_it_comes_back(
    database: str, client: Any, processes: list[PgmqRunnerProcess]
) -> None:
    """What the killed runner had not read is read when it comes back under its name, and
    what it had read without acknowledging is visible again at once (not after its 30 s)."""
    channel = f"kill:{secrets.token_hex(4)}"
    victim = await spawn(processes, "victim", channel, database, "counter", FAST_HEARTBEAT)
    asker = BaseWorker("asker")
    runner = WorkerRunner(
        name="driver",
        bus=PgmqBus(pgmq=client, channel=channel, heartbeat_interval=0.2, heartbeat_timeout=1.0),
        handle_sigint=False,
    )
    await runner.add_workers(asker)
    async with running(runner):
        await until(lambda: "counter" in runner.registry, timeout=15)
        await asker.send_bus_message(Ping(source="asker", n=0))
        async with asker.job("counter", timeout=10) as job:
            pass
        assert job.response == {"pings": [0]}
        victim.kill()
        await until(lambda: "counter" not in runner.registry, timeout=10)  # lost
        for n in range(1, 4):
            await asker.send_bus_message(Ping(source="asker", n=n))
        await runner.bus.drain()
        queue = runner_queue(channel, "victim")
        connection = await asyncpg.connect(database)
        try:
            # The state a reader killed between reading and acknowledging leaves behind:
            # everything read, hidden for 300 s.
            rows = await connection.fetch("SELECT msg_id FROM pgmq.read($1, 300, 1000)", queue)
        finally:
            await connection.close()
        assert len(rows) >= 3  # the pings (and heartbeats) sent while it was dead
        await spawn(processes, "victim", channel, database, "counter")
        await until(lambda: "counter" in runner.registry, timeout=15)
        async with asker.job("counter", timeout=10) as job:
            pass
        assert job.response == {"pings": [1, 2, 3]}
