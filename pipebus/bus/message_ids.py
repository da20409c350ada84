"""The ids a bus gives its messages: unique across buses, sorted in send order."""

from __future__ import annotations

DIGIT_COUNT = " abcdefghijklmnopqrstuvwxyz"
"""The letter before a message id's counter, giving its digit count (``a7``, ``b42``,
``c100``...): a bus's ids then sort in send order, so each append to the event log's
indexes by message id and by cause lands at their right edge instead of anywhere in
them (cheaper appends; the figures are in benchmarks/results/sqlite_indexes.md)."""


def sorted_message_id(prefix: str, seq: int) -> str:
    """The id of a bus's ``seq``-th message, given the bus's id prefix."""
    digits = str(seq)
    return prefix + DIGIT_COUNT[len(digits)] + digits
