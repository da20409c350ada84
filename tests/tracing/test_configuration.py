"""Turning tracing on: configure(), the OTEL_* environment, the application's own provider.

Each case runs in a fresh interpreter: OpenTelemetry's global tracer provider can be
set once per process, and "nothing configured" must mean nothing was imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipebus.core.errors import TracingError
from pipebus.tracing import configure
from pipebus.tracing.processor import BulkSpanProcessor
from pipebus.tracing.setup import batch_settings
from tests.tracing.otlp_receiver import otlp_grpc_receiver, otlp_receiver

SCENARIO = """
import asyncio, sys
from tests.tracing.scenario import run_scenario
runner = asyncio.run(run_scenario(event_log=None))
"""
SCENARIO_NAMES = {"job answer", "send progress", "process progress", "send coordinator"}


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(env)
    if "PYTHONPATH" in env:  # the test's own directory first, the project still found
        environment["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], os.getcwd()])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_with_nothing_configured_opentelemetry_is_not_even_imported() -> None:
    done = python(
        SCENARIO + "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_otel_traces_exporter_in_the_environment_turns_tracing_on() -> None:
    done = python(SCENARIO, OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="agents")
    assert done.returncode == 0, done.stderr
    decoder = json.JSONDecoder()
    spans, text = [], done.stdout.strip()
    while text:
        span, end = decoder.raw_decode(text)
        spans.append(span)
        text = text[end:].strip()
    names = {span["name"] for span in spans}
    assert SCENARIO_NAMES <= names
    assert {span["resource"]["attributes"]["service.name"] for span in spans} == {"agents"}


def test_an_application_provider_is_used_as_it_is() -> None:
    done = python(
        textwrap.dedent(
            """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        provider = TracerProvider()
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        """
        )
        + SCENARIO
        + textwrap.dedent(
            """
        processors = provider._active_span_processor._span_processors
        print(len(processors), len(exporter.get_finished_spans()))
        """
        ),
    )
    assert done.returncode == 0, done.stderr
    processors, spans = done.stdout.split()
    assert processors == "1"  # pipebus added nothing to the application's provider
    assert int(spans) > 50


def test_an_exporter_the_environment_cannot_make_leaves_the_runner_untraced_and_says_so() -> None:
    done = python(SCENARIO + "print(runner.bus.stats.stamped)", OTEL_TRACES_EXPORTER="zipkin_json")
    assert done.returncode == 0, done.stderr
    assert "not tracing this session: unknown span exporter 'zipkin_json': use one of " in (
        done.stderr
    )
    assert "otlp_proto_grpc" in done.stderr  # the installed ones are named
    assert int(done.stdout) > 20


def test_a_disabled_sdk_means_no_tracing() -> None:
    done = python(
        textwrap.dedent(
            """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        trace.set_tracer_provider(TracerProvider())
        from pipebus.tracing import settings
        print(settings())
        """
        ),
        OTEL_SDK_DISABLED="true",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


@pytest.mark.parametrize(
    "setup",
    ["", "from pipebus.tracing import configure; configure()\n"],
    ids=["environment", "configure"],
)
def test_a_disabled_sdk_with_an_exporter_asked_for_runs_untraced_without_error(
    setup: str,
) -> None:
    with otlp_receiver() as collector:
        done = python(
            setup + SCENARIO + "print(runner.tracer, runner.bus.stats.stamped)",
            OTEL_SDK_DISABLED="true",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        )
    assert done.returncode == 0, done.stderr
    tracer, stamped = done.stdout.split()
    assert tracer == "None" and int(stamped) > 20
    for complaint in ("ValueError", "TracingError", "not tracing", "enabled OpenTelemetry"):
        assert complaint not in done.stderr  # only the scenario's broken worker's traceback
    assert collector.spans == []


def test_only_an_otlp_endpoint_exports_over_http_with_the_exporters_variables() -> None:
    with otlp_receiver() as collector:
        done = python(
            SCENARIO,
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            OTEL_EXPORTER_OTLP_HEADERS="x-tenant=blue",
            OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
            OTEL_RESOURCE_ATTRIBUTES="service.name=from-attributes,deployment.environment=test",
        )
    assert done.returncode == 0, done.stderr
    assert SCENARIO_NAMES <= {span.name for span in collector.spans}
    assert {h.get("x-tenant") for h in collector.headers} == {"blue"}
    assert {h.get("content-encoding") for h in collector.headers} == {"gzip"}
    assert collector.services == {"from-attributes"}  # not "pipebus": the resource said
    assert {r.get("deployment.environment") for r in collector.resources} == {"test"}


def test_the_grpc_protocol_and_the_traces_endpoint_are_read() -> None:
    with otlp_grpc_receiver() as collector:
        done = python(
            SCENARIO,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector.url,
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="grpc",
            OTEL_EXPORTER_OTLP_TRACES_HEADERS="x-tenant=green",
            OTEL_SERVICE_NAME="agents",
        )
    assert done.returncode == 0, done.stderr
    assert SCENARIO_NAMES <= {span.name for span in collector.spans}
    assert {h.get("x-tenant") for h in collector.headers} == {"green"}
    assert collector.services == {"agents"}


def test_otel_traces_exporter_none_means_no_tracing_even_with_an_endpoint() -> None:
    with otlp_receiver() as collector:
        done = python(
            SCENARIO + "print(runner.tracer)",
            OTEL_TRACES_EXPORTER="none",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
    assert collector.spans == []


EXPORTER_MODULE = """
import json, os
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class LinesExporter(SpanExporter):
    def __init__(self):
        self._path = os.environ["LINES_EXPORTER_FILE"]

    def export(self, spans):
        with open(self._path, "a") as out:
            for span in spans:
                out.write(json.dumps({"name": span.name}) + "\\n")
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass
"""


def test_an_exporter_installed_through_an_entry_point_can_be_named(tmp_path: Path) -> None:
    (tmp_path / "lines_exporter.py").write_text(EXPORTER_MODULE)
    metadata = tmp_path / "lines_exporter-1.0.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lines-exporter\nVersion: 1.0\n"
    )
    (metadata / "entry_points.txt").write_text(
        "[opentelemetry_traces_exporter]\nlines = lines_exporter:LinesExporter\n"
    )
    out = tmp_path / "spans.jsonl"
    done = python(
        SCENARIO,
        OTEL_TRACES_EXPORTER="lines",
        LINES_EXPORTER_FILE=str(out),
        PYTHONPATH=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    names = {json.loads(line)["name"] for line in out.read_text().splitlines()}
    assert SCENARIO_NAMES <= names


def test_the_span_limits_of_the_environment_cut_pipebus_spans() -> None:
    with otlp_receiver() as collector:
        done = python(
            SCENARIO,
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT="6",
            OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT="5",
        )
    assert done.returncode == 0, done.stderr
    assert collector.spans
    for span in collector.spans:
        assert len(span.attributes) <= 5
        assert all(len(v) <= 6 for v in span.attributes.values() if isinstance(v, str))


def test_the_sampler_of_the_environment_is_used() -> None:
    with otlp_receiver() as collector:
        done = python(
            SCENARIO,
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            OTEL_TRACES_SAMPLER="always_off",
        )
    assert done.returncode == 0, done.stderr
    assert collector.spans == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"exporter": "jaeger"}, "unknown span exporter 'jaeger': use one of console, none, otlp"),
        ({"exporter": "otlp", "protocol": "http/json"}, "unknown OTLP protocol 'http/json'"),
        ({"exporter": "otlp", "endpoint": "collector:4318"}, "is not an http(s) URL"),
    ],
)
def test_configure_names_what_is_wrong(options: dict[str, str], message: str) -> None:
    with pytest.raises(TracingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        configure(make_default=False, **options)  # type: ignore[arg-type]


def test_the_batch_processor_reads_the_otel_bsp_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "1000")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    monkeypatch.setenv("OTEL_BSP_EXPORT_TIMEOUT", "2000")
    assert batch_settings() == {
        "max_queue": 1000,
        "max_batch": 100,
        "delay_s": 0.25,
        "flush_timeout_s": 2.0,
    }
    settings = configure(exporter=InMemorySpanExporter(), make_default=False)
    (processor,) = settings.provider._active_span_processor._span_processors
    assert isinstance(processor, BulkSpanProcessor)
    settings.provider.shutdown()
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "soon")
    with pytest.raises(TracingError, match="OTEL_BSP_SCHEDULE_DELAY='soon' is not a positive"):
        configure(exporter="console", make_default=False)
