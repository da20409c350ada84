"""`pipebus replay`: re-run a recorded worker from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipebus.cli import main
from pipebus.demo import run_demo


@pytest.fixture
async def demo_log(private_event_log: Path) -> Path:
    await run_demo(lambda line: None)
    return private_event_log


@pytest.fixture
def changed_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "changed_agents.py").write_text(
        "from pipebus.demo import FactChecker\n"
        "class Doubtful(FactChecker):\n"
        "    async def check(self, message):\n"
        "        await self.send_job_response(message.job_id, {'verified': False})\n"
        "def make_checker():\n"
        "    return FactChecker('fact_checker')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "changed_agents"
    sys.modules.pop("changed_agents", None)


async def run(*argv: str) -> int:
    import asyncio

    return await asyncio.to_thread(main, list(argv))


async def test_an_unchanged_worker_class_matches(
    demo_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await run("replay", "--worker", "pipebus.demo:Researcher", "--name", "researcher")
    assert status == 0
    assert "researcher: 6 message(s) match the recording" in capsys.readouterr().out


async def test_a_changed_worker_exits_1_naming_the_step(
    demo_log: Path, changed_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await run(
        "replay", "last", "--worker", f"{changed_module}:Doubtful", "--name", "fact_checker"
    )
    out = capsys.readouterr().out
    assert status == 1
    assert "fact_checker diverges from the recording at step" in out
    assert '"verified": True' in out and '"verified": False' in out


async def test_a_transcript_is_saved_and_replayed_through_a_factory(
    demo_log: Path, changed_module: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "checker.jsonl"
    assert await run("replay", "--name", "fact_checker", "--save-transcript", str(path)) == 0
    assert path.exists() and "saved the transcript of fact_checker" in capsys.readouterr().out
    status = await run(
        "replay", "--transcript", str(path), "--worker", f"{changed_module}:make_checker"
    )
    assert status == 0


async def test_bad_worker_specs_are_named(
    demo_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("replay", "--worker", "nomodule_here:X", "--name", "writer") == 1
    assert "cannot import module 'nomodule_here'" in capsys.readouterr().err
    assert await run("replay", "--worker", "pipebus.demo", "--name", "writer") == 1
    assert "--worker wants module:Class" in capsys.readouterr().err
    assert await run("replay", "--worker", "pipebus.demo:Nope", "--name", "writer") == 1
    assert "has no 'Nope'" in capsys.readouterr().err
    assert await run("replay", "--worker", "pipebus.demo:Researcher") == 1
    assert "--name" in capsys.readouterr().err
    assert await run("replay", "--name", "nobody", "--worker", "pipebus.demo:Researcher") == 1
    assert "'nobody' sent nothing" in capsys.readouterr().err


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("pipebus: error: ") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
    return captured.err


async def test_a_builtin_function_as_worker_is_one_line_and_is_never_called(
    demo_log: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert await run("replay", "--worker", "os:system") == 1
    assert "os:system is a built-in function" in one_line_error(capsys)
    touched = tmp_path / "touched"
    # Were os.system called with the name, the shell would create the file.
    assert await run("replay", "--worker", "os:system", "--name", f"touch {touched}") == 1
    assert "os:system is a built-in function" in one_line_error(capsys)
    assert not touched.exists()


@pytest.fixture
def odd_factories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "odd_factories.py").write_text(
        "from pipebus.demo import FactChecker\n"
        "def not_a_worker(name=None):\n"
        "    return 42\n"
        "def broken(name=None):\n"
        "    raise RuntimeError('no database here')\n"
        "def wrong_name(name=None):\n"
        "    return FactChecker('someone_else')\n"
        "def no_arguments():\n"
        "    return FactChecker('fact_checker')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "odd_factories"
    sys.modules.pop("odd_factories", None)


async def test_a_factory_that_fails_or_makes_no_worker_is_one_line(
    demo_log: Path, odd_factories: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = ("--name", "fact_checker")
    assert await run("replay", "--worker", f"{odd_factories}:not_a_worker") == 1
    assert f"{odd_factories}:not_a_worker() returned int, not a BaseWorker" in one_line_error(
        capsys
    )
    assert await run("replay", "--worker", f"{odd_factories}:not_a_worker", *name) == 1
    assert "not_a_worker('fact_checker') returned int" in one_line_error(capsys)
    assert await run("replay", "--worker", f"{odd_factories}:broken", *name) == 1
    assert "broken('fact_checker') failed: RuntimeError: no database here" in one_line_error(capsys)
    assert await run("replay", "--worker", f"{odd_factories}:no_arguments", *name) == 1
    assert "no_arguments('fact_checker') failed: TypeError" in one_line_error(capsys)
    assert await run("replay", "--worker", f"{odd_factories}:wrong_name", *name) == 1
    err = one_line_error(capsys)
    assert "the worker is named 'someone_else', the transcript 'fact_checker'" in err


@pytest.fixture
async def three_sessions(private_event_log: Path) -> Path:
    """Two demo sessions and one in which no fact checker took part."""
    from pipebus import BaseWorker, WorkerRunner

    await run_demo(lambda line: None)
    await run_demo(lambda line: None)

    class Quiet(BaseWorker):
        async def on_activated(self, args: object) -> None:
            await self.end(reason="nothing to do")

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(Quiet("quiet"))
    await runner.run()
    return private_event_log


async def test_all_checks_every_session_the_worker_took_part_in(
    three_sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await run(
        "replay", "--all", "--worker", "pipebus.demo:FactChecker", "--name", "fact_checker"
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.splitlines()[-1] == (
        "3 session(s): 2 match the recording, 0 diverge, 1 without a worker named 'fact_checker'"
    )


async def test_all_exits_1_and_names_each_diverging_session(
    three_sessions: Path, changed_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await run(
        "replay", "--all", "--worker", f"{changed_module}:Doubtful", "--name", "fact_checker"
    )
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    diverging = [line for line in out if line.startswith("session ")]
    assert len(diverging) == 2
    assert all("fact_checker diverges from the recording at step" in line for line in diverging)
    assert out[-1].startswith("3 session(s): 0 match the recording, 2 diverge")


async def test_all_with_no_session_of_that_worker_is_an_error(
    three_sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await run("replay", "--all", "--worker", "pipebus.demo:Researcher", "--name", "nobody")
    assert status == 1
    assert "no session of the log has a worker named 'nobody'" in capsys.readouterr().err


async def test_all_takes_no_transcript(
    three_sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await run("replay", "--all", "--transcript", "x.jsonl", "--name", "writer")
    assert status == 1
    assert "--all replays sessions" in capsys.readouterr().err
