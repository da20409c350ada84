"""Regex searches over payloads: the literal text a match needs, and SQLite's REGEXP.

A regex over a million payloads is a call into Python for every row on SQLite. Most
patterns name text that every match holds (``"final":(true|1)`` holds ``"final":``):
the database's own substring search (``instr``, ``strpos``) drops the rows without it
first, and the regex only runs on the rows left.

SQLite's REGEXP is a Python function run in the driver's thread. Python's ``re`` keeps
the GIL while it matches, so a pattern that backtracks catastrophically would freeze
every thread of the process (the inspector's screen with it) until it ends. The
``regex`` module matches with the GIL released (``concurrent``) and gives up after
:data:`MATCH_TIMEOUT` on one payload: the screen stays live, an interrupted search
ends soon after, and a pattern too slow for one payload is an error that says so.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

import regex

MATCH_TIMEOUT = 1.0
"""Seconds one payload may take to match (far beyond any sane pattern's microseconds)."""

FUNCTION_FAILED = "user-defined function raised exception"
"""What SQLite says when REGEXP raised (the Python exception itself is lost there)."""

_parser: Any = importlib.import_module("re._parser")  # no public parse tree; no stubs
_constants: Any = importlib.import_module("re._constants")

_timed_out: list[str] = []
"""The last pattern that gave up on a payload (read by :func:`explain`)."""


def required_literals(pattern: str) -> tuple[str, ...]:
    """Pieces of text that every match of ``pattern`` contains (Python ``re`` syntax).

    Conservative: only text no alternative, optional part or case folding can avoid;
    none when unsure (an empty answer only means no prefilter). A longer piece that
    holds a shorter one drops it.
    """
    try:
        parsed = _parser.parse(pattern)
    except (re.error, RecursionError):
        return ()
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return ()
    pieces: list[str] = []
    _collect(parsed, pieces)
    pieces = sorted({p for p in pieces if p}, key=len, reverse=True)
    kept: list[str] = []
    for piece in pieces:
        if not any(piece in longer for longer in kept):
            kept.append(piece)
    return tuple(kept)


def _collect(items: Any, pieces: list[str]) -> None:
    """Add the required literal runs of a parsed sequence to ``pieces``."""
    c = _constants
    run: list[str] = []
    for op, value in items:
        if op is c.LITERAL:
            run.append(chr(value))
            continue
        pieces.append("".join(run))
        run = []
        if op is c.SUBPATTERN:
            _group, added, removed, inner = value
            if not (added or removed):  # (?i:...) folds case: instr would miss matches
                _collect(inner, pieces)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            least, _most, inner = value
            if least >= 1:
                _collect(inner, pieces)
        elif op is c.ASSERT:  # a lookahead/behind: its text is in the payload somewhere
            _direction, inner = value
            _collect(inner, pieces)
        elif op is c.ATOMIC_GROUP:
            _collect(value, pieces)
    pieces.append("".join(run))


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> Any:
    return regex.compile(pattern)


def search(pattern: str, text: str | None) -> bool | None:
    """SQLite's ``REGEXP``: whether ``pattern`` is found in ``text`` (NULL for NULL).

    Raises:
        TimeoutError: If one payload takes over :data:`MATCH_TIMEOUT` (noted for
            :func:`explain`, as SQLite reports only that the function raised).
    """
    if text is None:
        return None
    try:
        return _compiled(pattern).search(text, concurrent=True, timeout=MATCH_TIMEOUT) is not None
    except TimeoutError:
        _timed_out[:] = [pattern]
        raise


def register(dbapi_connection: Any, _record: Any = None) -> None:
    """Make :func:`search` the connection's REGEXP (a ``connect`` event listener).

    Replaces SQLAlchemy's own, which matches with Python's ``re`` (holding the GIL).
    """
    dbapi_connection.create_function("regexp", 2, search, deterministic=True)


def explain(error: BaseException) -> str | None:
    """What a failed search means, when a payload regex gave up (else None)."""
    original = getattr(error, "orig", None) or error
    if FUNCTION_FAILED not in str(original) or not _timed_out:
        return None
    return (
        f"the regex /{_timed_out[0]}/ took over {MATCH_TIMEOUT:g} s on one payload "
        "(it backtracks catastrophically: simplify it, e.g. no nested repeats)"
    )
