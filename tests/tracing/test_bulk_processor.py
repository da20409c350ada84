"""BulkSpanProcessor: batches out, nothing lost silently, failures counted and logged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from pipebus.tracing.processor import BulkSpanProcessor


class Keeping(SpanExporter):
    def __init__(self, result: SpanExportResult = SpanExportResult.SUCCESS) -> None:
        self.batches: list[list[str]] = []
        self.result = result
        self.exported = threading.Event()
        self.shut = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batches.append([span.name for span in spans])
        self.exported.set()
        return self.result

    def shutdown(self) -> None:
        self.shut = True


class Raising(Keeping):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise ConnectionError("collector down")


def spans(count: int, prefix: str = "s") -> list[ReadableSpan]:
    return [ReadableSpan(name=f"{prefix}{i}") for i in range(count)]


def test_spans_handed_over_in_one_call_are_exported_in_order_in_batches() -> None:
    exporter = Keeping()
    processor = BulkSpanProcessor(exporter, max_batch=4, delay_s=60)
    processor.on_end_many(spans(10))
    processor.on_end(ReadableSpan(name="app"))
    assert processor.force_flush()
    names = [name for batch in exporter.batches for name in batch]
    assert names == [f"s{i}" for i in range(10)] + ["app"]
    assert max(len(batch) for batch in exporter.batches) == 4
    assert processor.exported == 11
    processor.shutdown()
    assert exporter.shut


def test_a_full_batch_wakes_the_export_thread_without_waiting_for_the_delay() -> None:
    exporter = Keeping()
    processor = BulkSpanProcessor(exporter, max_batch=8, delay_s=60)
    processor.on_end_many(spans(8))
    assert exporter.exported.wait(5), "a full batch was not exported before the delay"
    processor.shutdown()


def test_room_leaves_a_quarter_of_the_queue_for_the_applications_spans() -> None:
    processor = BulkSpanProcessor(Keeping(), max_queue=12, max_batch=100, delay_s=60)
    assert processor.room == 9
    processor.on_end_many(spans(6))
    assert processor.room == 3
    processor.on_end_many(spans(3))
    assert processor.room == 0  # pipebus's tracer waits now
    processor.on_end(ReadableSpan(name="app"))  # the application's spans still fit
    assert processor.dropped == 0
    processor.shutdown()


def test_spans_past_the_queue_are_dropped_counted_logged_once_and_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = Keeping()
    processor = BulkSpanProcessor(exporter, max_queue=10, max_batch=100, delay_s=60)
    told: list[tuple[list[str], str]] = []
    processor.lost.append(lambda lost, why: told.append(([s.name for s in lost], why)))
    with caplog.at_level(logging.WARNING, "pipebus.tracing"):
        processor.on_end_many(spans(8))
        processor.on_end_many(spans(5, "late"))
        processor.on_end_many(spans(5, "later"))
    assert processor.dropped == 8
    assert [r.message for r in caplog.records].count(
        "tracing: the export queue is full (10 spans); dropping spans until it has room"
    ) == 1
    assert told == [
        (["late2", "late3", "late4"], "the export queue was full"),
        ([f"later{i}" for i in range(5)], "the export queue was full"),
    ]
    processor.force_flush()
    expected = [*(f"s{i}" for i in range(8)), "late0", "late1"]
    assert exporter.batches == [expected]
    processor.shutdown()


@pytest.mark.parametrize("exporter", [Keeping(SpanExportResult.FAILURE), Raising()])
def test_a_failed_export_is_counted_and_logged_and_the_processor_goes_on(
    exporter: Keeping, caplog: pytest.LogCaptureFixture
) -> None:
    processor = BulkSpanProcessor(exporter, max_batch=100, delay_s=60)
    told: list[int] = []
    processor.lost.append(lambda lost, why: told.append(len(lost)))
    assert not processor.failing
    with caplog.at_level(logging.WARNING, "pipebus.tracing"):
        processor.on_end_many(spans(3))
        assert not processor.force_flush()
        assert processor.failing
        assert processor.room > 1_000_000  # nobody waits for a failing exporter
        processor.on_end_many(spans(2))
        assert not processor.force_flush()
    assert processor.failed == 5
    assert processor.exported == 0
    assert told == [3, 2]
    assert len(caplog.records) == 2
    processor.shutdown()


def test_after_shutdown_spans_are_refused_and_the_exporter_is_shut_down() -> None:
    exporter = Keeping()
    processor = BulkSpanProcessor(exporter, delay_s=60)
    processor.on_end_many(spans(3))
    processor.shutdown()
    assert [len(batch) for batch in exporter.batches] == [3]
    processor.on_end_many(spans(3))
    processor.force_flush()
    assert [len(batch) for batch in exporter.batches] == [3]
    assert exporter.shut


def test_records_are_made_sdk_spans_only_when_exported() -> None:
    exporter = Keeping()
    processor = BulkSpanProcessor(exporter, delay_s=60)
    converted: list[str] = []

    def convert(record: str) -> ReadableSpan:
        converted.append(record)
        return ReadableSpan(name=record.upper())

    processor.on_end_records(["a", "b"], convert)
    processor.on_end(ReadableSpan(name="app"))
    assert converted == []  # still queued as records
    assert processor.force_flush()
    assert converted == ["a", "b"]
    assert exporter.batches == [["A", "B", "app"]]
    processor.shutdown()
