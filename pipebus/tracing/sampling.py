"""Sampling decisions for live tracing, made once per message and carried with it.

OpenTelemetry's sampler decides when a span starts, from its parent's context. pipebus
builds its spans later, in batches, so it asks the tracer provider's sampler when a
message is stamped instead, with the parent the message is sent under: the
delivery being handled (a local parent), the application's current span (local or
remote, as the application's context says), or, for a message from another runner,
that runner's send (a remote parent, with the decision that runner carried in the
envelope). The decision goes on the envelope (``Envelope.sampled``): the message's
spans are built only if it is true, the application's spans under its deliveries
see it as their parent's flag, and other runners receive it on the wire. So a
non-sampled trace stays non-sampled in every process it reaches.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    StaticSampler,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

_FLAGS = {True: TraceFlags(TraceFlags.SAMPLED), False: TraceFlags(TraceFlags.DEFAULT)}
_KEPT_ROOTS = 4096


class TraceSampling:
    """Asks a sampler whether a message's spans are kept.

    The common samplers are answered without calling them: always-on keeps
    everything; a parent-based sampler with its default delegates follows a parent's
    flag (what it would answer), and asks its root sampler only for a root. Root
    decisions are remembered per trace for a while, so that the messages of one job
    sent outside any handler (one trace, each a root) share one decision even under a
    sampler that is not a pure function of the trace id.

    Args:
        sampler: The tracer provider's sampler.
    """

    def __init__(self, sampler: Sampler) -> None:
        self._sampler: Sampler | None = sampler
        self._follows_parent = False
        root = sampler
        if isinstance(sampler, ParentBased) and _default_delegates(sampler):
            self._follows_parent = True
            root = sampler._root
        if _always(root, Decision.RECORD_AND_SAMPLE):
            self._root: Sampler | None = None
            if root is sampler:  # bare always-on: keeps even a non-sampled parent's children
                self._sampler = None
        else:
            self._root = root
        self._roots: dict[int, bool] = {}
        self.keeps_everything = self._sampler is None
        """No parent's flag and no root decision can drop anything."""

    def decide(
        self,
        trace_id: int,
        name: str,
        parent_span_id: int = 0,
        parent_sampled: bool | None = None,
        parent_remote: bool = False,
    ) -> bool:
        """Whether a message's spans are kept.

        Args:
            trace_id: The message's trace.
            name: The name of its send span (what a sampler is shown).
            parent_span_id: The span it was sent under (0: a root).
            parent_sampled: That parent's sampled flag; None when it is a root or
                the parent's decision is unknown (an envelope from an untraced
                runner), which makes it a root decision.
            parent_remote: Whether the parent is in another process.
        """
        sampler = self._sampler
        if sampler is None:
            return True
        if parent_sampled is not None and parent_span_id:
            if self._follows_parent:
                return parent_sampled
            parent = SpanContext(trace_id, parent_span_id, parent_remote, _FLAGS[parent_sampled])
            context = trace.set_span_in_context(NonRecordingSpan(parent))
            result = sampler.should_sample(context, trace_id, name, SpanKind.PRODUCER)
            return result.decision is Decision.RECORD_AND_SAMPLE
        known = self._roots.get(trace_id)
        if known is not None:
            return known
        root = self._root if self._follows_parent else sampler
        if root is None:
            return True
        result = root.should_sample(None, trace_id, name, SpanKind.PRODUCER)
        decided = result.decision is Decision.RECORD_AND_SAMPLE
        if len(self._roots) >= _KEPT_ROOTS:
            self._roots.clear()
        self._roots[trace_id] = decided
        return decided


def _always(sampler: Sampler, decision: Decision) -> bool:
    return isinstance(sampler, StaticSampler) and sampler._decision is decision


def _default_delegates(sampler: ParentBased) -> bool:
    """Whether a parent-based sampler follows its parent's flag, as it does by default."""
    keep, drop = Decision.RECORD_AND_SAMPLE, Decision.DROP
    return (
        _always(sampler._remote_parent_sampled, keep)
        and _always(sampler._local_parent_sampled, keep)
        and _always(sampler._remote_parent_not_sampled, drop)
        and _always(sampler._local_parent_not_sampled, drop)
    )
