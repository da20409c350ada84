"""Several runners record one session into a shared PostgreSQL log.

The README's way: each runner is given the same ``session_id=`` and nothing else, in
whatever order they start; whoever creates the session row, the others join it. Here:
two runner processes on one Redis bus, then the writers underneath, racing on purpose.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from pipebus import (
    BaseWorker,
    BusDataMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    RedisBus,
    WorkerRunner,
)
from pipebus.core.errors import EventLogError
from pipebus.eventlog.schema import EVENT_COLUMNS
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import Batch, Writer
from pipebus.projections import SessionState
from pipebus.testing import EnvelopeCapture, running, until
from tests.eventlog.conftest import drop_schema
from tests.integration.processes import RunnerProcess
from tests.services import need_postgres

SESSION = "shared-session"
Row = tuple[Any, ...]


@pytest.fixture
async def location() -> AsyncIterator[str]:
    """A PostgreSQL log URL with a schema of this test's own, dropped afterwards."""
    base = need_postgres()
    schema = f"pbtest_{secrets.token_hex(6)}"
    yield f"{base}?schema={schema}"
    await drop_schema(base, schema)


@pytest.fixture
async def log(location: str) -> AsyncIterator[EventLog]:
    opened = await EventLog.open(location)
    yield opened
    await opened.close()


def row(seq: int, message_id: str, *, payload: str | None = "{}") -> Row:
    """An events row as a runner's recorder hands it over, at its own position ``seq``."""
    values: dict[str, Any] = {
        "session_id": SESSION,
        "seq": seq,
        "message_id": message_id,
        "time_ns": 1_700_000_000_000_000_000 + seq,
        "type": "Note",
        "source": "sender",
        "target": None,
        "priority": "data",
        "local": False,
        "job_id": None,
        "runner": "runner",
        "remote": False,
        "payload": payload,
        "trace_id": f"{seq:032x}",
        "span_id": f"{seq:016x}",
        "parent_span_id": None,
        "causation_id": None,
    }
    return tuple(values[column] for column in EVENT_COLUMNS)


def view(ids: list[str]) -> list[Row]:
    """What one runner records: ``ids`` at its own positions 1, 2, 3, ..."""
    return [row(seq, message_id) for seq, message_id in enumerate(ids, 1)]


async def record(writer: Writer, rows: list[Row], size: int) -> None:
    for start in range(0, len(rows), size):
        await writer.append(Batch(rows[start : start + size], [], []))
        await asyncio.sleep(0)  # let the other writers take turns


async def test_each_runner_records_its_view_and_the_merged_session_holds_each_message_once(
    redis: Redis, redis_url: str, channel: str, location: str
) -> None:
    """Two runner processes, nothing made beforehand: no session row, no schema."""
    session = secrets.token_hex(16)
    other = RunnerProcess(
        "b",
        channel,
        redis_url,
        "--workers",
        "echo:echo-b",
        "--event-log",
        location,
        "--session",
        session,
    )
    try:
        bus = RedisBus(redis=redis, channel=channel)
        runner = WorkerRunner(
            name="a", bus=bus, handle_sigint=False, event_log=location, session_id=session
        )
        asker = BaseWorker("asker")
        await runner.add_workers(asker)
        seen = EnvelopeCapture(bus)
        starting = asyncio.create_task(other.start())
        async with running(runner):
            await starting
            await until(lambda: "echo-b" in runner.registry, timeout=10)
            for i in range(10):
                async with asker.job("echo-b", payload={"i": i}, timeout=10):
                    pass
            assert await other.end() == 0
        sent = {e.message_id for e in seen.envelopes if isinstance(e.message, BusJobRequestMessage)}
        answered = {
            e.message_id for e in seen.envelopes if isinstance(e.message, BusJobResponseMessage)
        }
    finally:
        await other.close()
    log = await EventLog.open(location)
    try:
        info = await log.session(session)
        stored = await log.events(session)
    finally:
        await log.close()
    counts = Counter(e.message_id for e in stored)
    assert max(counts.values()) == 1  # deduplicated by message id
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))  # gapless
    assert sent <= counts.keys() and answered <= counts.keys()
    assert len(sent) == len(answered) == 10
    assert {e.runner for e in stored} == {"a", "b"}
    assert info.lost_events == 0


async def test_runners_beginning_one_session_at_once_create_it_once_without_error(
    location: str,
) -> None:
    """Each runner has a log of its own (a pool, a connection open), as in its process."""
    logs = [await EventLog.open(location) for _ in range(5)]
    try:
        created = await asyncio.gather(
            *(log.begin_session(SESSION, runner=f"r{i}") for i, log in enumerate(logs))
        )
        assert sorted(created) == [False, False, False, False, True]
        assert (await logs[0].session(SESSION)).events == 0
    finally:
        for log in logs:
            await log.close()


async def test_the_creator_and_runners_joining_at_once_number_the_session_gapless(
    log: EventLog,
) -> None:
    """The creator appends alone at its own positions until the others' events show up."""
    assert await log.begin_session(SESSION, runner="creator")
    ids = [f"msg-{i:05d}" for i in range(3000)]
    creator = log.writer(SESSION)  # as the recorder opens it for the session it created
    joiners = [log.writer(SESSION, shared=True) for _ in range(2)]
    # Each saw every message (one bus); each records them at its own positions 1, 2, ...
    await asyncio.gather(
        record(creator, view(ids), 400),
        record(joiners[0], view(ids), 333),
        record(joiners[1], view(ids[::-1]), 250),
    )
    for writer in (creator, *joiners):
        await writer.close()
    stored = await log.events(SESSION)
    assert [e.seq for e in stored] == list(range(1, len(ids) + 1))
    assert sorted(e.message_id for e in stored) == ids
    assert (await log.session(SESSION)).events == len(ids)


async def test_the_creator_stores_snapshots_only_while_the_session_is_its_own(
    log: EventLog,
) -> None:
    """Its snapshots are taken at its own positions: right only while every event is its."""
    await log.begin_session(SESSION, runner="creator")
    creator, joiner = log.writer(SESSION), log.writer(SESSION, shared=True)
    state = SessionState()
    assert await creator.append(Batch(view(["a", "b"]), [], [(2, state)])) == 2
    assert await joiner.append(Batch(view(["b", "c"]), [], [])) == 3
    mine = [row(3, "d"), row(4, "e")]
    assert await creator.append(Batch(mine, [], [(4, state)])) == 5
    for writer in (creator, joiner):
        await writer.close()
    assert await log.snapshot_positions(SESSION) == [2]
    assert [e.message_id for e in await log.events(SESSION)] == ["a", "b", "c", "d", "e"]


async def test_every_runners_losses_add_up_on_the_session(log: EventLog) -> None:
    """Each runner loses a batch; the session counts both, from the earliest position."""
    await log.begin_session(SESSION, runner="creator")
    first, second = log.writer(SESSION), log.writer(SESSION, shared=True)
    assert await first.append(Batch(view(["a", "b"]), [], [])) == 2
    unstorable = None  # no payload at all: no escape can store it, the batch is lost
    with pytest.raises(EventLogError, match="column payload: missing"):
        await second.append(Batch([row(1, "x", payload=unstorable), row(2, "y")], [], []))
    await second.mark_lost(2, 1)
    assert await second.append(Batch(view(["c"]), [], [])) == 3
    with pytest.raises(EventLogError, match="column payload: missing"):
        await first.append(Batch([row(3, "z", payload=unstorable)], [], []))
    await first.mark_lost(1, 3)
    await first.mark_lost(1, 3)  # marked again at the end: counted once
    for writer in (first, second):
        await writer.close()
    info = await log.session(SESSION)
    # The second runner's batch would have come after position 2, the first's after 3.
    assert (info.lost_events, info.first_lost_seq) == (3, 3)
    assert [e.seq for e in await log.events(SESSION)] == [1, 2, 3]


async def test_a_sync_send_into_a_shared_session_returns_once_its_event_is_stored(
    log: EventLog, location: str
) -> None:
    """The session's positions run ahead of the runner's own: a send still waits for its."""
    await log.begin_session(SESSION, runner="other")
    other = log.writer(SESSION, shared=True)
    await other.append(Batch(view([f"other-{i}" for i in range(50)]), [], []))
    await other.close()
    runner = WorkerRunner(
        handle_sigint=False, event_log=location, session_id=SESSION, durability="sync"
    )
    sender = BaseWorker("sender")
    await runner.add_workers(sender)
    seen = EnvelopeCapture(runner.bus)
    async with running(runner):
        for i in range(3):
            message = BusDataMessage(source="sender")
            await sender.send_bus_message(message)
            (sent,) = [e for e in seen.envelopes if e.message is message]
            assert await log.event_by_message_id(SESSION, sent.message_id) is not None, i
