"""OTLP JSON files: what the OTLP encoder sends, as OTLP/JSON; strict JSON; the extra named."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource

from pipebus.tracing.otel import readable_span
from pipebus.tracing.otlp_json import encoder
from pipebus.tracing.records import PRODUCER, SpanRecord
from tests.cli import pipebus
from tests.tracing.otlp_receiver import Receiver, otlp_receiver
from tests.tracing.scenario import run_scenario
from tests.tracing.test_export import comparable


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"bare {name} in the JSON")


def strict_json(line: str) -> Any:
    """``line`` parsed as JSON proper (Python's json module accepts bare NaN and Infinity)."""
    return json.loads(line, parse_constant=_refuse_constant)


def proto_of(request: dict[str, Any]) -> ExportTraceServiceRequest:
    """An OTLP/JSON request parsed with opentelemetry-proto (its hex ids back to base64)."""
    for resource_spans in request["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for encoded in (span, *span.get("links", ())):
                    for name in ("traceId", "spanId", "parentSpanId"):
                        if name in encoded:
                            raw = bytes.fromhex(encoded[name])
                            encoded[name] = base64.b64encode(raw).decode()
    return json_format.ParseDict(request, ExportTraceServiceRequest())


def test_non_finite_attribute_values_are_never_bare_in_the_json() -> None:
    record = SpanRecord(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        parent_span_id=0,
        name="send pipebus",
        kind=PRODUCER,
        start_ns=1,
        end_ns=2,
        attributes={"ratio": math.nan, "high": math.inf, "low": -math.inf, "half": 0.5},
    )
    line = encoder()([readable_span(record, Resource({"service.name": "s"}))])
    request = strict_json(line)
    [span] = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    values = {a["key"]: a["value"]["doubleValue"] for a in span["attributes"]}
    assert values == {"ratio": "NaN", "high": "Infinity", "low": "-Infinity", "half": 0.5}
    assert span["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span["spanId"] == "00f067aa0ba902b7"
    assert span["kind"] == 4  # OTLP/JSON enums are integers


async def test_a_json_export_holds_exactly_what_the_otlp_export_sends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "log.db"
    await run_scenario(tracing=False, event_log=log_file)
    out = tmp_path / "spans.jsonl"
    with otlp_receiver() as collector:
        run = await asyncio.to_thread(
            pipebus, capsys, "export", "--otlp", collector.url, "--json", str(out),
            "--db", str(log_file),
        )  # fmt: skip
    assert run.status == 0, run.err
    from_file = Receiver()
    for line in out.read_text().splitlines():
        from_file.take(proto_of(strict_json(line)))
    assert len(from_file.spans) == len(collector.spans) > 30
    assert comparable(from_file.spans) == comparable(collector.spans)


def test_a_json_export_without_the_otlp_extra_names_the_extra(tmp_path: Path) -> None:
    log_file = tmp_path / "log.db"
    asyncio.run(run_scenario(tracing=False, event_log=log_file))
    out = tmp_path / "spans.jsonl"
    # The command as users run it, in a Python where the OTLP encoder cannot be imported.
    hide_the_extra = (
        "import sys; sys.modules['opentelemetry.exporter.otlp.proto.common.trace_encoder'] = None; "
        "from pipebus.cli import main; sys.exit(main())"
    )
    command = [sys.executable, "-c", hide_the_extra, "export", "--json", str(out)]
    run = subprocess.run([*command, "--db", str(log_file)], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.startswith("pipebus: error: OTLP JSON is written with OpenTelemetry's")
    assert "pip install 'pipebus[otlp]'" in run.stderr
    assert len(run.stderr.splitlines()) == 1, run.stderr
