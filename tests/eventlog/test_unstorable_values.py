"""A value the log cannot store costs only its own field or row, and replays go on past it.

Issue #14: a lone surrogate in one string used to fail the SQLite writer's whole
transaction, losing the hundreds of innocent events committed with it; an event
recorded without its fields then stopped every replay of the session ("an event it
folds does not decode").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipebus import BaseWorker, BusDataMessage, BusHandlerErrorMessage, WorkerRunner
from pipebus.eventlog.rows import UNENCODABLE, decode_recorded, recordable_row
from pipebus.eventlog.schema import EVENT_COLUMNS
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import Batch, DeliveryRecord
from pipebus.observability import Envelope, NotRecorded, SessionReplay
from pipebus.testing import running

SESSION = "unstorable-session"
SOURCE = EVENT_COLUMNS.index("source")
PAYLOAD = EVENT_COLUMNS.index("payload")


@dataclass
class Said(BusDataMessage, wire_name="test.unstorable.Said"):
    text: str = ""


def said_rows(count: int) -> list[tuple[object, ...]]:
    out = []
    for seq in range(1, count + 1):
        envelope = Envelope(
            Said(source="mic", text=f"line {seq}"), f"m-{seq:04}", SESSION, seq, seq, "r", 1, seq
        )
        out.append(recordable_row(envelope, SESSION, seq))
    return out


def with_value(row: tuple[object, ...], column: int, value: object) -> tuple[object, ...]:
    return (*row[:column], value, *row[column + 1 :])


async def test_one_value_sqlite_cannot_store_costs_its_own_row_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = said_rows(555)
    # A remote peer's message may decode to a lone surrogate ("\ud800" is valid JSON):
    # the source column cannot be stored as it is, and neither can this payload.
    rows[99] = with_value(rows[99], SOURCE, "mic \udcff")
    rows[199] = with_value(rows[199], PAYLOAD, '{"source":"mic","target":null,"text":"\udcff"}')
    bad_delivery = DeliveryRecord("m-0300", "crasher \udcff", 1, 10, 30, "ValueError", "no \ud800")
    path = tmp_path / "log.db"
    log = await EventLog.open(path)
    await log.begin_session(SESSION, runner="r")
    writer = log.writer(SESSION)
    with caplog.at_level(logging.WARNING, logger="pipebus.eventlog"):
        last = await writer.append(Batch(rows, [bad_delivery], []))
        await writer.close()
    assert last == 555

    stored = await log.events(SESSION)
    assert [event.seq for event in stored] == list(range(1, 556))  # not one neighbour lost
    assert stored[99].source == "mic \\udcff"  # written out, and named in the log
    assert stored[99].message == Said(source="mic", text="line 100")  # its payload was fine
    unencodable = stored[199].message
    assert isinstance(unencodable, Said) and unencodable.source == "mic"
    assert isinstance(unencodable.text, NotRecorded)
    assert "column payload" in unencodable.text.reason
    (delivery,) = await log.deliveries(SESSION, "m-0300")
    assert (delivery["subscriber"], delivery["error"]) == ("crasher \\udcff", "no \\ud800")
    notes = [r.getMessage() for r in caplog.records if "was stored with" in r.getMessage()]
    assert len(notes) == 3
    assert any("event 100 (" in note and "column source" in note for note in notes)
    assert any("event 200 (" in note and "column payload" in note for note in notes)
    await log.close()


class Crasher(BaseWorker):
    async def on_bus_message(self, message: object) -> None:
        await super().on_bus_message(message)
        if isinstance(message, Said):
            raise ValueError(f"cannot say {message.text!r} \udcff")


async def test_an_error_text_the_codec_cannot_write_is_recorded_without_it_and_replayed_past(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    runner = WorkerRunner(handle_sigint=False, event_log=path)
    sender = BaseWorker("sender")
    await runner.add_workers(sender, Crasher("crasher"))
    async with running(runner):
        await sender.send_bus_message(Said(source="sender", text="hi"))
        await runner.flush()
        await sender.send_bus_message(Said(source="sender", text="after"))
        await runner.flush()
        live = runner.recorder
        assert live is not None and live.lost == 0

    replay = await SessionReplay.open(path)
    events = await replay.events()
    errors = [e.message for e in events if isinstance(e.message, BusHandlerErrorMessage)]
    assert len(errors) == 2
    for error in errors:  # every field but the one UTF-8 cannot hold is kept
        assert (error.source, error.error_type) == ("crasher", "ValueError")
        assert isinstance(error.error, NotRecorded)
        assert "lone surrogate" in error.error.reason
    assert [e.message.text for e in events if isinstance(e.message, Said)] == ["hi", "after"]
    state = await replay.rebuild()  # goes on past them, to the session's end
    assert {"sender", "crasher"} <= set(state.registry.workers)
    assert await replay.state_at(len(events)) == state
    await replay.close()


def test_a_note_written_for_fields_that_could_not_be_kept_decodes_with_what_it_kept() -> None:
    """Older logs hold ``{"$unencodable": why}`` in place of the fields: they replay too."""
    message = decode_recorded(
        "test.unstorable.Said",
        json.dumps({UNENCODABLE: "Said: text: cannot encode", "source": "mic", "target": None}),
    )
    assert isinstance(message, Said) and message.source == "mic" and message.target is None
    assert message.text == NotRecorded("Said: text: cannot encode")
    old = decode_recorded("test.unstorable.Said", json.dumps({UNENCODABLE: "gone"}))
    assert isinstance(old, Said) and old.source == NotRecorded("gone")
