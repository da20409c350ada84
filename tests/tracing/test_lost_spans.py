"""Spans live tracing loses (its collector down) are recorded, and export sends them later.

A real OTLP receiver is up for the first half of a session, down for the second
(nothing listens on its port: connections are refused), and up again, at the same
address, for ``pipebus export --only-lost``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipebus import BaseWorker, BusTTSSpeakMessage, WorkerRunner
from pipebus.eventlog.store import EventLog
from pipebus.testing import running
from pipebus.tracing import configure
from tests.cli import pipebus
from tests.tracing.otlp_receiver import otlp_receiver
from tests.tracing.test_export import closed_port, comparable, exported
from tests.tracing.trees import find

BROADCASTS = 10
LISTENERS = 3


async def test_spans_lost_while_the_collector_is_down_are_recorded_and_export_sends_exactly_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # a refused export fails within 1 s
    # Spans go out only when flushed: the second half is lost at the runner's final flush,
    # which must be recorded before the recording ends.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    port = closed_port()
    log_file = tmp_path / "log.db"
    settings = configure(exporter="otlp", endpoint=f"http://127.0.0.1:{port}", make_default=False)
    runner = WorkerRunner(handle_sigint=False, event_log=log_file, tracing=settings)
    await runner.add_workers(*(BaseWorker(f"listener-{i}") for i in range(LISTENERS)))
    async with running(runner):
        tracer = runner.tracer
        assert tracer is not None
        with otlp_receiver(port) as live_collector:
            for i in range(BROADCASTS):
                await runner.bus.send(BusTTSSpeakMessage(source="first", text=str(i)))
            await runner.bus.drain()
            await tracer.drain()
            assert await asyncio.to_thread(settings.provider.force_flush)
        # The collector is down from here on.
        for i in range(BROADCASTS):
            await runner.bus.send(BusTTSSpeakMessage(source="second", text=str(i)))
        await runner.bus.drain()
    settings.provider.shutdown()

    lost = set(tracer.lost_spans)
    delivered = {(s.trace_id, s.span_id) for s in live_collector.spans}
    assert len(find(live_collector.spans, "send BusTTSSpeakMessage")) == BROADCASTS
    assert lost and not lost & delivered
    assert tracer.stats.failed == len(lost) == len(tracer.lost_spans)
    async with await EventLog.open(log_file) as log:
        events = await log.events(runner.session_id, types=["BusSpansLostMessage"])
    recorded = [int(span_id, 16) for event in events for span_id in event.message.span_ids]
    assert sorted(recorded) == sorted(span_id for _trace_id, span_id in lost)
    assert {event.message.reason for event in events} == {"the collector did not take them"}

    with otlp_receiver(port) as export_collector:  # the collector is back, same address
        run = await asyncio.to_thread(
            pipebus, capsys, "export", runner.session_id, "--only-lost",
            "--otlp", export_collector.url, "--db", str(log_file),
        )  # fmt: skip
    assert run.status == 0, run.err
    assert f"exported {len(lost)} lost spans" in run.out
    sent = [(s.trace_id, s.span_id) for s in export_collector.spans]
    assert sorted(sent) == sorted(lost)  # exactly the lost spans, each once, same ids
    sends = find(export_collector.spans, "send BusTTSSpeakMessage")
    assert [s.attributes["pipebus.source"] for s in sends] == ["second"] * BROADCASTS
    lost_ids = {span_id for _trace_id, span_id in lost}
    rebuilt = [s for s in await exported(log_file, runner.session_id) if s.span_id in lost_ids]
    assert comparable(export_collector.spans) == comparable(rebuilt)  # the same spans, whole


async def test_a_full_export_says_how_many_spans_were_lost_live(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    log_file = tmp_path / "log.db"
    settings = configure(
        exporter="otlp", endpoint=f"http://127.0.0.1:{closed_port()}", make_default=False
    )
    runner = WorkerRunner(handle_sigint=False, event_log=log_file, tracing=settings)
    await runner.add_workers(BaseWorker("listener"))
    async with running(runner):
        tracer = runner.tracer
        assert tracer is not None
        await runner.bus.send(BusTTSSpeakMessage(source="app", text="hello"))
        await runner.bus.drain()
    settings.provider.shutdown()
    with otlp_receiver() as collector:
        run = await asyncio.to_thread(
            pipebus, capsys, "export", "--otlp", collector.url, "--db", str(log_file)
        )
    assert run.status == 0, run.err
    lost = len(tracer.lost_spans)
    assert lost == len(collector.spans) > 0  # everything went while the collector was down
    assert f"; {lost} of them were lost live (--only-lost sends just those)" in run.out
