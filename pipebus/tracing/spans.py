"""Spans from the event stream: one pure builder for live tracing and recorded exports.

Span names follow OpenTelemetry's messaging conventions, ``{operation} {destination}``:
every send is a PRODUCER span ``send <destination>`` and every delivery a CONSUMER
span ``process <destination>``, the destination being the target worker, or the bus
channel for a broadcast (the message type is the attribute ``pipebus.message.type``).
A delivery is a child of its send, or, with links, the root of a trace of its own
linked to the send. A message sent while a handler runs is a child of that handler's
delivery span. A job group is an INTERNAL span ``job <name>`` in its requester,
parent of the group's requests, from the first request to the last answer; the
delivery of a job request to a worker covers the worker's run of the job, up to its
answer. A parent in another process (the send of a message from another runner) is
marked remote.

The builder is fed events (live envelopes, or events read back from a log) and
delivery timings, and hands back each span once it is complete. Live tracing and
``pipebus export`` run this same code, so a recorded session becomes the trace it
was live. A delivery nobody timed (a recording without ``record_deliveries="all"``)
is inferred from the messages its handler sent, or from its recorded error.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Final

from pipebus.core.ids import delivery_span_id, name_key
from pipebus.tracing import semconv as sc
from pipebus.tracing.job_spans import ANSWERS, JobSpans
from pipebus.tracing.records import CONSUMER, PRODUCER, SpanRecord, TraceEvent, fail

KEPT_SENDS = 100_000
"""Sends remembered for the deliveries still to come (live: handlers still running)."""


_Send = tuple[int, int, str, str | None, str | None, int, str, str, str, bool, str]
"""A remembered send: trace id, span id, type, target, job id, time, source, priority,
session, remote, runner.

A plain tuple of atomic values, so that the garbage collector stops tracking it after
its first collection: a live tracer remembers up to ``kept_sends`` of them, and as
objects of a class they made every collection walk them all, a large part of what
live tracing cost.
"""
_TRACE: Final = 0
_SPAN: Final = 1
_TYPE: Final = 2
_TARGET: Final = 3
_JOB: Final = 4
_TIME: Final = 5
_SOURCE: Final = 6
_PRIORITY: Final = 7
_SESSION: Final = 8
_REMOTE: Final = 9
_RUNNER: Final = 10


_SEND_NAMES: dict[str, str] = {}
_PROCESS_NAMES: dict[str, str] = {}


def _name(operation: str, destination: str) -> str:
    """``"send <destination>"`` or ``"process <destination>"``, kept (a few names, many spans)."""
    name = f"{operation} {destination}"
    (_SEND_NAMES if operation == "send" else _PROCESS_NAMES)[destination] = name
    return name


def linked_trace_id(send_trace_id: int, delivery_span_id: int) -> int:
    """The trace a delivery starts when deliveries are linked to their sends.

    Derived from the send's trace and the delivery's span, so that a recorded session
    exports to the same trace as live tracing reported (and the live bridge puts the
    handler's own messages and spans in it).
    """
    key = send_trace_id.to_bytes(16, "big") + delivery_span_id.to_bytes(8, "big")
    return int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big") or 1


class SpanBuilder:
    """Turns events and delivery timings into finished spans.

    Args:
        deliveries_timed: Whether every delivery's timing will arrive (live tracing,
            or a recording with ``record_deliveries="all"``); if not, deliveries are
            inferred from what their handlers sent when the input ends.
        links: Make a delivery span a root linked to its send, not its child.
        channel: The destination name of broadcasts.
        kept_sends: How many recent sends to remember for deliveries still to come.
    """

    def __init__(
        self,
        *,
        deliveries_timed: bool,
        links: bool = False,
        channel: str = "pipebus",
        kept_sends: int = KEPT_SENDS,
    ) -> None:
        self._timed = deliveries_timed
        self._links = links
        self._channel = channel
        self._kept = kept_sends
        self._sends: OrderedDict[str, _Send] = OrderedDict()
        self._consumers: set[int] = set()
        self._errors: dict[tuple[str, str], TraceEvent] = {}
        self._children: dict[int, tuple[TraceEvent, int]] = {}
        self._out: list[SpanRecord] = []
        self._jobs = JobSpans(self._out, timed=deliveries_timed)

    def take(self) -> list[SpanRecord]:
        """The spans finished since the last call."""
        out = self._out[:]
        self._out.clear()
        return out

    # --- input ---------------------------------------------------------------------

    def add_event(self, event: TraceEvent) -> None:
        """Feed one event, in the order the bus stamped them."""
        kind = event.type
        if kind == "BusHandlerErrorMessage":
            self._handler_error(event)
        elif kind == "BusJobGroupFinishedMessage":
            self._jobs.verdict(event)
        elif not event.record_only:
            self._remember(event)
            if event.job_id is not None:
                self._jobs.on_send(event)
            if not event.remote:
                self._out.append(self._send_span(event))
            self._note_parent(event)

    def add_delivery(
        self,
        message_id: str,
        subscriber: str,
        start_ns: int,
        end_ns: int,
        error_type: str | None = None,
        error: str | None = None,
        runner: str | None = None,
    ) -> None:
        """Feed one timed delivery of a message to a subscriber (after its send).

        ``runner`` is the runner that delivered it, when known (an export): its parent,
        the send, is remote if another runner sent the message. Otherwise (live) the
        parent is remote if the message came from another runner.
        """
        send = self._sends.get(message_id)
        if send is None:  # sampled out, or sent before the trace started
            return
        span = self._consumer_span(send, message_id, subscriber, start_ns, end_ns, runner)
        failed = self._errors.pop((message_id, subscriber), None) if self._errors else None
        if failed is not None:
            fail(span, failed)
        elif error_type is not None:
            span.error = f"{error_type}: {error}" if error else error_type
            span.attributes[sc.ERROR_TYPE] = error_type
        self._deliver(send, span, subscriber)

    def finish(self) -> list[SpanRecord]:
        """End of input: infer untimed deliveries, close what is open; the remaining spans."""
        if not self._timed:
            for parent, (child, last_ns) in list(self._children.items()):
                self._infer_delivery(parent, child, last_ns)
        self._children.clear()
        for (message_id, subscriber), failed in list(self._errors.items()):
            send = self._sends.get(message_id)
            if send is not None:
                start = failed.time_ns - int(failed.fields.get("duration_ns") or 0)
                span = self._consumer_span(
                    send, message_id, subscriber, start, failed.time_ns, failed.runner
                )
                fail(span, failed)
                self._out.append(span)
        self._errors.clear()
        if not self._timed:
            for message_id, send in self._sends.items():
                self._untimed_delivery(message_id, send)
        self._jobs.close_all()
        return self.take()

    # --- sends, deliveries -------------------------------------------------------------

    def _remember(self, event: TraceEvent) -> None:
        sends = self._sends
        sends[event.message_id] = (
            event.trace_id,
            event.span_id,
            event.type,
            event.target,
            event.job_id,
            event.time_ns,
            event.source,
            event.priority,
            event.session_id,
            event.remote,
            event.runner,
        )
        if len(sends) > self._kept:
            message_id, send = sends.popitem(last=False)
            if not self._timed:
                self._untimed_delivery(message_id, send)

    def _untimed_delivery(self, message_id: str, send: _Send) -> None:
        """A targeted message's delivery nothing else told of: at its send, timing unknown.

        Only its target can have received it; a broadcast's receivers are not known.
        """
        if send[_TARGET] is None:
            return
        span_id = delivery_span_id(send[_SPAN], name_key(send[_TARGET]))
        if span_id in self._consumers or span_id in self._children:
            return
        span = self._consumer_span(send, message_id, send[_TARGET], send[_TIME], send[_TIME])
        span.attributes[sc.PIPEBUS_TIMING] = "unknown"
        self._deliver(send, span, send[_TARGET])

    def _send_span(self, event: TraceEvent) -> SpanRecord:
        attributes = self._attributes(event.type, event.message_id, event.target, event.job_id)
        attributes[sc.OPERATION_NAME] = attributes[sc.OPERATION_TYPE] = "send"
        attributes[sc.PIPEBUS_SOURCE] = event.source
        attributes[sc.PIPEBUS_PRIORITY] = event.priority
        attributes[sc.PIPEBUS_SESSION] = event.session_id
        destination = attributes[sc.DESTINATION]
        return SpanRecord(
            event.trace_id,
            event.span_id,
            self._jobs.parent_of_send(event),
            _SEND_NAMES.get(destination) or _name("send", destination),
            PRODUCER,
            event.time_ns,
            event.time_ns,
            attributes,
            runner=event.runner,
        )

    def _consumer_span(
        self,
        send: _Send,
        message_id: str,
        subscriber: str,
        start_ns: int,
        end_ns: int,
        runner: str | None = None,
    ) -> SpanRecord:
        span_id = delivery_span_id(send[_SPAN], name_key(subscriber))
        if not self._timed:  # only inference asks which deliveries have spans
            self._consumers.add(span_id)
            self._children.pop(span_id, None)
        target, job_id = send[_TARGET], send[_JOB]
        destination = target if target is not None else self._channel
        attributes: dict[str, Any] = {
            sc.SYSTEM: "pipebus",
            sc.DESTINATION: destination,
            sc.MESSAGE_ID: message_id,
            sc.PIPEBUS_TYPE: send[_TYPE],
            sc.OPERATION_NAME: "process",
            sc.OPERATION_TYPE: "process",
            sc.CONSUMER_GROUP: subscriber,
            sc.PIPEBUS_SOURCE: send[_SOURCE],
            sc.PIPEBUS_PRIORITY: send[_PRIORITY],
            sc.PIPEBUS_SESSION: send[_SESSION],
        }
        if job_id is not None:
            attributes[sc.CONVERSATION_ID] = job_id
        trace_id, parent = send[_TRACE], send[_SPAN]
        links: tuple[tuple[int, int], ...] = ()
        if self._links:
            links = ((trace_id, parent),)
            trace_id, parent = linked_trace_id(trace_id, span_id), 0
        return SpanRecord(
            trace_id,
            span_id,
            parent,
            _PROCESS_NAMES.get(destination) or _name("process", destination),
            CONSUMER,
            start_ns,
            max(end_ns, start_ns),
            attributes,
            links=links,
            parent_remote=(send[_REMOTE] if runner is None else send[_RUNNER] != runner)
            and not self._links,
            runner=runner or "",
        )

    def _deliver(self, send: _Send, span: SpanRecord, subscriber: str) -> None:
        """Hand a delivery span on, unless it is a job run still waiting for its answer."""
        is_run = send[_TYPE] == "BusJobRequestMessage"
        if is_run and self._jobs.hold_run(send[_JOB], subscriber, span):
            return
        self._out.append(span)
        if send[_TYPE] in ANSWERS:
            self._jobs.answer_handled(send[_JOB], subscriber, span.end_ns)

    def _attributes(
        self, type_name: str, message_id: str, target: str | None, job_id: str | None
    ) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            sc.SYSTEM: "pipebus",
            sc.DESTINATION: target if target is not None else self._channel,
            sc.MESSAGE_ID: message_id,
            sc.PIPEBUS_TYPE: type_name,
        }
        if job_id is not None:
            attributes[sc.CONVERSATION_ID] = job_id
        return attributes

    def _note_parent(self, event: TraceEvent) -> None:
        """Remember a message sent by a handler whose delivery may need inferring."""
        parent = event.parent_span_id
        if self._timed or not parent or event.causation_id is None or parent in self._consumers:
            return
        seen = self._children.get(parent)
        self._children[parent] = (seen[0] if seen else event, event.time_ns)

    def _infer_delivery(self, parent: int, child: TraceEvent, last_ns: int) -> None:
        message_id = child.causation_id or ""
        cause = self._sends.get(message_id)
        if cause is None or delivery_span_id(cause[_SPAN], name_key(child.source)) != parent:
            return  # its parent is not a delivery of its cause (an application's span)
        span = self._consumer_span(
            cause, message_id, child.source, cause[_TIME], last_ns, child.runner
        )
        span.attributes[sc.PIPEBUS_TIMING] = "inferred"
        failed = self._errors.pop((message_id, child.source), None)
        if failed is not None:
            fail(span, failed)
        self._deliver(cause, span, child.source)

    def _handler_error(self, event: TraceEvent) -> None:
        message_id = event.fields.get("message_id")
        if not isinstance(message_id, str):
            return  # an error outside any delivery (an event handler, a watcher)
        send = self._sends.get(message_id)
        if send is None:
            return  # its message was sampled out (or sent before the trace started)
        if send[_TYPE] == "BusJobRequestMessage":
            held = self._jobs.held_run(send[_JOB], event.source)
            if held is not None:
                fail(held, event)
                return
        self._errors[(message_id, event.source)] = event
