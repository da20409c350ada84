"""The replay's fast reads: raw rows, envelopes for the fold, snapshots after a position."""

from __future__ import annotations

import pytest

from pipebus import (
    BusFrameMessage,
    BusJobRequestMessage,
    BusJobResponseMessage,
    FrameDirection,
    JobStatus,
)
from pipebus.eventlog.rows import FOLD_COLUMNS, fold_envelopes
from pipebus.eventlog.schema import EVENT_COLUMNS
from pipebus.eventlog.store import EventLog
from pipebus.projections import fold, jobs
from pipebus.projections.snapshot import dump, load
from pipebus.replay.session import FOLDED_TYPES
from tests.eventlog.test_store import envelope, record, sample
from tests.workers.test_frames_and_extras import TextFrame


async def test_event_rows_hold_the_columns_asked_for_in_that_order(log: EventLog) -> None:
    await record(log, "s1", sample(3))
    stored = await log.events("s1")
    rows = await log.event_rows("s1", 2, 6, columns=("payload", "seq", "type"))
    assert [tuple(row) for row in rows] == [(e.payload, e.seq, e.type) for e in stored[1:5]]
    whole = await log.event_rows("s1", types=["BusJobResponseMessage"], limit=2)
    assert [len(row) for row in whole] == [len(EVENT_COLUMNS)] * 2
    assert [row[1] for row in whole] == [3, 5]
    assert [row[1] for row in await log.event_rows("s1", job_id="job-1")] == [4, 5]
    backwards = await log.event_rows("s1", stop=7, columns=("seq",), limit=2, descending=True)
    assert [row[0] for row in backwards] == [6, 5]
    with pytest.raises(ValueError, match="payload; DROP TABLE events"):
        await log.event_rows("s1", columns=("seq", "payload; DROP TABLE events"))


async def test_fold_envelopes_fold_like_the_stamped_envelopes(log: EventLog) -> None:
    envelopes = sample(5)
    envelopes.append(
        envelope(
            BusFrameMessage(
                source="stt",
                target="llm",
                frame=TextFrame(text="hi"),
                direction=FrameDirection.UPSTREAM,
            )
        )
    )
    await record(log, "s1", envelopes)
    rows = await log.event_rows("s1", columns=FOLD_COLUMNS)
    decoded = list(fold_envelopes(rows, "s1"))
    assert [(e.seq, e.time_ns, e.session_id) for e in decoded] == [
        (seq, original.time_ns, "s1") for seq, original in enumerate(envelopes, 1)
    ]
    assert [type(e.message) for e in decoded] == [type(e.message) for e in envelopes]
    assert decoded[2].message == envelopes[2].message
    assert fold(decoded) == fold(envelopes)
    folded = await log.event_rows("s1", columns=FOLD_COLUMNS, types=FOLDED_TYPES)
    assert len(folded) == len(envelopes) - 1  # the frame is not a type the projections fold
    assert fold(fold_envelopes(folded, "s1"))[:2] == fold(envelopes)[:2]


async def test_a_snapshot_is_found_only_after_the_position_given(log: EventLog) -> None:
    envelopes = sample(4)
    await record(log, "s1", envelopes)
    at_three, at_seven = fold(envelopes[:3]), fold(envelopes[:7])
    await log.save_snapshot("s1", at_three)
    await log.save_snapshot("s1", at_seven)
    assert await log.snapshot_before("s1", 9, after=2) == at_seven
    assert await log.snapshot_before("s1", 6, after=2) == at_three
    assert await log.snapshot_before("s1", 6, after=3) is None
    assert await log.snapshot_before("s1", 9, after=7) is None


async def test_a_snapshot_at_the_retention_bound_round_trips_through_the_log(
    log: EventLog,
) -> None:
    """Every finished job the state keeps, with bytes and enums in their values."""
    envelopes = []
    for i in range(jobs.FINISHED_JOBS_KEPT + 5):
        job = f"job-{i}"
        payload = {"raw": bytes([i % 256]), "status": JobStatus.CANCELLED, "n": [i, None]}
        envelopes.append(
            envelope(
                BusJobRequestMessage(source="boss", target="echo", job_id=job, payload=payload),
                job=job,
            )
        )
        envelopes.append(
            envelope(
                BusJobResponseMessage(
                    source="echo",
                    target="boss",
                    job_id=job,
                    status=JobStatus.FAILED if i % 3 else JobStatus.COMPLETED,
                    response={"i": i, "frame": TextFrame(text=f"t{i}")},
                ),
                job=job,
            )
        )
    envelopes.append(
        envelope(BusJobRequestMessage(source="boss", target="echo", job_id="open"), job="open")
    )
    state = fold(envelopes)
    finished = [j for j in state.jobs.jobs.values() if j.finished]
    assert len(finished) == jobs.FINISHED_JOBS_KEPT
    assert load(dump(state)) == state
    await record(log, "s1", envelopes)
    await log.save_snapshot("s1", state)
    back = await log.snapshot_before("s1", len(envelopes))
    assert back == state
    assert back is not None and back.jobs.jobs["job-7"].payload == {
        "raw": b"\x07",
        "status": JobStatus.CANCELLED,
        "n": [7, None],
    }


def test_a_snapshot_that_kept_more_finished_jobs_loads_as_the_fold_keeps_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    envelopes = sample(jobs.FINISHED_JOBS_KEPT + 30)
    envelopes.append(
        envelope(BusJobRequestMessage(source="boss", target="echo", job_id="open"), job="open")
    )
    with monkeypatch.context() as patch:
        patch.setattr(jobs, "FINISHED_JOBS_KEPT", jobs.FINISHED_JOBS_KEPT + 100)
        older = fold(envelopes)  # as an earlier pipebus, keeping more, snapshotted it
    assert len(older.jobs.jobs) == jobs.FINISHED_JOBS_KEPT + 31
    loaded = load(dump(older))
    assert loaded == fold(envelopes)
    assert len(loaded.jobs.jobs) == jobs.FINISHED_JOBS_KEPT + 1 and "open" in loaded.jobs.jobs
