"""What arrives from another runner: envelopes decoded once, duplicates dropped, bad input recorded.

Anything that is not a valid envelope of a registered type is skipped, counted by
kind, logged once per kind and recorded as a ``BusDecodeErrorMessage``; the bus goes
on. Nothing is imported because data named it: the codec builds registered types only.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import TYPE_CHECKING

from pipebus.core.catalog import CATALOG
from pipebus.core.envelope import ENVELOPE_VERSION, Envelope
from pipebus.core.errors import DecodeError
from pipebus.core.messages import BusDecodeErrorMessage
from pipebus.core.wire import MAX_ENVELOPE_BYTES, decode_envelope
from pipebus.transports.stats import Counters

if TYPE_CHECKING:
    from pipebus.bus.base import WorkerBus

logger = logging.getLogger("pipebus.transports")

EXCERPT_BYTES = 200
"""How much of a bad input its decode-error event keeps."""

RECENT_IDS = 8192
"""How many recent message ids a reader remembers to drop duplicates."""


def classify(raw: bytes, error: DecodeError) -> str:
    """The kind of a decode error, from a second look at the input (the rare path).

    ``"oversized"``, ``"not_json"``, ``"not_an_envelope"`` (JSON, but not an envelope
    object), ``"newer_version"``, ``"unknown_type"`` or ``"bad_fields"``.
    """
    if len(raw) > MAX_ENVELOPE_BYTES:
        return "oversized"
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return "not_json"
    if not isinstance(document, dict) or not {"v", "type", "msg"} <= document.keys():
        return "not_an_envelope"
    version = document["v"]
    if isinstance(version, int) and not isinstance(version, bool) and version > ENVELOPE_VERSION:
        return "newer_version"
    type_name = document["type"]
    entry = CATALOG.by_name(type_name) if isinstance(type_name, str) else None
    if entry is None or entry.kind != "message":
        return "unknown_type"
    return "bad_fields"


class Inbound:
    """Decodes what one bus reads, drops duplicates and records what is not an envelope.

    Args:
        bus: The bus that reads (decode errors are recorded on it).
        counters: The bus's counters.
    """

    def __init__(self, bus: WorkerBus, counters: Counters) -> None:
        self._bus = bus
        self._counters = counters
        self._recent: set[str] = set()
        self._order: deque[str] = deque()
        self._logged: set[str] = set()

    def decode(self, raw: bytes, channel: str) -> Envelope | None:
        """The envelope in ``raw``, or None if it is not one (recorded) or a duplicate."""
        try:
            envelope = decode_envelope(raw)
        except DecodeError as exc:
            self.reject(raw, channel, classify(raw, exc), str(exc))
            return None
        message_id = envelope.message_id
        recent = self._recent
        if message_id in recent:
            self._counters.duplicates += 1
            return None
        recent.add(message_id)
        order = self._order
        order.append(message_id)
        if len(order) > RECENT_IDS:
            recent.discard(order.popleft())
        return envelope

    def reject(self, raw: bytes, channel: str, kind: str, error: str) -> None:
        """Count, log (once per kind) and record one input that is not an envelope."""
        errors = self._counters.decode_errors
        errors[kind] = errors.get(kind, 0) + 1
        if kind not in self._logged:
            self._logged.add(kind)
            logger.warning(
                "%s skipped input on %s that is not an envelope (%s): %s; further "
                "%s errors are counted and recorded, not logged",
                self._bus,
                channel,
                kind,
                error,
                kind,
            )
        excerpt = raw[:EXCERPT_BYTES].decode("utf-8", "replace")
        self._bus.record(
            BusDecodeErrorMessage(
                source=self._bus.runner_name,
                kind=kind,
                error=error[:500],
                raw_excerpt=excerpt,
                size=len(raw),
                channel=channel,
            )
        )
