"""Two runner processes record one session into PostgreSQL: its export is their live spans.

Runner ``a`` (this process) asks runner ``b`` (another process, on one Redis bus) for
jobs; both trace live to one real OTLP receiver, each under its own service name, and
both record into the same session. Whichever runner stored a message first, the
export rebuilds every span once, as the runner that reported it live did.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from pipebus import BaseWorker, RedisBus, WorkerRunner
from pipebus.eventlog.store import EventLog
from pipebus.testing import running, until
from pipebus.tracing import configure, export_session
from tests.eventlog.conftest import drop_schema
from tests.integration.conftest import channel, redis, redis_url
from tests.integration.processes import RunnerProcess
from tests.services import need_postgres
from tests.tracing.otlp_receiver import otlp_receiver
from tests.tracing.test_export import differences

__all__ = ["channel", "redis", "redis_url"]


@pytest.fixture
async def location() -> AsyncIterator[str]:
    """A PostgreSQL log URL with a schema of this test's own, dropped afterwards."""
    base = need_postgres()
    schema = f"pbtest_{secrets.token_hex(6)}"
    yield f"{base}?schema={schema}"
    await drop_schema(base, schema)


@pytest.mark.timeout(120)
async def test_two_runners_recording_one_session_export_each_live_span_once(
    redis: Redis, redis_url: str, channel: str, location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = secrets.token_hex(16)
    with otlp_receiver() as live_collector:
        for name, value in {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": live_collector.url,
            "OTEL_SERVICE_NAME": "service-b",
        }.items():
            monkeypatch.setenv(name, value)
        other = RunnerProcess(
            "b", channel, redis_url, "--workers", "echo:echo-b",
            "--event-log", location, "--session", session,
        )  # fmt: skip
        try:
            settings = configure(
                exporter="otlp", endpoint=live_collector.url, service_name="service-a",
                make_default=False,
            )  # fmt: skip
            runner = WorkerRunner(
                name="a", bus=RedisBus(redis=redis, channel=channel), handle_sigint=False,
                event_log=location, session_id=session, tracing=settings,
            )  # fmt: skip
            asker = BaseWorker("asker")
            await runner.add_workers(asker)
            starting = asyncio.create_task(other.start())
            async with running(runner):
                await starting
                await until(lambda: "echo-b" in runner.registry, timeout=10)
                for i in range(10):
                    async with asker.job("echo-b", payload={"i": i}, timeout=10):
                        pass
                assert await other.end() == 0
            settings.provider.shutdown()
        finally:
            await other.close()
    live = live_collector.spans
    assert live_collector.services == {"service-a", "service-b"}
    assert max(Counter(s.span_id for s in live).values()) == 1
    with otlp_receiver() as export_collector:
        from pipebus.tracing.exporters import make_exporter

        exporter = make_exporter("otlp", protocol="http/protobuf", endpoint=export_collector.url)
        async with await EventLog.open(location) as log:
            await export_session(log, session, exporter=exporter)
        exporter.shutdown()
    exported = export_collector.spans
    assert max(Counter(s.span_id for s in exported).values()) == 1
    assert differences(live, exported) == []
    assert len(exported) == len(live) > 40
