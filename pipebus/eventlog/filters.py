"""``EventFilter``: which events of a session a search selects, as plain values.

The event log turns a filter into SQL (:meth:`~pipebus.eventlog.store.EventLog.positions`
and :meth:`~pipebus.eventlog.store.EventLog.next_match`), so a search over a whole
session runs in the database. This module imports nothing but the standard library:
a view-model can build filters without loading a database driver.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TypeSet:
    """Event types named by a set: those in it, or (``complement``) every other type.

    Attributes:
        names: Wire names of message types.
        complement: Whether the set means every type *not* named.
    """

    names: frozenset[str]
    complement: bool = False


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a search selects: alternatives within a field, every field together.

    An empty field selects every event; the values of one field are alternatives (any
    may hold), the fields all hold together. A filter with no field set selects every
    event (inverted, none).

    Attributes:
        type_contains: Substrings of the type's wire name (case-insensitive).
        type_sets: Sets of types (a category of messages, say) the type belongs to.
        sources: Exact sender names.
        targets: Exact target names (a broadcast has none).
        workers: Names matching the sender or the target.
        job_prefixes: Jobs as shown (:func:`~pipebus.core.ids.short_job_id`) or prefixes
            of their ids (an event outside any job has none).
        payload_patterns: Regular expressions searched in the payload's JSON text.
        invert: Select the events the fields do not.
    """

    type_contains: tuple[str, ...] = ()
    type_sets: tuple[TypeSet, ...] = ()
    sources: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    workers: tuple[str, ...] = ()
    job_prefixes: tuple[str, ...] = ()
    payload_patterns: tuple[str, ...] = ()
    invert: bool = False
