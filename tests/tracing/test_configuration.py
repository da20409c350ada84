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

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipebus.core.errors import TracingError
from pipebus.tracing import configure
from pipebus.tracing.processor import BulkSpanProcessor
from pipebus.tracing.setup import batch_settings

SCENARIO = """
import asyncio, sys
from tests.tracing.scenario import run_scenario
runner = asyncio.run(run_scenario(event_log=None))
"""


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(env)
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
    assert {"job answer", "send BusJobRequestMessage", "process BusJobRequestMessage"} <= names
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
    assert "not tracing this session: unknown span exporter 'zipkin_json'" in done.stderr
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
    ("options", "message"),
    [
        ({"exporter": "jaeger"}, "unknown span exporter 'jaeger': use one of otlp, console, none"),
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
    assert batch_settings() == {"max_queue": 1000, "max_batch": 100, "delay_s": 0.25}
    settings = configure(exporter=InMemorySpanExporter(), make_default=False)
    (processor,) = settings.provider._active_span_processor._span_processors
    assert isinstance(processor, BulkSpanProcessor)
    settings.provider.shutdown()
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "soon")
    with pytest.raises(TracingError, match="OTEL_BSP_SCHEDULE_DELAY='soon' is not a positive"):
        configure(exporter="console", make_default=False)
