"""A burst larger than the export queue: every span reaches a working collector.

The export queue is made small (``OTEL_BSP_MAX_QUEUE_SIZE``) so that a burst a test
can afford overflows it many times over, as 20,000 broadcasts to 6 subscribers
overflow the default queue (``benchmarks.tracing`` runs that one).
"""

from __future__ import annotations

from collections import Counter

import pytest

from pipebus import BaseWorker, BusTTSSpeakMessage, WorkerRunner
from pipebus.testing import running
from pipebus.tracing import configure
from pipebus.tracing.processor import BulkSpanProcessor
from tests.tracing.otlp_receiver import otlp_receiver
from tests.tracing.trees import find

BROADCASTS = 3000
SUBSCRIBERS = 6


async def test_a_burst_past_the_export_queue_loses_no_span_with_a_working_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "2048")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512")
    with otlp_receiver() as collector:
        settings = configure(exporter="otlp", endpoint=collector.url, make_default=False)
        [processor] = settings.provider._active_span_processor._span_processors
        assert isinstance(processor, BulkSpanProcessor)
        runner = WorkerRunner(handle_sigint=False, event_log=None, tracing=settings)
        listeners = [BaseWorker(f"listener-{i}") for i in range(SUBSCRIBERS)]
        await runner.add_workers(*listeners)
        async with running(runner):
            live = runner.tracer
            assert live is not None
            for i in range(BROADCASTS):
                await runner.bus.send(BusTTSSpeakMessage(source="burst", text=str(i)))
            await runner.bus.drain()
        settings.provider.shutdown()
    sends = find(collector.spans, "send BusTTSSpeakMessage")
    deliveries = find(collector.spans, "process BusTTSSpeakMessage")
    assert len(sends) == BROADCASTS
    per_listener = Counter(span.attributes["messaging.consumer.group.name"] for span in deliveries)
    assert per_listener == {listener.name: BROADCASTS for listener in listeners}
    assert processor.dropped == processor.failed == 0
    assert len(collector.spans) == processor.exported == live.stats.exported
    assert live.stats.waits > 0  # the queue did fill: the tracer waited, nothing dropped
