"""A job's payload keeps its types live and in replay; send() refuses what the log cannot store.

Issue #13, end to end on the in-process bus (over Redis: ``tests/transports``): a
payload holding a datetime, a Decimal, a UUID, a tuple, a set and an int-keyed dict
reaches the worker as those types, and the recorded session replays them as those
types. A message the codec cannot write is refused by ``send()`` when a recorder
needs its text; with nothing recorded, the in-process bus never encodes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pipebus import (
    AsyncQueueBus,
    BaseWorker,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusMessage,
    BusSubscriber,
    EncodeError,
    JobStatus,
    WorkerRunner,
)
from pipebus.eventlog.rows import event_row
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import Batch
from pipebus.observability import Envelope
from pipebus.replay import SessionReplay
from pipebus.testing import running
from tests.core.test_payload_values import assert_same


def rich_payload() -> dict[str, Any]:
    """The payload of the issue: every value in it comes back as its own type."""
    return {
        "when": datetime(2024, 5, 17, 19, 30, tzinfo=ZoneInfo("Europe/Lisbon")),
        "created": datetime(2024, 5, 17, 8, 0, 0, 123456),
        "budget": Decimal("120.50"),
        "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "window": (18, 21),
        "tags": {"vip", "terrace"},
        "by_hour": {18: "full", 19: "free"},
        "nested": [{"pairs": ((1, 2), frozenset({3}))}],
        "status": JobStatus.COMPLETED,
    }


class Keeper(BaseWorker):
    """Keeps each job's payload as it arrived, and answers with it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.payloads: list[Any] = []

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        self.payloads.append(message.payload)
        await self.send_job_response(message.job_id, {"echo": message.payload})


class Foo:
    """Something the codec cannot write."""


class Sink(BusSubscriber):
    def __init__(self, name: str) -> None:
        self._name = name
        self.got: list[BusMessage] = []

    @property
    def name(self) -> str:
        return self._name

    async def on_bus_message(self, message: BusMessage) -> None:
        self.got.append(message)


async def assert_replay_keeps_the_types(path: Path, session_id: str, requests: int = 1) -> None:
    """The recorded session's requests and answers hold the payload, types and all."""
    async with await SessionReplay.open(path, session_id) as replay:
        asked = await replay.events(types=["BusJobRequestMessage"])
        answered = await replay.events(types=["BusJobResponseMessage"])
        assert_same([e.message.payload for e in asked], [rich_payload()] * requests)  # type: ignore[attr-defined]
        assert_same(
            [e.message.response for e in answered],  # type: ignore[attr-defined]
            [{"echo": rich_payload()}] * requests,
        )
        final = await replay.state_at(len(replay))  # the fold reads them too
        assert_same([job.payload for job in final.jobs.jobs.values()], [rich_payload()] * requests)


async def test_a_jobs_payload_keeps_its_types_live_and_in_replay(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    runner = WorkerRunner(handle_sigint=False, event_log=path)
    asker, keeper = BaseWorker("asker"), Keeper("keeper")
    await runner.add_workers(asker, keeper)
    assert isinstance(runner.bus, AsyncQueueBus)
    async with running(runner):
        async with asker.job("keeper", payload=rich_payload(), timeout=5) as job:
            pass
    assert_same(keeper.payloads, [rich_payload()])
    assert_same(job.response, {"echo": rich_payload()})
    await assert_replay_keeps_the_types(path, runner.session_id)


async def test_send_refuses_a_message_the_log_could_not_store(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    runner = WorkerRunner(handle_sigint=False, event_log=path)
    keeper = Keeper("keeper")
    await runner.add_workers(keeper)
    bad = BusJobRequestMessage(
        source="asker", target="keeper", job_id="j-1", payload={"when": [1, 2, Foo()]}
    )
    async with running(runner):
        stamped = runner.bus.stats.stamped
        with pytest.raises(
            EncodeError,
            match=r"^BusJobRequestMessage: payload\['when'\]\[2\]: "
            r"cannot encode a value of type Foo: send JSON values",
        ):
            await runner.bus.send(bad)
        assert runner.bus.stats.stamped == stamped  # not stamped, so not recorded either
        await runner.bus.drain()
    assert keeper.payloads == []
    async with await SessionReplay.open(path, runner.session_id) as replay:
        assert await replay.events(types=["BusJobRequestMessage"]) == []
        assert all("$unencodable" not in event.payload for event in await replay.events())


async def test_an_in_process_bus_recording_nothing_delivers_without_encoding() -> None:
    bus = AsyncQueueBus()
    sink = Sink("sink")
    await bus.subscribe(sink)
    await bus.start()
    thing = Foo()
    message = BusJobRequestMessage(source="a", target="sink", job_id="j", payload={"x": thing})
    await bus.send(message)
    await bus.drain()
    await bus.stop()
    assert sink.got == [message]
    assert sink.got[0].payload["x"] is thing  # type: ignore[attr-defined]


async def test_the_recorder_stores_the_text_encoded_at_send(tmp_path: Path) -> None:
    """Encoded once: the envelope the taps see already carries its fields' text."""
    runner = WorkerRunner(handle_sigint=False, event_log=tmp_path / "log.db")
    await runner.add_workers(Keeper("keeper"))
    seen: list[Envelope] = []

    class Tap:
        def on_envelope(self, envelope: Envelope) -> None:
            seen.append(envelope)

    async with running(runner):
        runner.bus.add_tap(Tap())
        await runner.bus.send(
            BusJobRequestMessage(source="a", target="keeper", job_id="j", payload=rich_payload())
        )
        await runner.bus.drain()
    assert seen and all(envelope.fields_json is not None for envelope in seen)


# --- a log written by version 1 ------------------------------------------------------------

V1_ROWS = [
    (
        BusJobRequestMessage(source="asker", target="keeper", job_id="job-1", job_name="book"),
        '{"source":"asker","target":"keeper","job_id":"job-1","job_name":"book","payload":'
        '{"raw":{"$pb":"b","v":"AP8="},"when":"2024-05-17","by_hour":{"18":"full"},'
        '"window":[18,21],"status":"completed","ratio":NaN,"frame":{"$pb":"dc","t":"Frame",'
        '"f":{"id":3,"name":"Frame#3","metadata":{}}},"direction":{"$pb":"enum",'
        '"t":"FrameDirection","v":1}}}',
    ),
    (
        BusJobResponseMessage(
            source="keeper", target="asker", job_id="job-1", status=JobStatus.COMPLETED
        ),
        '{"source":"keeper","target":"asker","job_id":"job-1","status":"completed",'
        '"response":{"n":{"$pb":"b","v":""}}}',
    ),
]
"""Rows as a version 1 pipebus recorded them (its payload texts, written literally);
the envelope's message only gives the row its columns."""


async def test_a_log_written_by_version_1_still_replays(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    log = await EventLog.open(path)
    await log.begin_session("old", runner="runner-a")
    writer = log.writer("old")
    rows = [
        event_row(Envelope(message, f"m-{seq}", "old", seq, seq, "r", 1, seq), "old", seq, text)
        for seq, (message, text) in enumerate(V1_ROWS, 1)
    ]
    await writer.append(Batch(rows, [], []))
    await writer.close()
    await log.end_session("old", "ended")
    await log.close()

    async with await SessionReplay.open(path, "old") as replay:
        request, response = await replay.events()
        payload = request.message.payload  # type: ignore[attr-defined]
        ratio = payload.pop("ratio")
        assert ratio != ratio  # NaN, as version 1 wrote it
        assert payload["raw"] == b"\x00\xff"
        assert payload["by_hour"] == {"18": "full"}  # as version 1 read it: no types to restore
        assert payload["window"] == [18, 21]
        assert payload["status"] == "completed"
        assert payload["frame"].id == 3
        assert payload["direction"].name == "DOWNSTREAM"
        assert response.message.response == {"n": b""}  # type: ignore[attr-defined]
        final = await replay.state_at(len(replay))
        assert [job.status for job in final.jobs.jobs.values()] == ["completed"]
