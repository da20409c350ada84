"""Queries: their syntax, their pure match, and the same match as SQL over a real log."""

from __future__ import annotations

import secrets
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.data import SessionData
from inspector.query import CATEGORIES, QueryError, breakpoint_query, category_of, parse
from pipebus import BusJobUpdateMessage
from pipebus.core.ids import JOB_ID_TIME_DIGITS, short_job_id
from pipebus.eventlog.rows import event_row
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.writer import Batch
from pipebus.observability import Envelope
from pipebus.workers.job_params import new_job_id
from tests.eventlog.conftest import drop_schema
from tests.inspector.sessions import SESSION
from tests.services import need_postgres


def test_terms_of_one_key_are_alternatives_and_keys_combine() -> None:
    query = parse("type:update type:cancel source:writer /progress.*%/")
    assert query.types == ("update", "cancel")
    assert query.sources == ("writer",)
    assert query.patterns == ("progress.*%",)
    assert not query.invert and not query.empty


def test_a_leading_bang_inverts_and_slashes_keep_spaces() -> None:
    query = parse("! /a b/ worker:x")
    assert query.invert and query.patterns == ("a b",) and query.workers == ("x",)
    assert parse("plain words").words == ("plain", "words")


def test_bare_words_must_all_be_found_and_slashed_regexes_are_alternatives() -> None:
    cancel = SimpleNamespace(
        type="BusJobCancelMessage", source="agent", target="archivist", job_id="j-arc",
        payload='{"job_id":"j-arc","reason":"hung up"}',
    )  # fmt: skip
    update = replace_payload(cancel, '{"update":{"archived":0}}')
    hung = parse("hung up")
    assert hung.matches(cancel) and not hung.matches(update)  # "up" alone is in "update"
    assert parse("up").matches(update)
    assert parse("/hung/ /archived/").matches(update)  # a regex or another
    assert parse("reason /hung|nothing/ /never/").matches(cancel)
    assert not parse("reason /never/ /nothing/").matches(cancel)
    assert not parse("! hung up").matches(cancel) and parse("! hung up").matches(update)


def replace_payload(event: SimpleNamespace, payload: str) -> SimpleNamespace:
    return SimpleNamespace(**{**vars(event), "payload": payload})


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("colour:red", "unknown key 'colour'"),
        ("cat:frames", "unknown category 'frames'"),
        ("type:", "type: needs a value"),
        ("/(unclosed/", "bad regular expression"),
    ],
)
def test_a_bad_query_says_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(QueryError, match=complaint.replace("(", r"\(")):
        parse(text)


def test_categories_cover_every_type() -> None:
    assert category_of("BusJobStreamDataMessage") == "job"
    assert category_of("BusWorkerStoppedMessage") == "registry"
    assert category_of("BusEndMessage") == "lifecycle"
    assert category_of("BusHandlerErrorMessage") == "error"
    assert category_of("BusFrameMessage") == category_of("myapp.Greeting") == "frame"


def test_breakpoints_are_queries_with_a_short_form_for_errors() -> None:
    assert breakpoint_query("error").categories == ("error",)
    assert breakpoint_query("job:j-tr").jobs == ("j-tr",)
    assert breakpoint_query("worker:closer").text == "worker:closer"
    with pytest.raises(QueryError, match="needs a term"):
        breakpoint_query("!")


TERMS = st.sampled_from(
    [
        "type:job",
        "type:Ready",
        "type:STOPPED",
        *(f"cat:{c}" for c in CATEGORIES),
        "source:agent",
        "source:writer",
        "target:agent",
        "target:archivist",
        "worker:translator",
        "worker:closer",
        "job:j-",
        "job:j-tr",
        "/klingon/",
        '/"status":"(failed|cancelled)"/',
        "Venus",
        "hung up",
        "reason",
        '/^\\{"source":"a/',
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(terms=st.lists(TERMS, min_size=1, max_size=3), invert=st.booleans())
async def test_the_sql_of_a_query_selects_what_its_pure_match_does(
    fixed_log: Path, terms: list[str], invert: bool
) -> None:
    query = parse(("! " if invert else "") + " ".join(terms))
    async with await EventLog.open(fixed_log) as log:
        data = await SessionData.open(log, SESSION)
        every = await data.replay.events()
        rows = await data.rows(query)
        assert rows is not None
        assert list(rows) == [e.seq for e in every if query.matches(e)]
        await data.replay.close()


QUERIES = [
    "type:job",
    "cat:frame",
    "! cat:registry source:agent",
    "target:agent worker:writer",
    "job:j-a",
    "/klingon/",
    '/"status":"(failed|cancelled)"/',
    "! /Venus/",
    "hung up",
    "archived /hung|0/",
]


async def test_each_backend_selects_the_same_rows_and_finds_the_same_hits(any_log: str) -> None:
    async with await EventLog.open(any_log) as log:
        data = await SessionData.open(log, SESSION)
        every = await data.replay.events()
        for text in QUERIES:
            query = parse(text)
            rows = await data.rows(query)
            assert rows is not None
            assert list(rows) == [e.seq for e in every if query.matches(e)], text
        assert await data.next_hit([parse("cat:error")], 1) == 13
        assert await data.next_hit([parse("cat:error")], 20, back=True) == 13
        folded = await data.rows(None, folded=True, expanded={"j-tr"})
        assert folded is not None and len(folded) == 17
        effects = await data.effects_of(await data.event(12))
        assert [e.seq for e in effects] == [13, 14]


async def _jobs_of_one_millisecond(location: str) -> list[str]:
    """A session of three jobs whose ids were made in one millisecond; returns the ids."""
    prefix = new_job_id()[:JOB_ID_TIME_DIGITS]
    job_ids = [prefix + new_job_id()[JOB_ID_TIME_DIGITS:] for _ in range(3)]
    job_ids.append("my-own-job")  # an id the application chose
    async with await EventLog.open(location) as log:
        await log.begin_session("fefe" * 8, runner="r")
        writer = log.writer("fefe" * 8)
        rows = []
        for seq, job_id in enumerate(job_ids * 2, 1):
            update = BusJobUpdateMessage(source="w", target="a", job_id=job_id, update={"n": seq})
            envelope = Envelope(update, f"m{seq}", "fefe" * 8, seq, seq, "r", 1, seq, job_id=job_id)
            rows.append(event_row(envelope, "fefe" * 8, seq))
        await writer.append(Batch(rows, [], []))
        await writer.close()
    return job_ids


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_job_takes_the_short_id_every_view_shows_on_each_backend(
    backend: str, tmp_path: Path
) -> None:
    schema = f"pbjobs_{secrets.token_hex(6)}"
    location = str(tmp_path / "jobs.db") if backend == "sqlite" else ""
    if backend == "postgresql":
        location = f"{need_postgres()}?schema={schema}"
    try:
        job_ids = await _jobs_of_one_millisecond(location)
        async with await EventLog.open(location) as log:
            data = await SessionData.open(log, "fefe" * 8)
            every = await data.replay.events()
            for job_id in job_ids:
                shown = short_job_id(job_id)
                query = parse(f"job:{shown}")
                wanted = [e.seq for e in every if e.job_id == job_id]
                assert [e.seq for e in every if query.matches(e)] == wanted, shown
                assert list(await data.rows(query) or []) == wanted, shown
                assert await log.jobs_named("fefe" * 8, shown) == [job_id]
            shared = parse(f"job:{job_ids[0][:8]}")  # a prefix of the whole id still works
            assert len([e for e in every if shared.matches(e)]) == 6
            assert len(await data.rows(shared) or []) == 6
            await data.replay.close()
    finally:
        if backend == "postgresql":
            await drop_schema(need_postgres(), schema)
