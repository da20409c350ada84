"""Exporting a recorded session's spans: to an OTLP collector, or to an OTLP JSON file.

The spans carry the recorded timestamps, trace ids, span ids and parents, so a
session recorded with live tracing off (or sampled out) becomes its full trace. Each
span comes with the resource its runner traced with live (recorded in the session),
else the resource of this process's settings. The log is only read.

Spans that live tracing lost (its collector down: the session records their ids in
``BusSpansLostMessage`` events) are rebuilt with the rest; ``only_lost`` sends just
those, so that an export after the collector is back completes what went live.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from pipebus.core.errors import TracingError
from pipebus.eventlog.store import EventLog
from pipebus.tracing.otel import readable_span
from pipebus.tracing.otlp_json import Encoder, encoder
from pipebus.tracing.recorded import Runners, lost_span_ids, recorded_spans, session_runners
from pipebus.tracing.records import SpanRecord
from pipebus.tracing.setup import service_resource

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
        lost: Spans the session records as lost by live tracing.
        unmatched: With ``only_lost``: lost spans that no rebuilt span matched (the
            session was traced live with ``links`` and exported without, say).
    """

    session_id: str
    events: int
    spans: int
    traces: int
    lost: int = 0
    unmatched: int = 0


async def export_session(
    log: EventLog,
    session: str = "last",
    *,
    exporter: SpanExporter | None = None,
    json_file: IO[str] | None = None,
    links: bool = False,
    service_name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    only_lost: bool = False,
) -> ExportResult:
    """Send a recorded session's spans to ``exporter`` and/or write them to ``json_file``.

    Args:
        log: The event log.
        session: A session id, a unique prefix of one, or ``"last"``.
        exporter: An OpenTelemetry span exporter (OTLP, say); it is not shut down.
        json_file: A text file to write OTLP JSON lines to.
        links: Make deliveries roots linked to their sends.
        service_name: The spans' ``service.name``, for all of them (default: the
            resource each span's runner traced with live, if it did; else
            ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``, else ``"pipebus"``).
        progress: Called with ``(events read, events in the session)``.
        only_lost: Send only the spans live tracing recorded as lost (same ids).

    Raises:
        TracingError: If the exporter refused spans or could not reach its collector
            (the message says why, and how many spans went before).
        EventLogError: If the log cannot be read, or the session is unknown.
    """
    if exporter is None and json_file is None:
        raise ValueError("give an exporter, a JSON file, or both")
    encode = encoder() if json_file is not None else None  # the otlp extra, before any read
    info = await log.session(session)
    runners = await session_runners(log, info.id)
    resource = _Resources(runners, service_name)
    lost = await lost_span_ids(log, info.id)
    found: set[int] = set()
    sent = 0
    traces: set[int] = set()
    pending: list[SpanRecord] = []
    events = 0

    def counted(done: int, total: int) -> None:
        nonlocal events
        events = done
        if progress is not None:
            progress(done, total)

    spans_of = recorded_spans(log, info.id, links=links, progress=counted, runners=runners)
    async for spans in spans_of:
        if only_lost:
            spans = [span for span in spans if span.span_id in lost]
            found.update(span.span_id for span in spans)
        pending.extend(spans)
        while len(pending) >= BATCH:
            batch, pending = pending[:BATCH], pending[BATCH:]
            sent += await _send(batch, exporter, json_file, encode, resource, sent)
            traces.update(record.trace_id for record in batch)
    if pending:
        sent += await _send(pending, exporter, json_file, encode, resource, sent)
        traces.update(record.trace_id for record in pending)
    unmatched = len(lost - found) if only_lost else 0
    return ExportResult(info.id, events, sent, len(traces), len(lost), unmatched)


class _Resources:
    """The resource of each span: its runner's live one, else this process's settings."""

    def __init__(self, runners: Runners, service_name: str | None) -> None:
        self._default = service_resource(service_name)
        self._forced = service_name is not None
        self._of: dict[str, Resource] = {
            runner: Resource(attributes)  # type: ignore[arg-type]  # as recorded from one
            for runner, attributes in runners.resources.items()
        }
        if len(self._of) == 1:  # one traced runner: its resource for spans of no runner too
            [self._default] = self._of.values()

    def __call__(self, record: SpanRecord) -> Resource:
        if self._forced:
            return self._default
        return self._of.get(record.runner, self._default)


async def _send(
    batch: list[SpanRecord],
    exporter: SpanExporter | None,
    json_file: IO[str] | None,
    encode: Encoder | None,
    resource: Callable[[SpanRecord], Resource],
    sent_before: int,
) -> int:
    spans = [readable_span(record, resource(record)) for record in batch]
    if json_file is not None and encode is not None:
        json_file.write(encode(spans) + "\n")
    if exporter is not None:
        with _ExporterLog() as log:
            result = await asyncio.to_thread(exporter.export, spans)
        if result is not SpanExportResult.SUCCESS:
            why = log.last or "the exporter gave no reason"
            if log.first is not None and log.first != log.last:
                why = f"{why}; first: {log.first}"
            raise TracingError(
                f"the collector did not take the spans ({why}); "
                f"{sent_before} spans had been sent before"
            )
    return len(batch)


class _ExporterLog(logging.Handler):
    """Takes what OpenTelemetry's exporters log while it is entered.

    The first and last warning or error make the one error an export raises, instead
    of the lines the SDK logs on each retry (its records go no further meanwhile).
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.first: str | None = None
        self.last: str | None = None
        self._logger = logging.getLogger("opentelemetry.exporter")
        self._propagate = True

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()
        if self.first is None:
            self.first = self.last

    def __enter__(self) -> _ExporterLog:
        self._logger.addHandler(self)
        self._propagate, self._logger.propagate = self._logger.propagate, False
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagate
