"""Queries as SQL: the condition a filter, a find or a breakpoint puts on the events table.

The twin of :meth:`inspector.query.Query.matches`: the same query selects the same
events here (over a whole session, in the database) and there (rows on screen,
events arriving live). Only expressions are built here; :mod:`inspector.data` runs them.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, and_, func, not_, or_, true

from inspector.query import TYPES_OF, Query
from pipebus.eventlog.schema import events

_SPECIAL = re.compile(r"[.^$*+?{}\[\]\\|()]")


def where(query: Query, dialect: str = "sqlite") -> ColumnElement[bool]:
    """The SQL condition of a query (the twin of :meth:`Query.matches`) for ``dialect``."""
    c = events.c
    terms: list[ColumnElement[bool]] = []
    if query.types:
        lowered = func.lower(c.type)
        terms.append(or_(*(lowered.contains(t.lower(), autoescape=True) for t in query.types)))
    if query.categories:
        terms.append(or_(*(_category(name) for name in query.categories)))
    target = func.coalesce(c.target, "")
    if query.sources:
        terms.append(c.source.in_(query.sources))
    if query.targets:
        terms.append(target.in_(query.targets))
    if query.workers:
        terms.append(or_(c.source.in_(query.workers), target.in_(query.workers)))
    if query.jobs:
        job = func.coalesce(c.job_id, "")
        terms.append(or_(*(job.startswith(j, autoescape=True) for j in query.jobs)))
    if query.patterns:
        terms.append(or_(*(_search(p, dialect) for p in query.patterns)))
    held = and_(true(), *terms)
    return not_(held) if query.invert else held


def _search(pattern: str, dialect: str) -> ColumnElement[bool]:
    """A regex search of the payload; a pattern without special characters is a substring.

    The substring test (``instr`` / ``strpos``) runs in the database's own code; a
    regex on SQLite calls Python's ``re`` once per row.
    """
    if not _SPECIAL.search(pattern):
        find = func.strpos if dialect == "postgresql" else func.instr
        return find(events.c.payload, pattern) > 0
    return events.c.payload.regexp_match(pattern)


def _category(name: str) -> ColumnElement[bool]:
    if name == "frame":
        known = sorted(set().union(*TYPES_OF.values()))
        return events.c.type.not_in(known)
    return events.c.type.in_(sorted(TYPES_OF[name]))
