"""Runners in two processes record one session into a shared PostgreSQL log."""

from __future__ import annotations

import secrets
from collections import Counter

from redis.asyncio import Redis

from pipebus import BaseWorker, BusJobRequestMessage, BusJobResponseMessage, RedisBus, WorkerRunner
from pipebus.eventlog.store import EventLog
from pipebus.testing import EnvelopeCapture, running, until
from tests.integration.processes import RunnerProcess
from tests.services import need_postgres


async def test_each_runner_records_its_view_and_the_merged_session_holds_each_message_once(
    redis: Redis, redis_url: str, channel: str
) -> None:
    url = need_postgres()
    session = secrets.token_hex(16)
    log = await EventLog.open(url)
    # Every runner then appends in shared mode (see the report: the first runner to
    # create the session would otherwise append exclusively).
    await log.begin_session(session, runner="test")
    other = RunnerProcess(
        "b",
        channel,
        redis_url,
        "--workers",
        "echo:echo-b",
        "--event-log",
        url,
        "--session",
        session,
    )
    try:
        await other.start()
        bus = RedisBus(redis=redis, channel=channel)
        runner = WorkerRunner(
            name="a", bus=bus, handle_sigint=False, event_log=url, session_id=session
        )
        asker = BaseWorker("asker")
        await runner.add_workers(asker)
        seen = EnvelopeCapture(bus)
        async with running(runner):
            await until(lambda: "echo-b" in runner.registry, timeout=10)
            for i in range(10):
                async with asker.job("echo-b", payload={"i": i}, timeout=10):
                    pass
            assert await other.end() == 0
        sent = {e.message_id for e in seen.envelopes if isinstance(e.message, BusJobRequestMessage)}
        answered = {
            e.message_id for e in seen.envelopes if isinstance(e.message, BusJobResponseMessage)
        }
    finally:
        await other.close()
    try:
        info = await log.session(session)
        stored = await log.events(session)
        counts = Counter(e.message_id for e in stored)
        assert max(counts.values()) == 1  # deduplicated by message id
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1))  # gapless
        assert sent <= counts.keys() and answered <= counts.keys()
        assert len(sent) == len(answered) == 10
        assert {e.runner for e in stored} == {"a", "b"}
        assert info.lost_events == 0
    finally:
        await log.close()
