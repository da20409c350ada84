"""The application's own spans and pipebus's: one tree, both ways."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from pipebus import BaseWorker, BusJobRequestMessage, BusMessage, BusTTSSpeakMessage, WorkerRunner
from pipebus.testing import EnvelopeCapture, running, until
from pipebus.tracing import configure
from pipebus.tracing.setup import TracingSettings
from tests.tracing.trees import Span, find, of_sdk


class Thinker(BaseWorker):
    """On ``think``, calls a model inside an application span, and says what it got."""

    def __init__(self, tracer: trace.Tracer) -> None:
        super().__init__("thinker")
        self._tracer = tracer

    async def on_bus_message(self, message: BusMessage) -> None:
        await super().on_bus_message(message)
        if isinstance(message, BusTTSSpeakMessage) and message.text == "think":
            with self._tracer.start_as_current_span("llm call"):
                await self.send_bus_message(BusTTSSpeakMessage(source=self.name, text="thought"))


def tracing() -> tuple[TracingSettings, InMemorySpanExporter, trace.Tracer]:
    exporter = InMemorySpanExporter()
    settings = configure(exporter=exporter, batch=False, make_default=False)
    return settings, exporter, settings.provider.get_tracer("app")


async def test_an_application_span_in_a_handler_nests_under_the_delivery_and_parents_sends() -> (
    None
):
    settings, exporter, tracer = tracing()
    runner = WorkerRunner(handle_sigint=False, event_log=None, tracing=settings)
    thinker = Thinker(tracer)
    await runner.add_workers(thinker)
    async with running(runner):
        capture = EnvelopeCapture(runner.bus)
        await thinker.send_bus_message(BusTTSSpeakMessage(source="thinker", text="think"))
        await until(lambda: any(m.text == "thought" for m in capture.of_type(BusTTSSpeakMessage)))
    spans = of_sdk(exporter.get_finished_spans())
    [llm] = find(spans, "llm call")
    [think, thought] = sorted(find(spans, "send BusTTSSpeakMessage"), key=lambda s: s.start_ns)
    [delivery] = [
        s
        for s in spans
        if s.parent_span_id == think.span_id
        and s.attributes["messaging.consumer.group.name"] == "thinker"
    ]
    assert llm.parent_span_id == delivery.span_id
    assert thought.parent_span_id == llm.span_id
    assert {llm.trace_id, thought.trace_id} == {think.trace_id}
    [stored] = [
        e
        for e in capture.envelopes
        if isinstance(e.message, BusTTSSpeakMessage) and e.message.text == "thought"
    ]
    assert stored.parent_span_id == llm.span_id  # what the log records, too
    assert stored.causation_id is not None


async def test_a_message_sent_under_an_application_span_joins_its_trace() -> None:
    settings, exporter, tracer = tracing()
    runner = WorkerRunner(handle_sigint=False, event_log=None, tracing=settings)
    worker = BaseWorker("w")
    await runner.add_workers(worker)
    async with running(runner):
        with tracer.start_as_current_span("http request") as request:
            await worker.send_bus_message(BusTTSSpeakMessage(source="w", text="hello"))
        await runner.bus.drain()
    spans: list[Span] = of_sdk(exporter.get_finished_spans())
    [send] = find(spans, "send BusTTSSpeakMessage")
    context = request.get_span_context()
    assert (send.trace_id, send.parent_span_id) == (context.trace_id, context.span_id)


async def test_without_tracing_the_bus_has_no_bridge_and_application_spans_are_ignored() -> None:
    settings, exporter, tracer = tracing()
    runner = WorkerRunner(handle_sigint=False, event_log=None, tracing=False)
    worker = BaseWorker("w")
    await runner.add_workers(worker)
    async with running(runner):
        assert runner.bus.trace_bridge is None
        capture = EnvelopeCapture(runner.bus)
        with tracer.start_as_current_span("http request") as request:
            await worker.send_bus_message(BusTTSSpeakMessage(source="w", text="hello"))
    [sent] = [e for e in capture.envelopes if isinstance(e.message, BusTTSSpeakMessage)]
    assert sent.trace_id != request.get_span_context().trace_id
    assert sent.parent_span_id == 0
    assert [s.name for s in exporter.get_finished_spans()] == ["http request"]
    assert settings.provider


class Answering(BaseWorker):
    """Answers each job inside an application span ``think``."""

    def __init__(self, name: str, tracer: trace.Tracer) -> None:
        super().__init__(name)
        self._tracer = tracer

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        with self._tracer.start_as_current_span("think"):
            await self.send_job_response(message.job_id, {"ok": True})


async def test_under_a_ratio_sampler_application_spans_follow_their_traces_decision() -> None:
    exporter = InMemorySpanExporter()
    settings = configure(
        exporter=exporter,
        batch=False,
        make_default=False,
        sampler=ParentBased(TraceIdRatioBased(0.25)),
    )
    tracer = settings.provider.get_tracer("app")
    runner = WorkerRunner(handle_sigint=False, event_log=None, tracing=settings)
    boss, answering = BaseWorker("boss"), Answering("answering", tracer)
    await runner.add_workers(boss, answering)
    jobs = 200
    async with running(runner):
        live = runner.tracer
        assert live is not None
        for _ in range(jobs):
            await boss.request_job("answering", payload={})
        await until(lambda: len(find(of_sdk(exporter.get_finished_spans()), "think")) > 0)
        await runner.bus.drain()
    spans = of_sdk(exporter.get_finished_spans())
    ids = {span.span_id for span in spans}
    thinking = find(spans, "think")
    assert 0 < len(thinking) < jobs  # some traces kept, not all
    orphans = [s for s in spans if s.parent_span_id and s.parent_span_id not in ids]
    assert orphans == []
    kept = {span.trace_id for span in find(spans, "process BusJobRequestMessage")}
    assert {span.trace_id for span in thinking} == kept
    assert live.stats.sampled_out > 0
