"""The demo session and the command line."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipebus.cli import build_parser, main
from pipebus.demo import inspect_command, run_demo
from pipebus.replay import SessionReplay


async def test_the_demo_runs_its_whole_scenario(private_event_log: Path) -> None:
    lines: list[str] = []
    runner = await run_demo(lines.append, failures=True)
    text = "\n".join(lines)
    for expected in (
        "BusJobRequestMessage  coordinator → researcher",
        "BusJobUpdateMessage  researcher → coordinator",
        "BusJobStreamDataMessage  writer → coordinator",
        "BusJobResponseMessage  fact_checker → coordinator",
        "BusActivateWorkerMessage  coordinator → closer",
        "BusEndMessage  closer → *",
        "researcher is 100% done",
        "BusHandlerErrorMessage  translator → *",
        "BusJobCancelMessage  coordinator → archivist",
        "translation failed: worker 'translator' errored: ",
        "archive cancelled: the user hung up",
    ):
        assert expected in text
    workers = {w.name: w.status for w in runner.registry.state.workers.values()}
    assert workers.pop("translator") == "failed"
    assert set(workers.values()) == {"ended"}
    jobs = {job.name: job for job in runner.jobs.state.jobs.values()}
    assert set(jobs) == {"answer", "translate", "archive"}
    assert jobs["answer"].status == "completed" and set(jobs["answer"].workers) == {
        "researcher",
        "writer",
        "fact_checker",
    }
    assert jobs["translate"].status == "failed"
    assert jobs["archive"].status == "cancelled"
    assert runner.bus.stats.handler_errors >= 1


async def test_without_failures_the_demo_is_the_plain_scenario(private_event_log: Path) -> None:
    runner = await run_demo(lambda _line: None)
    assert {w.status for w in runner.registry.state.workers.values()} == {"ended"}
    (job,) = runner.jobs.state.jobs.values()
    assert job.status == "completed" and runner.bus.stats.handler_errors == 0


async def test_the_demo_is_recorded_and_says_how_to_inspect_it(private_event_log: Path) -> None:
    lines: list[str] = []
    runner = await run_demo(lines.append, failures=True)
    assert lines[-1].strip() == inspect_command(str(private_event_log), runner.session_id)
    assert (
        lines[-1].strip()
        == f"pipebus inspect {private_event_log} --session {runner.session_id[:8]}"
    )
    async with await SessionReplay.open(private_event_log, runner.session_id[:8]) as replay:
        assert len(replay) == runner.bus.stats.stamped
        assert replay.info.errors >= 1
        state = await replay.state_at(len(replay))
    assert state.registry.workers["translator"].status == "failed"


def test_help_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipebus.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "demo" in out and "inspect" in out


def test_inspect_help_says_how_to_open_a_log_and_a_session() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipebus.cli", "inspect", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "LOG" in out and "--session SESSION" in out and "pipebus inspect pipebus.db" in out


def test_inspect_refuses_a_missing_log_or_session_in_one_line(
    tmp_path: Path, private_event_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(tmp_path / "nothing.db")]) == 1
    assert "no event log at" in capsys.readouterr().err
    assert main(["inspect", str(private_event_log), "--session", "ffff"]) == 1
    assert "no session matches 'ffff'" in capsys.readouterr().err


def test_an_unknown_command_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["nope"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_inspect_opens_the_app_on_the_log_and_session_given(
    private_event_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import inspector.app

    runner = asyncio.run(run_demo(lambda _line: None))
    opened: list[tuple[object, object]] = []
    monkeypatch.setattr(
        inspector.app, "run", lambda log, session, **_: opened.append((log, session))
    )
    assert main(["inspect", str(private_event_log), "--session", runner.session_id[:8]]) == 0
    assert main(["inspect", "--db", str(private_event_log)]) == 0
    assert opened == [
        (str(private_event_log), runner.session_id[:8]),
        (str(private_event_log), None),
    ]


def _demo_lines() -> list[str]:
    """Run the demo with its failures (as ``pipebus demo`` does); the lines it printed."""
    lines: list[str] = []
    asyncio.run(run_demo(lines.append, failures=True))
    return lines


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


TIMELINE_LINE = re.compile(r"^\s*(\d+\.\d) ms  #(\d+)\s")
JOB_LINE = re.compile(r"^  (\S+) \((\w+)\) (\w+) in ")


def test_the_demo_shows_each_job_apart_with_its_name_and_show_takes_what_it_printed(
    private_event_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _demo_lines()
    jobs = [found.groups() for line in lines if (found := JOB_LINE.match(line))]
    assert sorted(name for _, name, _ in jobs) == ["answer", "archive", "translate"]
    shorts = [short for short, _, _ in jobs]
    assert len(set(shorts)) == 3  # ids made in one millisecond share their first digits
    timeline = "\n".join(lines)
    for short, name, _status in jobs:
        assert f"job_id={short} ({name})" in timeline
        status, out, err = _run(capsys, "show", "--job", short)
        assert (status, err) == (0, "")
        shown = out.splitlines()
        assert shown and all(f"job_id={short} ({name})" in line for line in shown)


def test_the_demo_counts_errors_and_times_as_sessions_and_show_do(
    private_event_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _demo_lines()
    (summary,) = [line for line in lines if line.startswith("Bus: ")]
    status, out, _ = _run(capsys, "sessions", "--json")
    (session,) = [json.loads(line) for line in out.splitlines()]
    assert session["errors"] == 3  # two handlers raised, one worker reported its error
    assert summary.endswith(f"{session['errors']} errors (2 handler errors, 1 worker error)")
    demo_ms = {
        int(found[2]): float(found[1]) for line in lines if (found := TIMELINE_LINE.match(line))
    }
    status, out, _ = _run(capsys, "show")
    show_ms = {int(line.split()[0]): float(line.split()[1]) for line in out.splitlines()}
    assert status == 0 and demo_ms.keys() == show_ms.keys()
    for step, shown in show_ms.items():
        assert abs(demo_ms[step] - shown) <= 0.051, step  # the demo prints tenths
