"""`pipebus diff A B`: two sessions compared in the terminal; 0 equal, 1 divergent, 2 bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from pipebus import BusWorkerRegistryMessage, WorkerRegistryEntry
from pipebus.cli import main
from tests.inspector.sessions import SESSION, scenario, write_session
from tests.replay.variants import RERUN, diverging, renamed_jobs, write_rerun


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


@pytest.fixture
async def two_runs(tmp_path: Path) -> Path:
    path = tmp_path / "runs.db"
    await write_session(path)
    await write_rerun(path, diverging())
    return path


async def test_equal_sessions_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs.db"
    await write_session(path)
    await write_rerun(path, renamed_jobs(scenario()))
    assert await run("diff", SESSION[:4], RERUN[:4], "--db", str(path)) == 0
    out = capsys.readouterr().out
    assert "25 rows, aligned by (type, sender, target), ids and times aside: 25 same" in out
    assert out.rstrip().endswith("the sessions are the same")


async def test_divergent_sessions_exit_1_with_the_first_divergence_and_its_fields(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("diff", SESSION[:4], RERUN[:4], "--db", str(two_runs)) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"A: session {SESSION[:8]} shop (25 events) in {two_runs}"
    assert lines[1] == f"B: session {RERUN[:8]} rerun (26 events) in {two_runs}"
    assert "24 same, 1 changed, 0 only in A, 1 only in B" in lines[2]
    assert lines[3] == "first divergence at row 18: changed (A #18, B #18)"
    assert "    update['archived']: 0 != 5" in lines
    assert lines[-3] == "divergences (2 of 2):"
    assert lines[-1].split()[:7] == ["row", "21", "A", "-", "B", "#21", "only"]
    assert "'Wait!'" in lines[-1] or '"Wait!"' in lines[-1]


async def test_b_may_be_in_another_log(
    two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "yesterday.db"
    await write_session(other)
    args = ("diff", SESSION, SESSION, "--db", str(two_runs), "--compare-log", str(other))
    assert await run(*args) == 0
    assert f"B: session {SESSION[:8]} shop (25 events) in {other}" in capsys.readouterr().out


async def test_json_holds_the_counts_the_first_divergence_and_the_rows(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("diff", SESSION, RERUN, "--db", str(two_runs), "--json", "--limit", "1") == 1
    found = json.loads(capsys.readouterr().out)
    assert list(found) == [
        "a",
        "b",
        "equal",
        "aligned",
        "rows",
        "counts",
        "first_divergence",
        "divergences",
    ]
    assert found["a"] == {"id": SESSION, "name": "shop", "events": 25, "log": str(two_runs)}
    assert found["equal"] is False and found["rows"] == 26
    assert found["counts"] == {"same": 24, "changed": 1, "only in A": 0, "only in B": 1}
    first = found["first_divergence"]
    assert (first["row"], first["kind"], first["a_step"], first["b_step"]) == (
        18,
        "changed",
        18,
        18,
    )
    assert "  update['archived']: 0 != 5" in first["diff"]
    assert found["divergences"] == [{"row": 18, "kind": "changed", "a_step": 18, "b_step": 18}]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (("nosuch", RERUN), "no session matches 'nosuch'"),
        ((SESSION, SESSION), "A and B are the same session"),
    ],
)
async def test_bad_sessions_exit_2_naming_what_is_wrong(
    two_runs: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, str], said: str
) -> None:
    assert await run("diff", *argv, "--db", str(two_runs)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert said in captured.err


async def test_a_missing_log_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing.db"
    assert await run("diff", "last", "last", "--db", str(missing)) == 2
    assert f"no event log at {missing}" in capsys.readouterr().err
    assert not missing.exists()


async def test_a_divergence_shows_values_as_sent_never_the_codecs_tags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A registry snapshot's entries (registered dataclasses) are listed as fields."""
    path = tmp_path / "runs.db"
    await write_session(path)
    messages = renamed_jobs(scenario())
    entry = WorkerRegistryEntry(name="closer", parent="agent", active=True, started_at=1.5)
    snapshot = BusWorkerRegistryMessage(source="runner", runner="runner", workers=[entry])
    messages.insert(3, (snapshot, None))
    await write_rerun(path, messages)
    assert await run("diff", SESSION[:4], RERUN[:4], "--db", str(path)) == 1
    out = capsys.readouterr().out
    assert "$pb" not in out
    assert "  + workers: [{'name': 'closer', 'parent': 'agent', 'active': True, " in out
