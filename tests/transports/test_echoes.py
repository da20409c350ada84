"""PendingEchoes: the sends a pub/sub bus waits to hear back, in order and bounded."""

from __future__ import annotations

import pytest

from pipebus.observability import Envelope
from pipebus.transports.echoes import PendingEchoes
from tests.transports.helpers import Note


def envelope(n: int) -> Envelope:
    return Envelope(Note(source="x", n=n), f"id-{n}", "s", n, 0, "r", 1, 1, 0, None)


def test_identical_bytes_come_back_oldest_first() -> None:
    echoes = PendingEchoes(10, "bus")
    first, second, other = envelope(1), envelope(2), envelope(3)
    echoes.expect(b"same", first)
    echoes.expect(b"other", other)
    echoes.expect(b"same", second)
    assert echoes.pending == 3
    assert echoes.take(b"same") is first
    assert echoes.take(b"same") is second
    assert echoes.take(b"same") is None
    assert echoes.take(b"other") is other
    assert echoes.pending == 0 and echoes.given_up == 0


def test_past_the_limit_the_oldest_is_given_up() -> None:
    echoes = PendingEchoes(2, "bus")
    for n in range(3):
        echoes.expect(str(n).encode(), envelope(n))
    assert echoes.pending == 2 and echoes.given_up == 1
    assert echoes.take(b"0") is None  # it would now count as another runner's message
    assert echoes.take(b"2") is not None


def test_a_failed_publish_is_forgotten_and_a_stop_gives_up_the_rest() -> None:
    echoes = PendingEchoes(10, "bus")
    failed, kept = envelope(1), envelope(2)
    echoes.expect(b"a", kept)
    echoes.expect(b"a", failed)
    echoes.forget(b"a", failed)
    assert echoes.pending == 1 and echoes.take(b"a") is kept
    echoes.expect(b"b", envelope(3))
    echoes.give_up("stopped")
    assert echoes.pending == 0 and echoes.given_up == 1 and echoes.take(b"b") is None


async def test_wait_ends_when_all_came_back_or_after_the_timeout() -> None:
    echoes = PendingEchoes(10, "bus")
    await echoes.wait(0.01)  # nothing pending: at once
    echoes.expect(b"a", envelope(1))
    await echoes.wait(0.01)  # never comes back: given up
    assert echoes.pending == 0 and echoes.given_up == 1


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PendingEchoes(0, "bus")
