"""Span trees in a comparable form: nested tuples, independent of ids and timing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Span:
    """What a test compares of a span, from any source (SDK span, OTLP protobuf)."""

    trace_id: int
    span_id: int
    parent_span_id: int
    name: str
    kind: str
    error: bool
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: tuple[str, ...] = ()
    status: str = ""
    resource: tuple[tuple[str, Any], ...] = ()
    parent_remote: bool = False


def of_sdk(spans: Iterable[Any]) -> list[Span]:
    """Spans from OpenTelemetry SDK ``ReadableSpan``s."""
    return [
        Span(
            span.context.trace_id,
            span.context.span_id,
            span.parent.span_id if span.parent is not None else 0,
            span.name,
            span.kind.name.lower(),
            span.status.status_code.name == "ERROR",
            span.start_time,
            span.end_time,
            dict(span.attributes),
            tuple(event.name for event in span.events),
            span.status.description or "",
            tuple(sorted(span.resource.attributes.items())),
            bool(span.parent is not None and span.parent.is_remote),
        )
        for span in spans
    ]


def label(span: Span) -> str:
    """``"send <type>"`` / ``"process <type>"`` for a messaging span, else its name.

    Span names are ``{operation} {destination}`` (the messaging conventions); tests
    look spans up by what they carry, the message type.
    """
    kind = span.attributes.get("pipebus.message.type")
    operation = span.attributes.get("messaging.operation.name")
    if kind is None or operation is None:
        return span.name
    return f"{operation} {kind}"


def who(span: Span) -> str:
    attributes = span.attributes
    return str(
        attributes.get("messaging.consumer.group.name")
        or attributes.get("messaging.destination.name")
        or attributes.get("pipebus.job.name")
        or ""
    )


def tree(spans: list[Span], root: Span) -> tuple[Any, ...]:
    """``(name, kind, who, error, (children...))`` below ``root``, children in a stable order."""
    children: dict[int, list[Span]] = {}
    for span in spans:
        children.setdefault(span.parent_span_id, []).append(span)

    def node(span: Span) -> tuple[Any, ...]:
        kids = sorted((node(child) for child in children.get(span.span_id, [])), key=repr)
        return (label(span), span.kind, who(span), span.error, tuple(kids))

    return node(root)


def find(spans: list[Span], name: str) -> list[Span]:
    """The spans of ``name`` as :func:`label` gives it (``"send BusJobRequestMessage"``)."""
    return [span for span in spans if label(span) == name]


def by_id(spans: list[Span]) -> dict[int, Span]:
    return {span.span_id: span for span in spans}
