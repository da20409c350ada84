"""Filter, find and breakpoint queries: their syntax, their categories, and a pure match.

A query is a few terms separated by spaces; terms of one key are alternatives (OR),
terms of different keys must all hold (AND), and so must every bare word (``hung up``
finds what holds both words, as a search box does)::

    type:update            the type name contains "update" (case-insensitive)
    cat:job                a category: lifecycle, job, frame, registry, error
    source:writer          sent by "writer"
    target:coordinator     sent to "coordinator"
    worker:writer          sent by or to "writer"
    job:3fa2b1c9           the job as the inspector shows it, or a prefix of its whole id
    /progress.*100/        a regular expression over the payload (JSON text); several
                           are alternatives
    re:progress            the same, without the slashes
    hello                  a bare word: a regular expression over the payload, which
                           must be found besides every other bare word
    !                      (alone, or as the first character) invert the whole query

The same query is matched here in Python (for the rows on screen and for events
arriving live) and, as the event log's filter (:meth:`Query.event_filter`), searched
by the database over whole sessions (:mod:`inspector.data` asks the log).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Protocol

from pipebus.core.describe import ERROR_TYPES
from pipebus.core.ids import job_id_matches
from pipebus.eventlog.filters import EventFilter, TypeSet

CATEGORIES = ("lifecycle", "job", "frame", "registry", "error")
"""The categories a message type belongs to (``frame`` holds frames and other data)."""

JOB_TYPES = frozenset(
    {
        "BusJobRequestMessage",
        "BusJobResponseMessage",
        "BusJobResponseUrgentMessage",
        "BusJobUpdateMessage",
        "BusJobUpdateUrgentMessage",
        "BusJobUpdateRequestMessage",
        "BusJobCancelMessage",
        "BusJobStreamStartMessage",
        "BusJobStreamDataMessage",
        "BusJobStreamEndMessage",
        "BusJobGroupFinishedMessage",
    }
)
REGISTRY_TYPES = frozenset(
    {
        "BusWorkerReadyMessage",
        "BusWorkerRegistryMessage",
        "BusWorkerStoppedMessage",
        "BusAddWorkerMessage",
    }
)
LIFECYCLE_TYPES = frozenset(
    {
        "BusActivateWorkerMessage",
        "BusDeactivateWorkerMessage",
        "BusEndMessage",
        "BusEndWorkerMessage",
        "BusCancelMessage",
        "BusCancelWorkerMessage",
    }
)
TYPES_OF: dict[str, frozenset[str]] = {
    "lifecycle": LIFECYCLE_TYPES,
    "job": JOB_TYPES,
    "registry": REGISTRY_TYPES,
    "error": ERROR_TYPES,
}
"""The types of each category but ``frame``, which is every other type."""

KEYS = ("type", "cat", "source", "target", "worker", "job", "re")


class Event(Protocol):
    """What a query reads of an event (a :class:`~pipebus.eventlog.rows.StoredEvent`)."""

    @property
    def type(self) -> str:
        """The type's wire name."""

    @property
    def source(self) -> str:
        """The sender."""

    @property
    def target(self) -> str | None:
        """The target, None for a broadcast."""

    @property
    def job_id(self) -> str | None:
        """The job, if any."""

    @property
    def payload(self) -> str:
        """The message's fields as JSON."""


class SteppedEvent(Event, Protocol):
    """An event and its step (what breakpoints report)."""

    @property
    def seq(self) -> int:
        """The event's step."""


def category_of(type_name: str) -> str:
    """The category of a message type."""
    for name, types in TYPES_OF.items():
        if type_name in types:
            return name
    return "frame"


class QueryError(ValueError):
    """A query that does not parse (an unknown key or category, a bad regex)."""


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: each field holds the alternatives of one key.

    Attributes:
        types: Substrings of the type name (case-insensitive).
        categories: Categories (see :data:`CATEGORIES`).
        sources: Exact sender names.
        targets: Exact target names.
        workers: Names matching the sender or the target.
        jobs: Jobs as shown (their short ids) or prefixes of their whole ids.
        patterns: Regular expressions searched in the payload (alternatives).
        words: Bare words: regular expressions that must all be found in the payload.
        invert: Whether the query matches what the terms do not.
        text: The text it was parsed from.
    """

    types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    workers: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    invert: bool = False
    text: str = ""
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    @property
    def empty(self) -> bool:
        """Whether the query has no term (it matches everything, or nothing inverted)."""
        return not (
            self.types
            or self.categories
            or self.sources
            or self.targets
            or self.workers
            or self.jobs
            or self.patterns
            or self.words
        )

    def matches(self, event: Event) -> bool:
        """Whether ``event`` matches (the pure twin of :meth:`event_filter`)."""
        return self._terms_hold(event) != self.invert

    def event_filter(self) -> EventFilter:
        """The query as the event log's filter: what the log searches a whole session for.

        The twin of :meth:`matches`: the same query selects the same events there (in
        the database) and here (rows on screen, events arriving live).
        """
        return EventFilter(
            type_contains=self.types,
            type_sets=tuple(_type_set(name) for name in self.categories),
            sources=self.sources,
            targets=self.targets,
            workers=self.workers,
            job_prefixes=self.jobs,
            payload_patterns=payload_patterns(self.words, self.patterns),
            invert=self.invert,
        )

    def _terms_hold(self, event: Event) -> bool:
        if self.types:
            lowered = event.type.lower()
            if not any(t.lower() in lowered for t in self.types):
                return False
        if self.categories and category_of(event.type) not in self.categories:
            return False
        if self.sources and event.source not in self.sources:
            return False
        if self.targets and event.target not in self.targets:
            return False
        if self.workers and not (event.source in self.workers or event.target in self.workers):
            return False
        if self.jobs and not (
            event.job_id is not None and any(job_id_matches(event.job_id, j) for j in self.jobs)
        ):
            return False
        return not self._compiled or any(p.search(event.payload) for p in self._compiled)


def payload_patterns(words: tuple[str, ...], patterns: tuple[str, ...]) -> tuple[str, ...]:
    """The payload's search (every word, and one of the patterns) as the log's alternatives.

    One word alone stays itself (a plain word is a substring search in the database).
    Several are one regex of lookaheads from the start, which Python's ``re`` and
    PostgreSQL's regexes read alike (a payload is JSON text: one line, so ``.`` spans it).
    """
    if not words:
        return patterns
    if len(words) == 1 and not patterns:
        return words
    every = "".join(f"(?=.*(?:{word}))" for word in words)
    either = "|".join(f"(?:{pattern})" for pattern in patterns)
    return (f"^{every}.*(?:{either})" if patterns else f"^{every}",)


def _type_set(category: str) -> TypeSet:
    """The types of a category: ``frame`` is every type no other category names."""
    if category == "frame":
        return TypeSet(frozenset().union(*TYPES_OF.values()), complement=True)
    return TypeSet(TYPES_OF[category])


def parse(text: str) -> Query:
    """Parse a query (see the module's docstring for the syntax).

    Raises:
        QueryError: If a key or a category is unknown, or a regex does not compile.
    """
    terms: dict[str, list[str]] = {key: [] for key in KEYS}
    words: list[str] = []
    invert = False
    body = text.strip()
    if body.startswith("!"):
        invert, body = True, body[1:].strip()
    for word in _words(body):
        if word.startswith("/") and word.endswith("/") and len(word) > 1:
            terms["re"].append(word[1:-1])
            continue
        key, colon, value = word.partition(":")
        if not colon:
            words.append(word)
            continue
        key = {"category": "cat", "regex": "re", "payload": "re"}.get(key, key)
        if key not in terms:
            raise QueryError(f"unknown key {key!r}: use one of {', '.join(KEYS)}")
        if not value:
            raise QueryError(f"{key}: needs a value")
        if key == "cat" and value not in CATEGORIES:
            raise QueryError(f"unknown category {value!r}: use one of {', '.join(CATEGORIES)}")
        terms[key].append(value)
    try:
        for pattern in (*words, *terms["re"]):  # each alone: the error names its own
            re.compile(pattern)
        searched = payload_patterns(tuple(words), tuple(terms["re"]))
        compiled = tuple(re.compile(p) for p in searched)
    except re.error as exc:
        raise QueryError(f"bad regular expression: {exc}") from None
    return Query(
        types=tuple(terms["type"]),
        categories=tuple(terms["cat"]),
        sources=tuple(terms["source"]),
        targets=tuple(terms["target"]),
        workers=tuple(terms["worker"]),
        jobs=tuple(terms["job"]),
        patterns=tuple(terms["re"]),
        words=tuple(words),
        invert=invert,
        text=text.strip(),
        _compiled=compiled,
    )


def _words(text: str) -> list[str]:
    """Split on spaces, keeping a ``/regex with spaces/`` whole."""
    words: list[str] = []
    rest = text
    while rest := rest.strip():
        if rest.startswith("/") and (end := rest.find("/", 1)) > 0:
            words.append(rest[: end + 1])
            rest = rest[end + 1 :]
            continue
        word, _, rest = rest.partition(" ")
        words.append(word)
    return words


BREAKPOINT_KINDS = ("type", "worker", "error", "job")


def breakpoint_query(text: str) -> Query:
    """A breakpoint as a query: ``type:NAME``, ``worker:NAME``, ``error`` or ``job:ID``.

    Any other query text is accepted too (a breakpoint on whatever it matches).

    Raises:
        QueryError: If it does not parse, or matches everything.
    """
    stripped = text.strip()
    query = parse("cat:error") if stripped in ("error", "errors") else parse(stripped)
    if query.empty:
        raise QueryError("a breakpoint needs a term: type:NAME, worker:NAME, error or job:ID")
    return replace(query, text=stripped)
