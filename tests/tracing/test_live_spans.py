"""Live tracing: the exact spans of a job group, their attributes, links, sampling, ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from pipebus.core.ids import delivery_span_id, job_span_id, name_key
from pipebus.eventlog.store import EventLog
from pipebus.tracing import configure
from pipebus.tracing.otel import readable_span
from pipebus.tracing.records import TraceEvent
from pipebus.tracing.spans import SpanBuilder
from tests.tracing.scenario import run_scenario
from tests.tracing.trees import Span, by_id, find, of_sdk, tree


async def traced_scenario(**options: Any) -> tuple[list[Span], Any]:
    exporter = InMemorySpanExporter()
    settings = configure(
        exporter=exporter,
        batch=False,
        make_default=False,
        links=options.pop("links", False),
        sampler=options.pop("sampler", None),
    )
    runner = await run_scenario(tracing=settings, **options)
    return of_sdk(exporter.get_finished_spans()), runner


def message(
    kind: str, target: str, *children: tuple[Any, ...], error: bool = False
) -> tuple[Any, ...]:
    """A send span with its one delivery span (to ``target``), under which ``children``."""
    process = (f"process {kind}", "consumer", target, error, tuple(sorted(children, key=repr)))
    return (f"send {kind}", "producer", target, False, (process,))


def answer(kind: str) -> tuple[Any, ...]:
    return message(kind, "coordinator")


def expected_job_tree() -> tuple[Any, ...]:
    """The scenario's job: three requests, each run with what the worker sent back."""
    requests = [
        message(
            "BusJobRequestMessage",
            "progress",
            answer("BusJobUpdateMessage"),
            answer("BusJobUpdateMessage"),
            answer("BusJobResponseMessage"),
        ),
        message(
            "BusJobRequestMessage",
            "streamer",
            answer("BusJobStreamStartMessage"),
            answer("BusJobStreamDataMessage"),
            answer("BusJobStreamDataMessage"),
            answer("BusJobStreamEndMessage"),
        ),
        message("BusJobRequestMessage", "broken", answer("BusJobResponseMessage"), error=True),
    ]
    return ("job answer", "internal", "answer", True, tuple(sorted(requests, key=repr)))


async def test_a_job_group_is_one_waterfall_of_requests_runs_and_answers() -> None:
    spans, _runner = await traced_scenario(event_log=None)
    [job] = find(spans, "job answer")
    assert tree(spans, job) == expected_job_tree()


async def test_a_job_span_runs_from_the_first_request_to_the_last_answer_handled() -> None:
    spans, runner = await traced_scenario(event_log=None)
    [job] = find(spans, "job answer")
    [job_id] = list(runner.jobs.state.jobs)
    assert job.span_id == job_span_id(job_id)
    assert job.attributes["messaging.message.conversation_id"] == job_id
    assert job.attributes["pipebus.job.workers"] == ("progress", "streamer", "broken")
    assert job.attributes["pipebus.job.status"] == "failed"
    assert job.attributes["error.type"] == "failed"
    requests = find(spans, "send BusJobRequestMessage")
    handled = [
        span
        for span in find(spans, "process BusJobResponseMessage")
        + find(spans, "process BusJobStreamEndMessage")
    ]
    assert job.start_ns == min(span.start_ns for span in requests)
    assert job.end_ns == max(span.end_ns for span in handled)
    runs = find(spans, "process BusJobRequestMessage")
    answers = {
        span.attributes["pipebus.source"]: span
        for span in find(spans, "send BusJobResponseMessage")
    }
    for run in runs:
        worker = run.attributes["messaging.consumer.group.name"]
        if worker in answers:  # a run lasts until its worker answers
            assert run.end_ns >= answers[worker].start_ns


async def test_spans_carry_the_messaging_conventions_and_pipebus_attributes() -> None:
    spans, runner = await traced_scenario(event_log=None)
    [request] = [
        s
        for s in find(spans, "send BusJobRequestMessage")
        if s.attributes["messaging.destination.name"] == "progress"
    ]
    [job_id] = list(runner.jobs.state.jobs)
    assert request.kind == "producer"
    assert request.attributes == {
        "messaging.system": "pipebus",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": "progress",
        "messaging.message.id": request.attributes["messaging.message.id"],
        "messaging.message.conversation_id": job_id,
        "pipebus.message.type": "BusJobRequestMessage",
        "pipebus.source": "coordinator",
        "pipebus.priority": "data",
        "pipebus.session.id": runner.session_id,
    }
    [run] = [s for s in spans if s.parent_span_id == request.span_id]
    assert run.kind == "consumer"
    assert run.attributes == {
        "messaging.system": "pipebus",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": "progress",
        "messaging.consumer.group.name": "progress",
        "messaging.message.id": request.attributes["messaging.message.id"],
        "messaging.message.conversation_id": job_id,
        "pipebus.message.type": "BusJobRequestMessage",
        "pipebus.source": "coordinator",
        "pipebus.priority": "data",
        "pipebus.session.id": runner.session_id,
    }
    ready = find(spans, "send BusWorkerReadyMessage")[0]
    assert ready.attributes["messaging.destination.name"] == "pipebus"  # a broadcast: the channel
    assert ready.attributes["pipebus.priority"] == "data"
    priorities = {
        s.attributes["pipebus.message.type"]: s.attributes["pipebus.priority"]
        for s in spans
        if s.kind == "producer"
    }
    assert priorities["BusWorkerRegistryMessage"] == "system"
    assert "messaging.message.conversation_id" not in ready.attributes


async def test_span_names_are_the_operation_and_the_destination() -> None:
    spans, _runner = await traced_scenario(event_log=None)
    for span in spans:
        if span.kind in ("producer", "consumer"):
            operation = "send" if span.kind == "producer" else "process"
            destination = span.attributes["messaging.destination.name"]
            assert span.name == f"{operation} {destination}"
    names = {span.name for span in spans}
    assert {"send progress", "process progress", "send pipebus", "process pipebus"} <= names
    assert not any("Message" in name for name in names)  # the type is an attribute


async def test_every_span_of_a_session_carries_its_session_id() -> None:
    spans, runner = await traced_scenario(event_log=None)
    assert {span.attributes.get("pipebus.session.id") for span in spans} == {runner.session_id}


async def test_a_failing_handler_is_an_error_span_with_its_exception() -> None:
    spans, _runner = await traced_scenario(event_log=None)
    [failed] = [s for s in find(spans, "process BusJobRequestMessage") if s.error]
    assert failed.attributes["messaging.consumer.group.name"] == "broken"
    assert failed.attributes["error.type"] == "RuntimeError"
    assert failed.events == ("exception",)


async def test_every_span_id_is_the_one_stored_in_the_event_log(tmp_path: Path) -> None:
    spans, runner = await traced_scenario(event_log=tmp_path / "log.db")
    async with await EventLog.open(tmp_path / "log.db") as log:
        stored = await log.events(runner.session_id)
    sends = {s.attributes["messaging.message.id"]: s for s in spans if s.kind == "producer"}
    assert len(sends) == len(
        [
            e
            for e in stored
            if e.type in {s.attributes["pipebus.message.type"] for s in sends.values()}
        ]
    )
    for event in stored:
        span = sends.get(event.message_id)
        if span is None:
            record_only = ("BusHandlerErrorMessage", "BusJobGroupFinishedMessage")
            assert event.type in (*record_only, "BusTracingStartedMessage")
            continue
        assert (f"{span.trace_id:032x}", f"{span.span_id:016x}") == (event.trace_id, event.span_id)
    spans_by_id = by_id(spans)
    for span in spans:
        if span.kind == "consumer":
            send = spans_by_id[span.parent_span_id]
            subscriber = span.attributes["messaging.consumer.group.name"]
            assert span.span_id == delivery_span_id(send.span_id, name_key(subscriber))


async def test_with_links_a_delivery_starts_a_trace_of_its_own_linked_to_its_send() -> None:
    exporter = InMemorySpanExporter()
    settings = configure(exporter=exporter, batch=False, make_default=False, links=True)
    await run_scenario(tracing=settings, event_log=None)
    finished = exporter.get_finished_spans()
    consumers = [span for span in finished if span.kind.name == "CONSUMER"]
    sends = {span.context.span_id: span for span in finished if span.kind.name == "PRODUCER"}
    assert consumers
    for span in consumers:
        assert span.parent is None
        [link] = span.links
        send = sends[link.context.span_id]
        assert link.context.trace_id == send.context.trace_id
        assert span.context.trace_id != send.context.trace_id  # a new trace, not a second root
    spans = of_sdk(finished)
    ids = {span.span_id: span for span in spans}
    for span in spans:  # what a handler sends is in its delivery's new trace
        if span.parent_span_id:
            assert ids[span.parent_span_id].trace_id == span.trace_id
    roots = {}
    for span in spans:
        if span.parent_span_id == 0:
            assert roots.setdefault(span.trace_id, span) is span  # one root per trace


def test_a_delivery_of_a_message_from_another_runner_has_a_remote_parent() -> None:
    builder = SpanBuilder(deliveries_timed=True)
    event = TraceEvent(
        "BusTTSSpeakMessage", "m-1", "s-1", 10, "far", None, "data", None, 7, 8, 3, None,
        remote=True,
    )  # fmt: skip
    builder.add_event(event)
    builder.add_delivery("m-1", "near", 20, 30)
    [delivery] = builder.take()  # the send is the other runner's to report
    span = readable_span(delivery, Resource.create({}))
    assert span.parent is not None and span.parent.span_id == 8
    assert span.parent.is_remote
    local = SpanBuilder(deliveries_timed=True)
    event.remote = False
    local.add_event(event)
    local.add_delivery("m-1", "near", 20, 30)
    [_send, mine] = local.take()
    assert readable_span(mine, Resource.create({})).parent.is_remote is False  # type: ignore[union-attr]


async def test_a_sampler_that_keeps_nothing_exports_nothing_but_the_log_keeps_every_id(
    tmp_path: Path,
) -> None:
    spans, runner = await traced_scenario(
        event_log=tmp_path / "log.db", sampler=TraceIdRatioBased(0.0)
    )
    assert spans == []
    async with await EventLog.open(tmp_path / "log.db") as log:
        stored = await log.events(runner.session_id)
    assert stored and all(int(event.span_id, 16) and int(event.trace_id, 16) for event in stored)


@pytest.mark.parametrize("ratio", [0.5])
async def test_sampling_keeps_or_drops_whole_traces(ratio: float) -> None:
    spans, _runner = await traced_scenario(event_log=None, sampler=TraceIdRatioBased(ratio))
    kept = {span.trace_id for span in spans}
    for trace_id in kept:
        whole = [span for span in spans if span.trace_id == trace_id]
        ids = {span.span_id for span in whole}
        assert all(span.parent_span_id in ids or span.parent_span_id == 0 for span in whole)
