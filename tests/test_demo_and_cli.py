"""The demo session and the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipebus.cli import build_parser
from pipebus.demo import run_demo


async def test_the_demo_runs_its_whole_scenario() -> None:
    lines: list[str] = []
    runner = await run_demo(lines.append)
    text = "\n".join(lines)
    for expected in (
        "BusJobRequestMessage  coordinator → researcher",
        "BusJobUpdateMessage  researcher → coordinator",
        "BusJobStreamDataMessage  writer → coordinator",
        "BusJobResponseMessage  fact_checker → coordinator",
        "BusActivateWorkerMessage  coordinator → closer",
        "BusEndMessage  closer → *",
        "researcher is 100% done",
    ):
        assert expected in text
    assert {w.status for w in runner.registry.state.workers.values()} == {"ended"}
    (job,) = runner.jobs.state.jobs.values()
    assert job.status == "completed" and set(job.workers) == {
        "researcher",
        "writer",
        "fact_checker",
    }
    assert runner.bus.stats.handler_errors == 0


def test_help_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipebus.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "demo" in out


def test_an_unknown_command_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["nope"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
