"""Regression tests from recordings: transcripts, reruns, divergences, the pytest plugin."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipebus import BusJobRequestMessage, DecodeError
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
