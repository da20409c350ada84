"""Exporting a recorded session's spans: to an OTLP collector, or to an OTLP JSON file.

The spans carry the recorded timestamps, trace ids, span ids and parents, so a
session recorded with live tracing off (or sampled out) becomes its full trace. The
log is only read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from pipebus.core.errors import TracingError
from pipebus.eventlog.store import EventLog
from pipebus.tracing.otel import readable_spans
from pipebus.tracing.otlp_json import export_request
from pipebus.tracing.recorded import recorded_spans
from pipebus.tracing.records import SpanRecord

BATCH = 512
"""Spans per export request."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export sent.

    Attributes:
        session_id: The session exported.
        events: Events read.
        spans: Spans exported.
        traces: Distinct traces among them.
    """

    session_id: str
    events: int
    spans: int
    traces: int


async def export_session(
    log: EventLog,
    session: str = "last",
    *,
    exporter: SpanExporter | None = None,
    json_file: IO[str] | None = None,
    links: bool = False,
    service_name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Send a recorded session's spans to ``exporter`` and/or write them to ``json_file``.

    Args:
        log: The event log.
        session: A session id, a unique prefix of one, or ``"last"``.
        exporter: An OpenTelemetry span exporter (OTLP, say); it is not shut down.
        json_file: A text file to write OTLP JSON lines to.
        links: Make deliveries roots linked to their sends.
        service_name: The spans' ``service.name`` (default: ``OTEL_SERVICE_NAME``,
            else ``"pipebus"``, as live tracing).
        progress: Called with ``(events read, events in the session)``.

    Raises:
        TracingError: If the exporter refused spans or could not reach its collector
            (the message says why, and how many spans went before).
        EventLogError: If the log cannot be read, or the session is unknown.
    """
    if exporter is None and json_file is None:
        raise ValueError("give an exporter, a JSON file, or both")
    info = await log.session(session)
    name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "pipebus"
    resource = Resource.create({SERVICE_NAME: name})
    sent = 0
    traces: set[int] = set()
    pending: list[SpanRecord] = []
    events = 0

    def counted(done: int, total: int) -> None:
        nonlocal events
        events = done
        if progress is not None:
            progress(done, total)

    async for spans in recorded_spans(log, info.id, links=links, progress=counted):
        pending.extend(spans)
        while len(pending) >= BATCH:
            batch, pending = pending[:BATCH], pending[BATCH:]
            sent += await _send(batch, exporter, json_file, resource, sent)
            traces.update(record.trace_id for record in batch)
    if pending:
        sent += await _send(pending, exporter, json_file, resource, sent)
        traces.update(record.trace_id for record in pending)
    return ExportResult(info.id, events, sent, len(traces))


async def _send(
    batch: list[SpanRecord],
    exporter: SpanExporter | None,
    json_file: IO[str] | None,
    resource: Resource,
    sent_before: int,
) -> int:
    if json_file is not None:
        request = export_request(batch, dict(resource.attributes))
        json_file.write(json.dumps(request, separators=(",", ":")) + "\n")
    if exporter is not None:
        spans = readable_spans(batch, resource)
        with _ExporterLog() as log:
            result = await asyncio.to_thread(exporter.export, spans)
        if result is not SpanExportResult.SUCCESS:
            why = log.last or "the exporter gave no reason"
            raise TracingError(
                f"the collector did not take the spans ({why}); "
                f"{sent_before} spans had been sent before"
            )
    return len(batch)


class _ExporterLog(logging.Handler):
    """Keeps the last warning or error OpenTelemetry's exporters log while it is entered."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None
        self._logger = logging.getLogger("opentelemetry.exporter")

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()

    def __enter__(self) -> _ExporterLog:
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._logger.removeHandler(self)
