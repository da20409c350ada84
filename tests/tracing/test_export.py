"""Exporting recorded sessions: the same spans live tracing reported, over real OTLP too."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipebus.eventlog.store import EventLog
from pipebus.tracing import configure, export_session
from tests.cli import pipebus
from tests.tracing.otlp_receiver import otlp_receiver
from tests.tracing.scenario import run_scenario
from tests.tracing.test_live_spans import expected_job_tree
from tests.tracing.trees import Span, find, of_sdk, tree


def comparable(spans: list[Span]) -> set[tuple[object, ...]]:
    """Everything about each span, as a set (the order spans arrive in does not matter).

    Ids, parent (and whether it is remote), name, kind, status and its text, times,
    attributes, events, resource.
    """
    return {
        (
            s.trace_id,
            s.span_id,
            s.parent_span_id,
            s.parent_remote,
            s.name,
            s.kind,
            s.error,
            s.status,
            s.start_ns,
            s.end_ns,
            tuple(sorted(s.attributes.items())),
            s.events,
            s.resource,
        )
        for s in spans
    }


def differences(live: list[Span], exported: list[Span]) -> list[str]:
    """What differs between two span sets, span by span (for a readable failure)."""
    by_id = {s.span_id: s for s in exported}
    found = [f"span {s.name} ({s.span_id:x}) not exported" for s in live if s.span_id not in by_id]
    live_ids = {s.span_id for s in live}
    found += [
        f"span {s.name} ({s.span_id:x}) not live" for s in exported if s.span_id not in live_ids
    ]
    for span in live:
        other = by_id.get(span.span_id)
        if other is not None and comparable([span]) != comparable([other]):
            found.append(f"span {span.name} ({span.span_id:x}): live {span} exported {other}")
    return found


async def exported(log_file: Path, session_id: str) -> list[Span]:
    exporter = InMemorySpanExporter()
    async with await EventLog.open(log_file) as log:
        await export_session(log, session_id, exporter=exporter)
    return of_sdk(exporter.get_finished_spans())


async def test_a_session_recorded_with_all_deliveries_exports_exactly_the_live_spans(
    tmp_path: Path,
) -> None:
    live = InMemorySpanExporter()
    settings = configure(exporter=live, batch=False, make_default=False)
    runner = await run_scenario(
        tracing=settings, event_log=tmp_path / "log.db", record_deliveries="all"
    )
    live_spans = of_sdk(live.get_finished_spans())
    assert len(live_spans) > 50
    assert comparable(await exported(tmp_path / "log.db", runner.session_id)) == comparable(
        live_spans
    )


async def test_a_session_recorded_untraced_with_errors_only_still_exports_its_job_waterfall(
    tmp_path: Path,
) -> None:
    runner = await run_scenario(
        tracing=False, event_log=tmp_path / "log.db", record_deliveries="errors"
    )
    spans = await exported(tmp_path / "log.db", runner.session_id)
    [job] = find(spans, "job answer")
    assert tree(spans, job) == expected_job_tree()
    runs = find(spans, "process BusJobRequestMessage")
    assert {run.attributes.get("pipebus.timing") for run in runs} == {"inferred"}
    [failed] = [run for run in runs if run.error]
    assert failed.attributes["error.type"] == "RuntimeError"


async def test_a_session_recorded_by_default_exports_exactly_the_live_spans_over_otlp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Default recording, live spans from a real receiver: broadcasts, times, status, service."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "the-coordinator")
    with otlp_receiver() as live_collector:
        settings = configure(exporter="otlp", endpoint=live_collector.url, make_default=False)
        runner = await run_scenario(tracing=settings, event_log=tmp_path / "log.db")
        settings.provider.shutdown()
    monkeypatch.delenv("OTEL_SERVICE_NAME")  # the export's own settings do not matter
    with otlp_receiver() as export_collector:
        run = await asyncio.to_thread(
            pipebus, capsys, "export", runner.session_id, "--otlp", export_collector.url,
            "--db", str(tmp_path / "log.db"),
        )  # fmt: skip
    assert run.status == 0, run.err
    live = live_collector.spans
    assert live_collector.services == export_collector.services == {"the-coordinator"}
    broadcasts = [s for s in live if s.name == "process pipebus"]
    assert len({s.attributes["messaging.consumer.group.name"] for s in broadcasts}) >= 4
    assert any(s.status == "RuntimeError: the model is down" for s in live)
    assert differences(live, export_collector.spans) == []
    assert len(export_collector.spans) == len(live) > 50


async def test_live_and_exported_spans_reach_a_real_otlp_collector_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with otlp_receiver() as live_collector:
        settings = configure(exporter="otlp", endpoint=live_collector.url, make_default=False)
        runner = await run_scenario(
            tracing=settings, event_log=tmp_path / "log.db", record_deliveries="all"
        )
        settings.provider.shutdown()
    assert live_collector.services == {"pipebus"}
    with otlp_receiver() as export_collector:
        run = await asyncio.to_thread(
            pipebus,
            capsys,
            "export",
            runner.session_id[:8],
            "--otlp",
            export_collector.url,
            "--db",
            str(tmp_path / "log.db"),
        )
    assert run.status == 0, run.err
    assert f"exported {len(export_collector.spans)} spans" in run.out
    assert len(live_collector.spans) > 50
    assert comparable(export_collector.spans) == comparable(live_collector.spans)
    [job] = find(export_collector.spans, "job answer")
    assert tree(export_collector.spans, job) == expected_job_tree()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_collector_is_one_line_on_stderr_and_the_log_is_unchanged(
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "log.db"
    runner = await run_scenario(tracing=False, event_log=log_file)
    before = digest(log_file)
    url = f"http://127.0.0.1:{closed_port()}"
    # The command as users run it (its own process, no test's log capture), with time
    # for the exporter to retry and log about it.
    command = [str(Path(sys.executable).parent / "pipebus"), "export", "last", "--otlp", url]
    command += ["--timeout", "3", "--db", str(log_file)]
    run = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.startswith("pipebus: error: the collector did not take the spans (")
    assert "Connection refused" in run.stderr
    assert "0 spans had been sent before" in run.stderr
    assert len(run.stderr.splitlines()) == 1, run.stderr
    assert digest(log_file) == before
    assert runner.session_id


async def test_a_collector_that_refuses_the_spans_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "log.db"
    await run_scenario(tracing=False, event_log=log_file)
    with otlp_receiver() as collector:
        collector.refuse = True
        run = await asyncio.to_thread(
            pipebus, capsys, "export", "--otlp", collector.url, "--db", str(log_file)
        )
    assert run.status == 1
    assert "400" in run.err


async def test_json_export_writes_otlp_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "log.db"
    runner = await run_scenario(tracing=False, event_log=log_file)
    out = tmp_path / "spans.jsonl"
    run = await asyncio.to_thread(
        pipebus, capsys, "export", "--json", str(out), "--db", str(log_file)
    )
    assert run.status == 0, run.err
    requests = [json.loads(line) for line in out.read_text().splitlines()]
    spans = [
        span
        for request in requests
        for resource in request["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    assert f"exported {len(spans)} spans" in run.out
    expected = await exported(log_file, runner.session_id)
    assert {(int(s["spanId"], 16), s["name"]) for s in spans} == {
        (s.span_id, s.name) for s in expected
    }
    [job] = [s for s in spans if s["name"] == "job answer"]
    assert job["kind"] == 1 and job["status"]["code"] == 2
    assert len(job["traceId"]) == 32 and len(job["spanId"]) == 16
    assert {"key": "pipebus.job.name", "value": {"stringValue": "answer"}} in job["attributes"]


def test_export_needs_somewhere_to_send(capsys: pytest.CaptureFixture[str]) -> None:
    run = pipebus(capsys, "export", "last")
    assert run.status == 1
    assert "--otlp URL, --json FILE" in run.err


def test_a_malformed_collector_url_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    run = pipebus(capsys, "export", "--otlp", "localhost:4318")
    assert run.status == 1
    assert "'localhost:4318' is not an http(s) URL" in run.err


async def test_export_session_needs_an_exporter_or_a_file(tmp_path: Path) -> None:
    async with await EventLog.open(tmp_path / "log.db") as log:
        with pytest.raises(ValueError, match="exporter, a JSON file"):
            await export_session(log, "last", json_file=None)
