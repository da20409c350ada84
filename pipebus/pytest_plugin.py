"""The pytest plugin of pipebus (loaded by pytest through the ``pytest11`` entry point).

Fixtures:

- ``pipebus_event_log``: a private, empty event log file for the test; runners that
  record by default write there (``$PIPEBUS_EVENT_LOG`` points at it).
- ``pipebus_regression``: checks worker code against a recorded session, from a plain
  test (no plugin needed)::

      def test_researcher_still_behaves(pipebus_regression):
          pipebus_regression.check_sync(
              "tests/fixtures/researcher.jsonl", lambda: Researcher("researcher")
          )

  or from an async test, which needs a plugin that runs async tests (pytest-asyncio
  with ``asyncio_mode = "auto"``, or the test marked ``@pytest.mark.asyncio``)::

      async def test_researcher_still_behaves(pipebus_regression):
          await pipebus_regression.check(
              "tests/fixtures/researcher.jsonl", lambda: Researcher("researcher")
          )

  The source is a transcript file (``pipebus replay ... --save-transcript``) or an event
  log path or URL (then pass ``worker=`` and, optionally, ``session=``). A divergence
  fails the test with the step, the expected and the actual message and, when they
  differ, each differing field with both full values and the full diff.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipebus.replay.rerun import RerunResult, rerun
from pipebus.replay.session import SessionReplay
from pipebus.replay.transcript import Transcript, transcript_of
from pipebus.workers.base import BaseWorker


class RegressionCheck:
    """What the ``pipebus_regression`` fixture gives a test."""

    async def check(
        self,
        source: str | Path,
        make_worker: Callable[[], BaseWorker],
        *,
        worker: str | None = None,
        session: str = "last",
        timeout: float = 5.0,
    ) -> RerunResult:
        """Re-run a recording through ``make_worker()`` and fail the test on divergence.

        Args:
            source: A transcript file (``.jsonl``), or an event log path or URL.
            make_worker: Builds the worker under test (with the recorded name).
            worker: The worker to check, when ``source`` is an event log.
            session: The session of the log: an id, an id prefix or ``"last"``.
            timeout: Seconds to wait for each expected message.
        """
        transcript = await self.transcript(source, worker=worker, session=session)
        result = await rerun(transcript, make_worker, timeout=timeout)
        if not result.ok:
            pytest.fail(result.report(), pytrace=False)
        return result

    def check_sync(
        self,
        source: str | Path,
        make_worker: Callable[[], BaseWorker],
        *,
        worker: str | None = None,
        session: str = "last",
        timeout: float = 5.0,
    ) -> RerunResult:
        """:meth:`check` for a plain (sync) test: runs it in an event loop of its own.

        Raises:
            RuntimeError: If called where an event loop is running (an async test):
                there, ``await pipebus_regression.check(...)`` instead.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "pipebus_regression.check_sync() runs its own event loop, and one is "
                "running here: in an async test, use `await pipebus_regression.check(...)`"
            )
        return asyncio.run(
            self.check(source, make_worker, worker=worker, session=session, timeout=timeout)
        )

    async def transcript(
        self, source: str | Path, *, worker: str | None = None, session: str = "last"
    ) -> Transcript:
        """The transcript a check would replay."""
        if str(source).endswith(".jsonl"):
            return Transcript.load(source)
        if worker is None:
            raise ValueError("checking against an event log needs worker=<name>")
        async with await SessionReplay.open(str(source), session) as replay:
            return await transcript_of(replay, worker)


@pytest.fixture
def pipebus_regression() -> RegressionCheck:
    """Check worker code against recorded sessions (see the module docstring)."""
    return RegressionCheck()


@pytest.fixture(scope="session")
def pipebus_template_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty event log with the current schema, made once per test run."""
    from pipebus.eventlog.store import EventLog

    path = tmp_path_factory.mktemp("pipebus") / "template.db"

    async def create() -> None:
        log = await EventLog.open(path)
        await log.close()

    asyncio.run(create())
    return path


@pytest.fixture
def pipebus_event_log(
    pipebus_template_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A private event log file for this test; ``$PIPEBUS_EVENT_LOG`` points at it."""
    path = tmp_path / "pipebus.db"
    shutil.copyfile(pipebus_template_log, path)
    monkeypatch.setenv("PIPEBUS_EVENT_LOG", str(path))
    yield path
