"""The job spans of a trace: ``job <name>`` in the requester, and each worker's run.

A job group is one INTERNAL span in the requester's runner, opened by its first
request and closed when the requester has handled every worker's answer (or gave
its verdict: failed, cancelled, timeout). The requests, update requests and cancels
the requester sends are its children. The delivery of a request to a worker (a
CONSUMER span) is held open until that worker answers, so it covers the job's run
and not only the handler that started it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipebus.core.ids import job_span_id
from pipebus.tracing import semconv as sc
from pipebus.tracing.records import INTERNAL, SpanRecord, TraceEvent

ANSWERS = frozenset(
    {"BusJobResponseMessage", "BusJobResponseUrgentMessage", "BusJobStreamEndMessage"}
)
"""A worker's last word on a job."""
REQUESTER_SENDS = frozenset(
    {"BusJobRequestMessage", "BusJobUpdateRequestMessage", "BusJobCancelMessage"}
)
"""What the requester sends on a job (children of the job span)."""


@dataclass(slots=True)
class _Job:
    span: SpanRecord
    requester: str
    workers: list[str] = field(default_factory=list)
    waiting: set[str] = field(default_factory=set)
    unhandled: int = 0
    status: str = "completed"
    failure: str | None = None


class JobSpans:
    """The open job spans and held job runs of one :class:`SpanBuilder`.

    Args:
        out: Where finished spans go (the builder's output list).
        timed: Whether deliveries are timed (else a job ends at its last answer's send).
    """

    def __init__(self, out: list[SpanRecord], *, timed: bool) -> None:
        self._out = out
        self._timed = timed
        self._jobs: dict[str, _Job] = {}
        self._runs: dict[tuple[str, str], SpanRecord] = {}
        self._answered: set[tuple[str, str]] = set()

    def on_send(self, event: TraceEvent) -> None:
        """A message of a job was sent (call before its send span is built)."""
        job_id = event.job_id or ""
        if event.type == "BusJobRequestMessage" and not event.remote:
            self._requested(job_id, event)
        elif event.type in ANSWERS:
            self._answered_by(job_id, event)

    def parent_of_send(self, event: TraceEvent) -> int:
        """The parent of a send span: the job span for what its requester sends on it."""
        if event.job_id is not None and event.type in REQUESTER_SENDS and not event.remote:
            job = self._jobs.get(event.job_id)
            if job is not None and job.requester == event.source:
                return job.span.span_id
        return event.parent_span_id

    def hold_run(self, job_id: str | None, worker: str, span: SpanRecord) -> bool:
        """Keep a request's delivery open until the worker answers; False if it already did."""
        key = (job_id or "", worker)
        if not self._timed:
            return False
        if key in self._answered:
            self._answered.discard(key)
            return False
        self._runs[key] = span
        return True

    def held_run(self, job_id: str | None, worker: str) -> SpanRecord | None:
        """The delivery span of a job run still waiting for its worker's answer."""
        return self._runs.get((job_id or "", worker))

    def answer_handled(self, job_id: str | None, subscriber: str, end_ns: int) -> None:
        """A worker's answer was delivered to ``subscriber`` (timed deliveries only)."""
        job = self._jobs.get(job_id or "")
        if job is None or subscriber != job.requester:
            return
        job.unhandled -= 1
        job.span.end_ns = max(job.span.end_ns, end_ns)
        if not job.waiting and job.unhandled <= 0:
            self._close(job_id or "", end_ns)

    def verdict(self, event: TraceEvent) -> None:
        """The requester's recorded verdict on a group: its span ends here.

        If every worker answered, it ends once the requester has handled the answers.
        """
        job = self._jobs.get(event.job_id or "")
        if job is None:
            return
        status = str(event.fields.get("status") or "completed")
        reason = event.fields.get("reason")
        if status != "completed" or reason:
            job.status = status if status != "completed" else "failed"
            job.failure = f"{job.status}: {reason}" if reason else job.status
        if not job.waiting and job.unhandled > 0:
            return  # given while handling the last answers: the job ends when they are
        self._close(event.job_id or "", event.time_ns)

    def close_all(self) -> None:
        """End of input: release held runs and close open jobs where they stand."""
        self._out.extend(self._runs.values())
        self._runs.clear()
        self._answered.clear()
        for job_id in list(self._jobs):
            self._close(job_id, None)

    # --- internals ---------------------------------------------------------------------

    def _requested(self, job_id: str, event: TraceEvent) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            name = event.fields.get("job_name")
            span = _job_span(event, job_span_id(job_id), f"job {name}" if name else "job")
            if name:
                span.attributes[sc.PIPEBUS_JOB_NAME] = name
            job = self._jobs[job_id] = _Job(span, event.source)
        if event.target is not None and event.target not in job.waiting:
            job.workers.append(event.target)
            job.waiting.add(event.target)

    def _answered_by(self, job_id: str, event: TraceEvent) -> None:
        worker = event.source
        run = self._runs.pop((job_id, worker), None)
        if run is not None:
            run.end_ns = max(run.end_ns, event.time_ns)
            self._out.append(run)
        elif self._timed and not event.remote:
            self._answered.add((job_id, worker))
        job = self._jobs.get(job_id)
        if job is None or worker not in job.waiting:
            return
        job.waiting.discard(worker)
        status = str(event.fields.get("status") or "completed")
        if status != "completed" and job.failure is None:
            job.status = "failed"
            job.failure = f"failed: worker '{worker}' answered {status}"
        job.span.end_ns = max(job.span.end_ns, event.time_ns)
        if self._timed:
            job.unhandled += 1
        elif not job.waiting:
            self._close(job_id, event.time_ns)

    def _close(self, job_id: str, end_ns: int | None) -> None:
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        span = job.span
        if end_ns is not None:
            span.end_ns = max(span.end_ns, end_ns)
        span.attributes[sc.PIPEBUS_JOB_WORKERS] = tuple(job.workers)
        unfinished = job.failure is None and job.waiting
        span.attributes[sc.PIPEBUS_JOB_STATUS] = "unfinished" if unfinished else job.status
        if job.failure is not None:
            span.error = job.failure
            span.attributes[sc.ERROR_TYPE] = job.status
        self._out.append(span)


def _job_span(event: TraceEvent, span_id: int, name: str) -> SpanRecord:
    attributes = {
        sc.SYSTEM: "pipebus",
        sc.CONVERSATION_ID: event.job_id,
        sc.PIPEBUS_SOURCE: event.source,
        sc.PIPEBUS_SESSION: event.session_id,
    }
    return SpanRecord(
        event.trace_id,
        span_id,
        event.parent_span_id,
        name,
        INTERNAL,
        event.time_ns,
        event.time_ns,
        attributes,
        runner=event.runner,
    )
