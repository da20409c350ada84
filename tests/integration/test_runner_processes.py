"""Runners in separate processes on one Redis: broadcasts, targeted messages, jobs, groups,
streaming, one trace per job, and a runner killed mid-job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from pipebus import (
    BaseWorker,
    BusJobRequestMessage,
    BusRunnerLeftMessage,
    BusWorkerStoppedMessage,
    JobGroupError,
    JobGroupEvent,
    WorkerRunner,
)
from pipebus.testing import EnvelopeCapture, running, until
from pipebus.transports.base import RedisTransportBus
from tests.integration.processes import RunnerProcess
from tests.integration.redis_runner import Ping

HEARTBEAT = ("--heartbeat", "0.2", "1.0")


def kind_of(bus_type: type[RedisTransportBus]) -> str:
    return "stream" if bus_type.__name__ == "RedisStreamBus" else "pubsub"


@pytest.fixture
async def processes() -> AsyncIterator[list[RunnerProcess]]:
    """The runner processes a test starts; whatever is left is killed afterwards."""
    started: list[RunnerProcess] = []
    yield started
    for process in started:
        await process.close()


async def spawn(
    processes: list[RunnerProcess], name: str, channel: str, url: str, kind: str, workers: str
) -> RunnerProcess:
    process = RunnerProcess(name, channel, url, "--bus", kind, "--workers", workers, *HEARTBEAT)
    processes.append(process)
    await process.start()
    return process


def local_runner(bus_type: type[RedisTransportBus], redis: Redis, channel: str) -> WorkerRunner:
    bus = bus_type(redis=redis, channel=channel, heartbeat_interval=0.2, heartbeat_timeout=1.0)
    return WorkerRunner(name="a", bus=bus, handle_sigint=False, shutdown_timeout=3.0)


async def test_two_runner_processes_exchange_broadcasts_targeted_messages_and_jobs(
    bus_type: type[RedisTransportBus],
    redis: Redis,
    redis_url: str,
    channel: str,
    processes: list[RunnerProcess],
) -> None:
    kind = kind_of(bus_type)
    other = await spawn(
        processes, "b", channel, redis_url, kind, "counter:count-b,echo:echo-b,streamer:stream-b"
    )
    runner = local_runner(bus_type, redis, channel)
    asker = BaseWorker("asker")
    await runner.add_workers(asker)
    seen = EnvelopeCapture(runner.bus)
    async with running(runner):
        await until(
            lambda: {"count-b", "echo-b", "stream-b"} <= set(runner.registry.remote_workers),
            timeout=10,
        )
        for n in range(50):
            await asker.send_bus_message(Ping(source="asker", n=n))
        for n in range(100, 110):
            await asker.send_bus_message(Ping(source="asker", target="count-b", n=n))
        async with asker.job("count-b", timeout=10) as counted:
            pass
        assert counted.response == {"pings": [*range(50), *range(100, 110)]}

        async with asker.job("echo-b", payload={"q": 1}, timeout=10) as echoed:
            pass
        assert echoed.response == {"from": "echo-b", "runner": "b", "payload": {"q": 1}}
        request, answer = [e for e in seen.envelopes if e.job_id == echoed.job_id][:2]
        assert isinstance(request.message, BusJobRequestMessage) and answer.remote
        assert answer.trace_id == request.trace_id  # one job across two processes: one trace
        assert answer.causation_id == request.message_id

        events: list[JobGroupEvent] = []
        async with asker.job_group("echo-b", "stream-b", payload={"g": 1}, timeout=10) as group:
            async for event in group:
                events.append(event)
        assert [(e.type, e.data) for e in events] == [
            ("stream_start", {"of": 3}),
            ("stream_data", {"chunk": 0}),
            ("stream_data", {"chunk": 1}),
            ("stream_data", {"chunk": 2}),
            ("stream_end", {"from": "stream-b"}),
        ]
        assert group.responses["echo-b"]["payload"] == {"g": 1}
        assert await other.end() == 0
        await until(lambda: not runner.registry.remote_workers, timeout=10)
    assert runner.bus.transport_stats.decode_error_total == 0  # type: ignore[attr-defined]


async def test_three_runner_processes_run_a_group_across_two_others(
    bus_type: type[RedisTransportBus],
    redis: Redis,
    redis_url: str,
    channel: str,
    processes: list[RunnerProcess],
) -> None:
    kind = kind_of(bus_type)
    b = await spawn(processes, "b", channel, redis_url, kind, "echo:echo-b,counter:count-b")
    c = await spawn(processes, "c", channel, redis_url, kind, "echo:echo-c,counter:count-c")
    runner = local_runner(bus_type, redis, channel)
    asker = BaseWorker("asker")
    await runner.add_workers(asker)
    async with running(runner):
        names = {"echo-b", "count-b", "echo-c", "count-c"}
        await until(lambda: names <= set(runner.registry.remote_workers), timeout=10)
        assert runner.registry.get("echo-c").runner == "c"  # type: ignore[union-attr]
        for n in range(20):
            await asker.send_bus_message(Ping(source="asker", n=n))
        await asker.send_bus_message(Ping(source="asker", target="count-c", n=99))
        async with asker.job_group("echo-b", "echo-c", payload={"i": 1}, timeout=10) as group:
            pass
        assert {w: r["runner"] for w, r in group.responses.items()} == {
            "echo-b": "b",
            "echo-c": "c",
        }
        async with asker.job_group("count-b", "count-c", timeout=10) as counts:
            pass
        assert counts.responses["count-b"] == {"pings": list(range(20))}
        assert counts.responses["count-c"] == {"pings": [*range(20), 99]}
        for process in (b, c):
            assert await process.end() == 0


async def test_a_runner_killed_mid_job_fails_the_group_fast_and_is_forgotten(
    bus_type: type[RedisTransportBus],
    redis: Redis,
    redis_url: str,
    channel: str,
    processes: list[RunnerProcess],
) -> None:
    victim = await spawn(
        processes, "b", channel, redis_url, kind_of(bus_type), "slow:slow-b,echo:echo-b"
    )
    runner = local_runner(bus_type, redis, channel)
    asker = BaseWorker("asker")
    await runner.add_workers(asker)
    seen = EnvelopeCapture(runner.bus)
    async with running(runner):
        await until(lambda: {"slow-b", "echo-b"} <= set(runner.registry.remote_workers), timeout=10)

        async def ask() -> None:
            async with asker.job_group("slow-b", timeout=20):
                pass

        asking = asyncio.create_task(ask())
        await victim.expect("job")
        killed = time.monotonic()
        victim.kill()
        with pytest.raises(JobGroupError, match="'slow-b'") as raised:
            await asyncio.wait_for(asking, 15)
        assert time.monotonic() - killed < 10  # the heartbeat timeout, not the job's 20 s
        assert "lost" in str(raised.value)
        await until(lambda: not runner.registry.remote_workers, timeout=5)
        assert runner.registry.state.workers["echo-b"].status == "lost"
        left = seen.of_type(BusRunnerLeftMessage)
        assert [(m.runner, m.status) for m in left] == [("b", "lost")]
        stopped = {m.source: m.status for m in seen.of_type(BusWorkerStoppedMessage)}
        assert stopped == {"slow-b": "lost", "echo-b": "lost"}
        assert runner.bus.transport_stats.runners_lost == 1  # type: ignore[attr-defined]
