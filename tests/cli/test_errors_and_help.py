"""Bad input is one clear line on stderr, never a traceback; every ``--help`` is complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipebus.cli import main
from tests.cli import execute, pipebus, record_demo, record_session


def assert_one_line_error(
    capsys: pytest.CaptureFixture[str], args: list[str], *expected: str
) -> None:
    run = pipebus(capsys, *args)
    assert run.status == 1
    assert run.out == ""
    assert run.err.count("\n") == 1 and run.err.startswith("pipebus: error: ")
    assert "Traceback" not in run.err
    for text in expected:
        assert text in run.err


def test_an_unknown_session_prefix_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    record_session("aaaa" * 8, events=2)
    assert_one_line_error(capsys, ["show", "zzz"], "no session matches 'zzz'")
    assert_one_line_error(capsys, ["state", "zzz"], "no session matches 'zzz'")


def test_an_ambiguous_session_prefix_asks_for_more_of_the_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_session("aaaa1111" * 4, events=2)
    record_session("aaaa2222" * 4, events=2)
    assert_one_line_error(capsys, ["show", "aaaa"], "'aaaa' matches several sessions")
    assert pipebus(capsys, "show", "aaaa2").status == 0


def test_a_log_without_sessions_has_no_last_session(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(capsys, ["state"], "no session yet")


def test_a_step_out_of_range_names_the_range(capsys: pytest.CaptureFixture[str]) -> None:
    record_session("abab" * 8, events=6)
    assert_one_line_error(capsys, ["state", "--at", "7"], "--at 7: step 7 is outside 0..6")
    assert_one_line_error(capsys, ["show", "--from", "9"], "--from 9: the session has 6 events")
    assert_one_line_error(capsys, ["show", "--from", "5", "--to", "2"], "--to 2 comes before")


def test_an_unknown_or_ambiguous_job_prefix_is_named_and_a_whole_id_wins(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_session("acac" * 8, events=30)
    execute("UPDATE events SET job_id = 'job-' || seq WHERE seq < 30")
    assert_one_line_error(capsys, ["show", "--job", "zz"], "no job of session acacacac", "'zz'")
    assert_one_line_error(capsys, ["show", "--job", "job-"], "'job-' matches several jobs")
    (line,) = pipebus(capsys, "show", "--job", "job-2").lines  # job-20 ... too
    assert line.split()[0] == "2"


def test_a_file_that_is_not_a_database_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    for command in (["sessions"], ["show"], ["state"], ["db", "current"], ["db", "upgrade"]):
        assert_one_line_error(
            capsys, [*command, "--db", str(text)], "the file is not an SQLite database"
        )


def test_a_database_of_another_application_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    execute("CREATE TABLE customers (id INTEGER)", location=other)
    assert_one_line_error(
        capsys, ["sessions", "--db", str(other)], "not a pipebus event log", "customers"
    )


def test_a_missing_log_is_named_and_not_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "typo.db"
    for command in (["sessions"], ["show"], ["state"]):
        assert_one_line_error(
            capsys, [*command, "--db", str(missing)], f"no event log at {missing}"
        )
    assert not missing.exists()


def test_an_event_that_does_not_decode_stops_state_with_a_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    session_id = record_demo()
    execute("UPDATE events SET payload = '{' WHERE session_id = ? AND seq = 1", session_id)
    assert_one_line_error(
        capsys,
        ["state"],
        "cannot compute the state at step",
        "BusWorkerReadyMessage fields are not valid JSON",
    )
    assert "[undecodable]" in pipebus(capsys, "show", "--to", "1").out


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ([], ["demo", "sessions", "show", "state", "db", "PIPEBUS_EVENT_LOG", "--verbose"]),
        (["demo"], ["--db"]),
        (["sessions"], ["--db PATH|URL", "--json", "PIPEBUS_EVENT_LOG", "incomplete"]),
        (
            ["show"],
            ["SESSION", "--type TYPE", "--worker NAME", "--job ID", "--from N", "--to N"],
        ),
        (["show"], ["--limit N", "--db PATH|URL", "--json", "[undecodable]", "examples:"]),
        (["state"], ["SESSION", "--at N", "--db PATH|URL", "--json", "examples:"]),
        (["db"], ["upgrade", "current", "examples:"]),
        (["db", "upgrade"], ["--db PATH|URL", "created if missing"]),
        (["db", "current"], ["--db PATH|URL", "--check", "head"]),
    ],
)
def test_help_of_each_command_lists_its_options(
    capsys: pytest.CaptureFixture[str], command: list[str], options: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in options:
        assert option in text


def test_a_bad_number_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["state", "--at", "-1"])
    assert exit_info.value.code == 2
    assert "argument --at: must be 0 or more, not -1" in capsys.readouterr().err


def cli(*args: str, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    if log is not None:
        environment["PIPEBUS_EVENT_LOG"] = str(log)
    return subprocess.run(
        [sys.executable, "-m", "pipebus.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=20,
    )


def test_the_installed_command_records_the_demo_and_reads_it_back(tmp_path: Path) -> None:
    log = tmp_path / "demo.db"
    assert cli("demo", "--db", str(log)).returncode == 0
    listed = cli("sessions", "--json", log=log)
    assert listed.returncode == 0 and listed.stderr == ""
    (session,) = (json.loads(line) for line in listed.stdout.splitlines())
    assert (session["runner"], session["status"]) == ("demo-runner", "ended")
    shown = cli("show", session["id"][:8], "--type", "BusEndMessage", "--db", str(log))
    (line,) = shown.stdout.splitlines()
    assert "BusEndMessage  closer → *" in line
    failed = cli("state", "--at", "100000", "--db", str(log))
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("pipebus: error: --at 100000: step 100000 is outside")
    assert "Traceback" not in failed.stderr


def test_show_stops_quietly_when_the_reader_goes_away(tmp_path: Path) -> None:
    log = tmp_path / "big.db"
    record_session("9999" * 8, events=5000, location=log)
    environment = dict(os.environ, PIPEBUS_EVENT_LOG=str(log))
    with subprocess.Popen(
        [sys.executable, "-m", "pipebus.cli", "show"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()
        errors = process.stderr.read()
        status = process.wait(timeout=20)
    assert first.split()[0] == b"1"
    assert (status, errors) == (0, b"")
