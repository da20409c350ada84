"""The demo: a small voice-agent style session with several workers, printed as it runs.

A coordinator asks three workers for an answer as one job group: a researcher that
reports progress, a writer that streams its text, and a fact checker. It then asks a
translator, whose handler raises (a recorded handler error; the worker fails), and
starts an archive job that it cancels once the archivist is at work (these two with
``failures``, as ``pipebus demo`` runs it). Then it hands the conversation over to a
closer by activation and the session ends gracefully. The session is recorded in
the default event log, for ``pipebus inspect``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from pipebus.core.codec import wire_name
from pipebus.core.describe import (
    ERROR_TYPES,
    describe,
    error_summary,
    job_label,
    job_name_of,
    offset_ms,
)
from pipebus.core.envelope import Envelope
from pipebus.core.errors import JobError, JobGroupError
from pipebus.core.messages import BusJobRequestMessage, BusTTSSpeakMessage
from pipebus.core.types import JobGroupEvent, WorkerActivationArgs, WorkerParams, WorkerReadyData
from pipebus.eventlog.urls import default_location
from pipebus.workers.base import BaseWorker
from pipebus.workers.decorators import job, worker_ready
from pipebus.workers.runner import WorkerRunner

QUESTION = "Which planet has the longest day?"
TEAM = ("researcher", "writer", "fact_checker")
HELPERS = ("translator", "archivist")


class Researcher(BaseWorker):
    """Looks things up, reporting progress as it goes."""

    @job(name="answer")
    async def research(self, message: BusJobRequestMessage) -> None:
        """Three progress updates, then the facts."""
        for percent in (30, 70, 100):
            await asyncio.sleep(0.01)
            await self.send_job_update(message.job_id, {"progress": percent})
        await self.send_job_response(message.job_id, {"facts": ["Venus rotates once in 243 days"]})


class Writer(BaseWorker):
    """Writes the answer and streams it word by word."""

    @job(name="answer")
    async def write(self, message: BusJobRequestMessage) -> None:
        """Stream the answer word by word."""
        await self.send_job_stream_start(message.job_id, {"format": "text"})
        for word in ("Venus:", "one", "day", "lasts", "243", "Earth", "days."):
            await asyncio.sleep(0.005)
            await self.send_job_stream_data(message.job_id, {"text": word})
        await self.send_job_stream_end(message.job_id, {"words": 7})


class FactChecker(BaseWorker):
    """Checks the claim and answers once."""

    @job(name="answer")
    async def check(self, message: BusJobRequestMessage) -> None:
        """Answer once, after a short check."""
        await asyncio.sleep(0.02)
        await self.send_job_response(message.job_id, {"verified": True})


class Translator(BaseWorker):
    """Has no model for the language it is asked for: its handler raises, and it fails."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._broken: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    @job(name="translate")
    async def translate(self, message: BusJobRequestMessage) -> None:
        """Raise: the error is recorded, the job answered ERROR, and the worker fails."""
        error = LookupError(f"no translation model for {(message.payload or {}).get('to')!r}")
        if not self._broken.done():
            self._broken.set_result(error)
        raise error

    async def run(self, params: WorkerParams | None = None) -> None:
        """Run until ended, or fail once a translation broke (status ``"failed"``)."""
        ended = asyncio.ensure_future(super().run(params))
        waiting: list[asyncio.Future[Any]] = [ended, self._broken]
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            ended.cancel()
            raise
        if ended.done():
            return ended.result()
        await asyncio.sleep(0)  # let the job's ERROR answer go out first
        self._mark_stop("failed", f"LookupError: {self._broken.result()}")
        await self.send_bus_error_message(str(self._broken.result()))
        await self.stop()
        await ended
        raise self._broken.result()


class Archivist(BaseWorker):
    """Archives the conversation, slowly: the coordinator cancels it midway."""

    @job(name="archive")
    async def archive(self, message: BusJobRequestMessage) -> None:
        """Report that it started, then work until cancelled."""
        await self.send_job_update(message.job_id, {"archived": 0})
        await asyncio.Event().wait()


class Coordinator(BaseWorker):
    """Runs the job group once its team is ready, then hands over to the closer.

    Args:
        say: Where it prints progress.
        failures: Also ask the translator (which fails) and cancel the archivist's job.
    """

    def __init__(self, say: Callable[[str], None], *, failures: bool = False) -> None:
        super().__init__("coordinator")
        self._say = say
        self._ready: set[str] = set()
        self._failures = failures

    @worker_ready(name="researcher")
    async def on_researcher(self, data: WorkerReadyData) -> None:
        """One team member is ready."""
        await self._team_member_ready(data)

    @worker_ready(name="writer")
    async def on_writer(self, data: WorkerReadyData) -> None:
        """One team member is ready."""
        await self._team_member_ready(data)

    @worker_ready(name="fact_checker")
    async def on_fact_checker(self, data: WorkerReadyData) -> None:
        """One team member is ready."""
        await self._team_member_ready(data)

    @worker_ready(name="translator")
    async def on_translator(self, data: WorkerReadyData) -> None:
        """A helper is ready."""
        await self._team_member_ready(data)

    @worker_ready(name="archivist")
    async def on_archivist(self, data: WorkerReadyData) -> None:
        """A helper is ready."""
        await self._team_member_ready(data)

    async def _team_member_ready(self, data: WorkerReadyData) -> None:
        self._ready.add(data.worker_name)
        if self._ready == {*TEAM, *(HELPERS if self._failures else ())}:
            self.create_task(self._converse(), "converse")

    async def _converse(self) -> None:
        try:
            await self._ask_and_hand_over()
        except Exception as exc:
            await self.end(reason=f"conversation failed: {type(exc).__name__}: {exc}")
            raise

    async def _ask_and_hand_over(self) -> None:
        async with self.job_group(*TEAM, name="answer", payload={"question": QUESTION}) as group:
            async for event in group:
                if event.type == JobGroupEvent.UPDATE and event.data:
                    self._say(f"    {event.worker_name} is {event.data['progress']}% done")
        self._say(f"    answers: {group.responses}")
        if self._failures:
            await self._translate(group.responses["writer"])
            await self._archive_and_cancel()
        args = WorkerActivationArgs(metadata={"summary": group.responses["writer"]})
        await self.activate_worker("closer", args=args, deactivate_self=True)

    async def _translate(self, text: dict[str, Any]) -> None:
        try:
            async with self.job(
                "translator", name="translate", payload={"text": text, "to": "klingon"}, timeout=5
            ) as translation:
                async for _ in translation:
                    pass
        except JobError as exc:
            error = (exc.response or {}).get("error", "")
            self._say(f"    translation failed: {exc}: {error}")

    async def _archive_and_cancel(self) -> None:
        try:
            async with self.job("archivist", name="archive", payload={"keep": "all"}) as archive:
                async for _ in archive:  # its first update: it is at work; stop it
                    await self.cancel_job_group(archive.job_id, reason="the user hung up")
                    break
        except (JobError, JobGroupError) as exc:
            self._say(f"    archive cancelled: {exc}")


class Closer(BaseWorker):
    """Starts inactive; once activated it says goodbye and ends the session."""

    async def on_activated(self, args: dict[str, Any] | None) -> None:
        """Say goodbye and end the session."""
        await self.send_bus_message(
            BusTTSSpeakMessage(source=self.name, text="Thanks for asking. Goodbye!")
        )
        await self.end(reason="conversation finished")


class TimelinePrinter:
    """A bus tap that prints each message as one line, as ``pipebus show`` prints it.

    Times are milliseconds since the session started, as the log recorded its start
    (what ``pipebus show`` and the inspector count from): lines wait until that time is
    read, a few milliseconds after the first message, then follow live. Job ids are
    short, with the job's name beside; the session's errors are counted by type.

    Args:
        say: Where it prints.
        session_start: Reads the session's recorded start (None if it is not recorded).
    """

    def __init__(self, say: Callable[[str], None], session_start: SessionStart) -> None:
        self._say = say
        self._session_start = session_start
        self._start_ns: int | None = None
        self._waiting: list[Envelope | str] = []
        self._reading: asyncio.Task[None] | None = None
        self.job_names: dict[str, str] = {}
        self.errors: Counter[str] = Counter()

    def say(self, line: str) -> None:
        """Print a line of the demo's own, after the messages that came before it."""
        if self._start_ns is None and self._reading is not None:
            self._waiting.append(line)
        else:
            self._say(line)

    def on_envelope(self, envelope: Envelope) -> None:
        """Count, then print one stamped envelope (or keep it until the start is known)."""
        kind = wire_name(type(envelope.message))
        if kind in ERROR_TYPES:
            self.errors[kind] += 1
        named = job_name_of(envelope.message)
        if named is not None:
            self.job_names.setdefault(*named)
        if self._start_ns is not None:
            self._say(self._line(envelope, self._start_ns))
            return
        self._waiting.append(envelope)
        if self._reading is None:
            self._reading = asyncio.get_running_loop().create_task(self._read_start(envelope))

    async def _read_start(self, first: Envelope) -> None:
        recorded = await self._session_start()
        start = recorded if recorded is not None else first.time_ns
        waiting, self._waiting = self._waiting, []
        for item in waiting:
            self._say(item if isinstance(item, str) else self._line(item, start))
        self._start_ns = start

    async def finish(self) -> None:
        """Wait until every line kept back has been printed."""
        if self._reading is not None:
            await self._reading

    def _line(self, envelope: Envelope, start_ns: int) -> str:
        elapsed = offset_ms(envelope.time_ns, start_ns)
        text = describe(envelope.message, 48, self.job_names)
        return f"{elapsed:8.1f} ms  #{envelope.seq:<3} {text}"


SessionStart = Callable[[], Awaitable[int | None]]
"""Reads when the session started, as its event log recorded it (None if not recorded)."""


def _recorded_start(runner: WorkerRunner) -> SessionStart:
    async def read() -> int | None:
        recorder = runner.recorder
        if recorder is None:
            return None
        return (await recorder.log.session(runner.session_id)).started_ns

    return read


async def run_demo(say: Callable[[str], None] = print, *, failures: bool = False) -> WorkerRunner:
    """Run the demo session, printing its timeline and a summary through ``say``.

    With ``failures`` (what ``pipebus demo`` runs, so the inspector has something to
    show) the coordinator also asks the translator, whose handler raises and which
    then fails, and cancels the archivist's job midway.
    """
    runner = WorkerRunner(name="demo-runner", handle_sigint=True)
    printer = TimelinePrinter(say, _recorded_start(runner))
    runner.bus.add_tap(printer)
    if failures:
        say(
            "pipebus demo: a coordinator, three workers, a failing translator, a cancelled "
            f"archive job and a handoff. Question: {QUESTION}\n"
        )
    else:
        say(f"pipebus demo: a coordinator, three workers and a handoff. Question: {QUESTION}\n")
    helpers = (Translator("translator"), Archivist("archivist")) if failures else ()
    await runner.add_workers(
        Coordinator(printer.say, failures=failures),
        Researcher("researcher"),
        Writer("writer"),
        FactChecker("fact_checker"),
        *helpers,
        Closer("closer", active=False),
    )
    try:
        await runner.run()
    finally:
        await printer.finish()
    say("\nWorkers at the end (from the registry projection):")
    for info in sorted(runner.registry.state.workers.values(), key=lambda w: w.name):
        say(f"  {info.name:<13} {info.status:<10} {info.stop_reason or ''}")
    say("Jobs:")
    for state in runner.jobs.state.jobs.values():
        parts = ", ".join(f"{w.worker}={w.status}" for w in state.workers.values())
        duration = (state.duration_ns or 0) / 1e6
        say(f"  {job_label(state.job_id, state.name)} {state.status} in {duration:.1f} ms")
        say(f"    {parts}")
    stats = runner.bus.stats
    say(
        f"Bus: {stats.stamped} messages, {stats.delivered} deliveries, "
        f"{error_summary(printer.errors)}"
    )
    where = default_location()
    say(f"\nRecorded in {where}. Inspect it with:")
    say(f"  {inspect_command(where, runner.session_id)}")
    return runner


def inspect_command(location: str, session_id: str) -> str:
    """The command that opens a recorded session in the inspector."""
    return f"pipebus inspect {location} --session {session_id[:8]}"
