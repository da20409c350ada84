"""Two sessions aligned message by message: the alignment, the fields, the first divergence."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pipebus.replay.compare import (
    CHANGED,
    ONLY_A,
    ONLY_B,
    SAME,
    Recorded,
    align,
    compare,
    compare_sessions,
    pair_diff,
)
from pipebus.replay.session import SessionReplay
from tests.inspector.sessions import SESSION, scenario, write_session
from tests.replay.variants import RERUN, diverging, renamed_jobs, write_rerun


def message(seq: int, kind: str = "speak", source: str = "closer", **fields: object) -> Recorded:
    job = fields.get("job_id")
    payload = json.dumps({"source": source, "target": None, **fields})
    return Recorded(seq, kind, source, None, job if isinstance(job, str) else None, payload)


def renumbered(messages: list[Recorded]) -> list[Recorded]:
    return [
        Recorded(n, m.type, m.source, m.target, m.job_id, m.payload)
        for n, m in enumerate(messages, 1)
    ]


def session(*texts: str) -> list[Recorded]:
    return renumbered(
        [
            message(0, text=text) if text[0] != "@" else message(0, text[1:], "agent")
            for text in texts
        ]
    )


def rows(a: list[Recorded], b: list[Recorded]) -> list[tuple[int, int, int]]:
    found = compare(a, b)
    return list(zip(found.left, found.right, found.kinds, strict=True))


def test_equal_sessions_face_each_message_with_its_twin() -> None:
    a = session("hello", "@think", "bye")
    found = compare(a, session("hello", "@think", "bye"))
    assert list(found.kinds) == [SAME] * 3
    assert found.equal and found.first_divergence is None


def test_an_inserted_message_faces_a_gap_and_shifts_nothing_after_it() -> None:
    a = session("hello", "@think", "bye", "@rest")
    b = session("hello", "@think", "@wait", "bye", "@rest")
    assert rows(a, b) == [
        (1, 1, SAME),
        (2, 2, SAME),
        (0, 3, ONLY_B),
        (3, 4, SAME),
        (4, 5, SAME),
    ]
    assert compare(a, b).first_divergence == 2


def test_an_inserted_message_of_the_same_shape_as_its_neighbour_is_the_one_facing_the_gap() -> None:
    a = session("hello", "bye")
    b = session("hello", "wait", "bye")
    assert rows(a, b) == [(1, 1, SAME), (0, 2, ONLY_B), (2, 3, SAME)]


def test_a_missing_message_faces_a_gap_on_the_other_side() -> None:
    a = session("hello", "@think", "bye")
    b = session("hello", "bye")
    assert rows(a, b) == [(1, 1, SAME), (2, 0, ONLY_A), (3, 2, SAME)]


def test_a_changed_field_is_a_changed_row_and_its_diff_names_the_field() -> None:
    a = renumbered(
        [message(0, text="hello"), message(0, "update", "writer", job_id="j1", update={"done": 1})]
    )
    b = renumbered(
        [message(0, text="hello"), message(0, "update", "writer", job_id="j9", update={"done": 2})]
    )
    found = compare(a, b)
    assert list(found.kinds) == [SAME, CHANGED]
    assert found.first_divergence == 1
    diff = pair_diff(a[1], b[1], found.jobs)
    assert "  update['done']: 1 != 2" in diff
    assert not any("job_id" in line and "!=" in line for line in diff)  # j1 stands for j9


def test_ids_and_times_do_not_count() -> None:
    a = renumbered(
        [
            message(0, "request", "agent", job_id="job-1", started_at=1.5),
            message(0, "error", "tr", message_id="m-12", traceback="line 3", error="boom"),
            message(
                0,
                "frame",
                "vad",
                frame={
                    "$pb": "dc",
                    "t": "TextFrame",
                    "f": {"id": 3, "name": "TextFrame#3", "text": "hi"},
                },
            ),
        ]
    )
    b = renumbered(
        [
            message(0, "request", "agent", job_id="job-77", started_at=9.25),
            message(0, "error", "tr", message_id="m-99", traceback="line 4", error="boom"),
            message(
                0,
                "frame",
                "vad",
                frame={
                    "$pb": "dc",
                    "t": "TextFrame",
                    "f": {"id": 8, "name": "TextFrame#8", "text": "hi"},
                },
            ),
        ]
    )
    assert compare(a, b).equal


def test_one_job_of_a_facing_two_jobs_of_b_is_a_divergence() -> None:
    a = renumbered([message(0, "update", "w", job_id="j1"), message(0, "update", "w", job_id="j1")])
    b = renumbered([message(0, "update", "w", job_id="k1"), message(0, "update", "w", job_id="k2")])
    assert list(compare(a, b).kinds) == [SAME, CHANGED]


def longest_common(a: list[int], b: list[int]) -> int:
    """The length of the longest common subsequence (dynamic programming)."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            same = a[i] == b[j]
            table[i][j] = table[i + 1][j + 1] + 1 if same else max(table[i + 1][j], table[i][j + 1])
    return table[0][0]


def test_the_alignment_keeps_the_most_messages_facing_their_twins() -> None:
    random.seed(17)
    for _ in range(300):
        a = [random.randint(0, 3) for _ in range(random.randint(0, 30))]
        b = list(a)
        for _ in range(random.randint(0, 5)):
            at = random.randint(0, len(b))
            if random.random() < 0.5 and b:
                del b[min(at, len(b) - 1)]
            else:
                b.insert(at, random.randint(0, 5))
        left, right, aligned = align(a, b)
        assert aligned
        assert [x for x in left if x] == list(range(1, len(a) + 1))
        assert [y for y in right if y] == list(range(1, len(b) + 1))
        pairs = [(x, y) for x, y in zip(left, right, strict=True) if x and y]
        assert all(a[x - 1] == b[y - 1] for x, y in pairs)

        assert len(pairs) == longest_common(a, b)


def test_sessions_too_different_to_align_are_paired_by_position() -> None:
    left, right, aligned = align([1, 2, 3, 4], [5, 6, 7], max_edits=2)
    assert not aligned
    assert list(zip(left, right, strict=True)) == [(1, 1), (2, 2), (3, 3), (4, 0)]


def test_a_long_equal_session_aligns_quickly_from_its_common_head() -> None:
    shapes = [n % 7 for n in range(300_000)]
    changed = [*shapes[:150_000], 99, *shapes[150_000:]]
    left, right, aligned = align(shapes, changed)
    assert aligned and len(left) == 300_001
    assert (left[150_000], right[150_000]) == (0, 150_001)


@pytest.fixture
async def two_runs(tmp_path: Path) -> Path:
    path = tmp_path / "runs.db"
    await write_session(path)
    await write_rerun(path, diverging())
    return path


async def test_two_recorded_sessions_compare_as_their_messages_do(two_runs: Path) -> None:
    async with (
        await SessionReplay.open(two_runs, SESSION) as a,
        await SessionReplay.open(two_runs, RERUN) as b,
    ):
        found = await compare_sessions(a, b)
    assert found.counts() == {"same": 24, "changed": 1, "only in A": 0, "only in B": 1}
    first = found.first_divergence
    assert first is not None and found.kinds[first] == CHANGED
    assert (found.left[first], found.right[first]) == (18, 18)  # the archivist's progress
    assert found.next_divergence(first) == 20
    assert (found.left[20], found.right[20]) == (0, 21)  # "Wait!"


async def test_a_rerun_whose_job_ids_differ_compares_equal(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    await write_session(path)
    await write_rerun(path, renamed_jobs(scenario()))
    async with (
        await SessionReplay.open(path, SESSION) as a,
        await SessionReplay.open(path, RERUN) as b,
    ):
        found = await compare_sessions(a, b)
    assert found.equal and len(found) == 25
