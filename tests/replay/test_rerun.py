"""Regression tests from recordings: transcripts, reruns, divergences, the pytest plugin."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipebus import BaseWorker, BusJobRequestMessage, DecodeError, WorkerRunner, job
from pipebus.demo import Closer, Coordinator, FactChecker, Researcher, Writer, run_demo
from pipebus.replay import SessionReplay
from pipebus.replay.rerun import rerun
from pipebus.replay.transcript import Transcript, transcript_of

pytest_plugins = ["pytester"]

FACTORIES = {
    "researcher": lambda: Researcher("researcher"),
    "writer": lambda: Writer("writer"),
    "fact_checker": lambda: FactChecker("fact_checker"),
    "closer": lambda: Closer("closer", active=False),
    "coordinator": lambda: Coordinator(lambda line: None),
}


@pytest.fixture
async def demo_log(private_event_log: Path) -> Path:
    await run_demo(lambda line: None)
    return private_event_log


@pytest.mark.parametrize("worker", sorted(FACTORIES))
async def test_unchanged_workers_match_their_recording(demo_log: Path, worker: str) -> None:
    async with await SessionReplay.open(demo_log) as replay:
        transcript = await transcript_of(replay, worker)
    result = await rerun(transcript, FACTORIES[worker], timeout=3)
    assert result.ok, result.report()
    assert result.compared == len(transcript.outputs) and result.inputs == len(transcript.inputs)


async def test_a_changed_worker_diverges_at_the_first_different_message(demo_log: Path) -> None:
    class SlackResearcher(Researcher):
        async def research(self, message: BusJobRequestMessage) -> None:
            await self.send_job_update(message.job_id, {"progress": 30})
            await self.send_job_update(message.job_id, {"progress": 100})  # skipped 70
            await self.send_job_response(message.job_id, {"facts": []})

    async with await SessionReplay.open(demo_log) as replay:
        transcript = await transcript_of(replay, "researcher")
        updates = [s for s in transcript.outputs if getattr(s.message, "update", None)]
    result = await rerun(transcript, lambda: SlackResearcher("researcher"), timeout=3)
    assert not result.ok and result.divergence is not None
    assert result.divergence.step == updates[1].seq
    assert result.divergence.expected.update == {"progress": 70}  # type: ignore[union-attr]
    assert result.divergence.actual.update == {"progress": 100}  # type: ignore[union-attr]
    assert "step" in result.report() and "expected" in result.report()


async def test_a_worker_that_goes_silent_is_reported_missing(demo_log: Path) -> None:
    class Mute(FactChecker):
        async def check(self, message: BusJobRequestMessage) -> None:
            await asyncio.sleep(3600)

    async with await SessionReplay.open(demo_log) as replay:
        transcript = await transcript_of(replay, "fact_checker")
    result = await rerun(transcript, lambda: Mute("fact_checker"), timeout=0.3)
    assert result.divergence is not None and result.divergence.actual is None
    assert "nothing was sent within 0.3s" in str(result.divergence)


async def test_transcripts_save_and_load(demo_log: Path, tmp_path: Path) -> None:
    async with await SessionReplay.open(demo_log) as replay:
        transcript = await transcript_of(replay, "writer")
    path = tmp_path / "writer.jsonl"
    transcript.save(path)
    assert Transcript.load(path) == transcript
    assert (await rerun(Transcript.load(path), FACTORIES["writer"], timeout=3)).ok
    header = '{"pipebus_transcript": 1, "worker": "w", "runner": "r", "session": "s"}'
    path.write_text(header + '\n{"kind": "sideways"}\n')
    with pytest.raises(DecodeError, match="line 2"):
        Transcript.load(path)


def test_the_pytest_plugin_fails_a_test_on_divergence(
    pytester: pytest.Pytester, demo_log: Path
) -> None:
    pytester.makepyfile(
        f"""
        from pipebus.demo import FactChecker

        class Other(FactChecker):
            async def check(self, message):
                await self.send_job_response(message.job_id, {{"verified": False}})

        async def test_same(pipebus_regression):
            await pipebus_regression.check(
                {str(demo_log)!r}, lambda: FactChecker("fact_checker"), worker="fact_checker"
            )

        async def test_changed(pipebus_regression):
            await pipebus_regression.check(
                {str(demo_log)!r}, lambda: Other("fact_checker"), worker="fact_checker", timeout=1
            )
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*fact_checker diverges from the recording at step*", "*verified*"]
    )


LONG = "Venus turns so slowly that " + "its day, sunrise to sunrise, " * 5 + "lasts 117 Earth days."


class Teller(BaseWorker):
    """Answers with a long text: what it says past 100 characters is what matters."""

    @job(name="tell")
    async def tell(self, message: BusJobRequestMessage) -> None:
        await self.send_job_response(message.job_id, {"text": LONG, "words": LONG.count(" ")})


class Asker(BaseWorker):
    async def on_activated(self, args: object) -> None:
        async with self.job("teller", name="tell", timeout=5):
            pass
        await self.end(reason="told")


async def teller_transcript(log: Path) -> Transcript:
    runner = WorkerRunner(handle_sigint=False, event_log=log)
    await runner.add_workers(Asker("asker"), Teller("teller"))
    await asyncio.wait_for(runner.run(), 10)
    async with await SessionReplay.open(log) as replay:
        return await transcript_of(replay, "teller")


class MisTeller(Teller):
    @job(name="tell")
    async def tell(self, message: BusJobRequestMessage) -> None:
        text = LONG.replace("117", "116")  # differs at character 175 only
        await self.send_job_response(message.job_id, {"text": text, "words": LONG.count(" ")})


async def test_a_divergence_shows_each_differing_field_in_full_and_a_full_diff(
    private_event_log: Path,
) -> None:
    transcript = await teller_transcript(private_event_log)
    result = await rerun(transcript, lambda: MisTeller("teller"), timeout=3)
    assert result.divergence is not None
    report = result.report()
    expected_text = repr(LONG)
    actual_text = repr(LONG.replace("117", "116"))
    # The differing field by its path, with both values whole (not cut at ~100 chars).
    assert f"response['text']: {expected_text} != {actual_text}" in report
    assert f"first differ at character {LONG.index('117') + 2}" in report
    assert "response['words']" not in report.split("Full diff")[0]  # only what differs
    # Then the full diff, - the recording, + the new code, as pytest shows one.
    full = report.split("Full diff (- expected, + actual):\n")[1].splitlines()
    changed = [line.strip() for line in full if line.lstrip().startswith(("- ", "+ "))]
    assert [line[0] for line in changed] == ["-", "+"]
    assert "lasts 117" in changed[0] and "lasts 116" in changed[1]


def test_the_fixture_works_in_a_plain_sync_test_without_an_async_plugin(
    pytester: pytest.Pytester, private_event_log: Path
) -> None:
    asyncio.run(teller_transcript(private_event_log)).save(pytester.path / "teller.jsonl")
    pytester.makepyfile(
        """
        from tests.replay.test_rerun import MisTeller, Teller

        def test_same(pipebus_regression):
            result = pipebus_regression.check_sync("teller.jsonl", lambda: Teller("teller"))
            assert result.ok

        def test_changed(pipebus_regression):
            pipebus_regression.check_sync("teller.jsonl", lambda: MisTeller("teller"))

        async def test_async_without_a_plugin_is_told_what_to_use(pipebus_regression):
            pipebus_regression.check_sync("teller.jsonl", lambda: Teller("teller"))
        """
    )
    # -p no:asyncio: pytest-asyncio is not there, as in a project that never installed it.
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:asyncio", f"--rootdir={pytester.path}"
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*teller diverges from the recording at step*",
            "*Differing fields (expected != actual):*",
            "*response[[]'text'[]]: *117 Earth days.' != *116 Earth days.'*",
            "*async def functions are not natively supported*",
        ]
    )
