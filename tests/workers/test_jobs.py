"""Jobs and job groups: requests, answers, events, errors, timeouts, cancels, ordering."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest

from pipebus import (
    BaseWorker,
    BusJobRequestMessage,
    BusJobResponseMessage,
    BusJobUpdateMessage,
    BusJobUpdateRequestMessage,
    EncodeError,
    JobError,
    JobEvent,
    JobGroupError,
    JobGroupEvent,
    JobGroupParams,
    JobGroupResponse,
    JobParams,
    JobStatus,
    WorkerRunner,
    job,
)
from pipebus.testing import EnvelopeCapture, running, until


class Echo(BaseWorker):
    """Answers every job with its payload, after one progress update."""

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await self.send_job_update(message.job_id, {"progress": 50})
        await self.send_job_response(message.job_id, {"echo": message.payload})


class Streamer(BaseWorker):
    @job(name="story")
    async def tell(self, message: BusJobRequestMessage) -> None:
        await self.send_job_stream_start(message.job_id, {"format": "text"})
        for word in ("once", "upon", "a time"):
            await self.send_job_stream_data(message.job_id, {"text": word})
        await self.send_job_stream_end(message.job_id, {"words": 3})


class Requester(BaseWorker):
    """A worker tests drive from outside."""


class Crasher(BaseWorker):
    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        raise ValueError("cannot do that")


class Sleeper(BaseWorker):
    """Takes a very long time; records cancellation."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.cancelled: list[str] = []

    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await asyncio.sleep(3600)

    async def on_job_cancelled(self, message: Any) -> None:
        self.cancelled.append(message.job_id)


async def test_job_returns_the_response_and_yields_updates(runner: WorkerRunner) -> None:
    requester = Requester("req")
    await runner.add_workers(requester, Echo("echo"))
    async with running(runner):
        events: list[JobEvent] = []
        async with requester.job("echo", payload={"x": 1}) as t:
            async for event in t:
                events.append(event)
        assert t.response == {"echo": {"x": 1}}
        assert events == [JobEvent(type=JobEvent.UPDATE, data={"progress": 50})]


async def test_params_objects_and_keyword_arguments_are_equivalent(runner: WorkerRunner) -> None:
    requester = Requester("req")
    await runner.add_workers(requester, Echo("echo"))
    async with running(runner):
        async with requester.job("echo", params=JobParams(payload={"a": 1}, timeout=5)) as t1:
            pass
        async with requester.job("echo", payload={"a": 1}, timeout=5) as t2:
            pass
        assert t1.response == t2.response == {"echo": {"a": 1}}
        with pytest.raises(TypeError, match="either params"):
            requester.job("echo", params=JobParams(), payload={"a": 1})


async def test_job_group_collects_streams_and_updates_from_every_worker(
    runner: WorkerRunner,
) -> None:
    requester = Requester("req")
    await runner.add_workers(requester, Echo("echo"), Streamer("streamer"))
    async with running(runner):
        events: list[JobGroupEvent] = []
        async with requester.job_group("echo", "streamer", name="story", payload={"p": 1}) as tg:
            async for event in tg:
                events.append(event)
        assert tg.responses == {"echo": {"echo": {"p": 1}}, "streamer": {"words": 3}}
        streamed = [(e.type, e.data) for e in events if e.worker_name == "streamer"]
        assert streamed == [
            ("stream_start", {"format": "text"}),
            ("stream_data", {"text": "once"}),
            ("stream_data", {"text": "upon"}),
            ("stream_data", {"text": "a time"}),
            ("stream_end", {"words": 3}),
        ]
        assert [(e.worker_name, e.type) for e in events if e.worker_name == "echo"] == [
            ("echo", "update")
        ]


async def test_a_raising_job_handler_answers_error_with_its_text(runner: WorkerRunner) -> None:
    requester = Requester("req")
    await runner.add_workers(requester, Crasher("crasher"))
    async with running(runner):
        capture = EnvelopeCapture(runner.bus)
        started = time.monotonic()
        with pytest.raises(JobError, match=r"^worker 'crasher' errored$") as caught:
            async with requester.job("crasher", timeout=30):
                pass
        assert time.monotonic() - started < 5  # promptly, not at the 30 s timeout
        assert caught.value.worker_name == "crasher"
        assert caught.value.response == {"error": "ValueError: cannot do that"}
        answer = capture.of_type(BusJobResponseMessage)[0]
        assert answer.status is JobStatus.ERROR
        assert answer.response == {"error": "ValueError: cannot do that"}


async def test_timeout_covers_readiness_and_work_once(runner: WorkerRunner) -> None:
    requester = Requester("req")
    late = Sleeper("late")
    await runner.add_workers(requester)

    async def add_late_worker() -> None:
        await asyncio.sleep(0.2)
        await runner.add_workers(late)

    async with running(runner):
        adder = asyncio.create_task(add_late_worker())
        started = time.monotonic()
        with pytest.raises(JobError, match="timeout"):
            async with requester.job("late", timeout=0.3):
                pass
        elapsed = time.monotonic() - started
        await adder
        # Pipecat waits up to the timeout for readiness, then the whole timeout again.
        assert 0.25 < elapsed < 0.5
        await runner.bus.drain()
        assert late.cancelled  # the worker was told to stop the job


async def test_timeout_while_no_worker_ever_becomes_ready(runner: WorkerRunner) -> None:
    requester = Requester("req")
    await runner.add_workers(requester)
    async with running(runner):
        with pytest.raises(JobError, match=r"not ready within 0\.1s: ghost"):
            async with requester.job("ghost", timeout=0.1):
                pass


async def test_a_cancelled_answer_is_not_a_success(runner: WorkerRunner) -> None:
    class Refuser(BaseWorker):
        async def on_job_request(self, message: BusJobRequestMessage) -> None:
            await self.send_job_response(message.job_id, status=JobStatus.CANCELLED)

    requester = Requester("req")
    await runner.add_workers(requester, Refuser("refuser"), Echo("echo"))
    async with running(runner):
        with pytest.raises(JobError, match="answered cancelled"):
            async with requester.job("refuser"):
                pass
        with pytest.raises(JobGroupError, match="refuser"):
            async with requester.job_group("echo", "refuser"):
                pass
        # Without cancel_on_error the group completes and reports each status.
        group = await requester.create_job_group_and_request_job(
            ["echo", "refuser"], params=JobGroupParams(cancel_on_error=False)
        )
        await group.wait()
        assert group.statuses == {"echo": JobStatus.COMPLETED, "refuser": JobStatus.CANCELLED}


async def test_events_sent_before_the_block_iterates_are_kept(runner: WorkerRunner) -> None:
    class Eager(BaseWorker):
        async def on_job_request(self, message: BusJobRequestMessage) -> None:
            for i in range(5):
                await self.send_job_update(message.job_id, {"i": i})
            await self.send_job_response(message.job_id, {})

    requester = Requester("req")
    await runner.add_workers(requester, Eager("eager"), Echo("echo"))
    async with running(runner):
        group = await requester.create_job_group_and_request_job(["eager", "echo"])
        await group.wait()  # every event arrived before anyone iterated
        assert group.event_queue is not None
        updates = []
        while (event := group.event_queue.get_nowait()) is not None:
            updates.append((event.worker_name, event.data))
        assert [d for w, d in updates if w == "eager"] == [{"i": i} for i in range(5)]


async def test_a_duplicate_job_id_is_refused_with_a_clear_error(runner: WorkerRunner) -> None:
    sleeper = Sleeper("sleeper")
    await runner.add_workers(sleeper)
    async with running(runner):
        capture = EnvelopeCapture(runner.bus)
        for _ in range(2):
            await runner.bus.send(BusJobRequestMessage(source="req", target="sleeper", job_id="J1"))
        await runner.bus.drain()
        answers = capture.of_type(BusJobResponseMessage)
        assert len(answers) == 1
        assert answers[0].status is JobStatus.ERROR
        assert "duplicate job_id 'J1'" in (answers[0].response or {})["error"]
        assert list(sleeper.active_jobs) == ["J1"]  # the first job is untouched


async def test_request_job_watches_are_released(runner: WorkerRunner) -> None:
    requester = Requester("req")
    await runner.add_workers(requester, Echo("echo"))
    async with running(runner):
        async with requester.job("echo"):
            pass
        before = runner.registry.watch_count()
        for _ in range(50):
            async with requester.job("echo"):
                pass
        assert runner.registry.watch_count() == before


async def test_job_to_a_stopped_worker_fails_fast(runner: WorkerRunner) -> None:
    requester = Requester("req")
    echo = Echo("echo")
    await runner.add_workers(requester, echo)
    async with running(runner):
        async with requester.job("echo"):
            pass
        await echo.stop()
        await runner.bus.drain()
        assert "echo" not in runner.registry
        started = time.monotonic()
        with pytest.raises(JobError, match=r"'echo'.*has stopped"):
            async with requester.job("echo", timeout=30):
                pass
        assert time.monotonic() - started < 5


async def test_a_worker_stopping_mid_job_answers_cancelled(runner: WorkerRunner) -> None:
    requester = Requester("req")
    sleeper = Sleeper("sleeper")
    await runner.add_workers(requester, sleeper)
    async with running(runner):

        async def stop_soon() -> None:
            await until(lambda: bool(sleeper.active_jobs))
            await sleeper.stop()

        stopper = asyncio.create_task(stop_soon())
        with pytest.raises(JobError, match="sleeper"):
            async with requester.job("sleeper", timeout=30):
                pass
        await stopper


async def test_urgent_response_does_not_overtake_the_jobs_updates(runner: WorkerRunner) -> None:
    class Busy(BaseWorker):
        async def on_job_update(self, message: Any) -> None:
            await asyncio.sleep(0.01)  # a slow consumer: updates pile up in its data lane

    class Hasty(BaseWorker):
        async def on_job_request(self, message: BusJobRequestMessage) -> None:
            for i in range(5):
                await self.send_job_update(message.job_id, {"i": i})
            await self.send_job_response(message.job_id, {"done": True}, urgent=True)

    busy = Busy("busy")
    await runner.add_workers(busy, Hasty("hasty"))
    async with running(runner):
        seen: list[Any] = []
        async with busy.job("hasty") as t:
            async for event in t:
                seen.append(event.data)
        assert seen == [{"i": i} for i in range(5)]
        assert t.response == {"done": True}


async def test_cancel_job_group_cancels_the_workers_handlers(runner: WorkerRunner) -> None:
    requester = Requester("req")
    sleeper = Sleeper("sleeper")
    await runner.add_workers(requester, sleeper)
    async with running(runner):
        group = await requester.create_job_group_and_request_job(["sleeper"])
        await until(lambda: bool(sleeper.active_jobs))
        await requester.cancel_job_group(group.job_id, reason="changed my mind")
        with pytest.raises(JobGroupError, match="changed my mind"):
            await group.wait()
        await runner.bus.drain()
        assert sleeper.cancelled == [group.job_id]
        assert sleeper.active_jobs == {}


async def test_update_requests_reach_the_worker(runner: WorkerRunner) -> None:
    class Reporter(BaseWorker):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.release = asyncio.Event()

        async def on_job_request(self, message: BusJobRequestMessage) -> None:
            await self.release.wait()
            await self.send_job_response(message.job_id, {})

        async def on_job_update_requested(self, message: BusJobUpdateRequestMessage) -> None:
            await self.send_job_update(message.job_id, {"asked": True})
            self.release.set()

    requester = Requester("req")
    await runner.add_workers(requester, Reporter("reporter"))
    async with running(runner):
        async with requester.job("reporter") as t:
            await requester.request_job_update(t.job_id, "reporter")
            events = [e async for e in t]
        assert events == [JobEvent(type="update", data={"asked": True})]


async def test_sequential_job_handlers_run_one_at_a_time(runner: WorkerRunner) -> None:
    class Serial(BaseWorker):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.running = 0
            self.most = 0

        @job(name="step", sequential=True)
        async def step(self, message: BusJobRequestMessage) -> None:
            self.running += 1
            self.most = max(self.most, self.running)
            await asyncio.sleep(0.01)
            self.running -= 1
            await self.send_job_response(message.job_id, {"n": (message.payload or {})["n"]})

    requester = Requester("req")
    serial = Serial("serial")
    await runner.add_workers(requester, serial)
    async with running(runner):
        groups = [
            await requester.create_job_group_and_request_job(
                ["serial"], params=JobGroupParams(name="step", payload={"n": n})
            )
            for n in range(4)
        ]
        await asyncio.gather(*(g.wait() for g in groups))
        assert serial.most == 1
        assert [g.responses["serial"] for g in groups] == [{"n": n} for n in range(4)]


async def test_a_job_without_a_handler_stays_active_until_answered(runner: WorkerRunner) -> None:
    """As in Pipecat: the worker may answer it later with send_job_response()."""
    requester = Requester("req")
    plain = BaseWorker("plain")
    await runner.add_workers(requester, plain)
    async with running(runner):
        async with requester.job("plain", timeout=10) as job:
            await until(lambda: job.job_id in plain.active_jobs)
            await plain.send_job_response(job.job_id, {"late": True})
        assert job.response == {"late": True}


async def test_jobs_without_a_handler_are_refused_when_asked_or_to_an_inactive_worker(
    runner: WorkerRunner,
) -> None:
    requester = Requester("req")
    strict = BaseWorker("strict", refuse_unhandled_jobs=True)
    await runner.add_workers(requester, strict, Echo("idle", active=False))
    async with running(runner):
        with pytest.raises(JobError, match="errored") as caught:
            async with requester.job("strict"):
                pass
        assert caught.value.response == {"error": "worker 'strict' has no handler for job None"}
        with pytest.raises(JobError) as caught:
            async with requester.job("idle"):
                pass
        assert caught.value.response == {"error": "worker 'idle' is inactive"}


async def test_job_event_handlers_fire(runner: WorkerRunner) -> None:
    requester = Requester("req")
    await runner.add_workers(requester, Echo("echo"), Crasher("crasher"))
    completed: list[JobGroupResponse] = []
    errors: list[str] = []
    updates = asyncio.Event()

    @requester.event_handler("on_job_completed")
    async def on_completed(worker: BaseWorker, result: JobGroupResponse) -> None:
        completed.append(result)

    @requester.event_handler("on_job_error")
    def on_error(worker: BaseWorker, message: BusJobResponseMessage) -> None:
        errors.append(message.source)

    @requester.event_handler("on_job_update")
    def on_update(worker: BaseWorker, message: BusJobUpdateMessage) -> None:
        updates.set()

    async with running(runner):
        async with requester.job("echo", payload={"k": 1}) as t:
            pass
        with pytest.raises(JobError):
            async with requester.job("crasher"):
                pass
        await updates.wait()
        await asyncio.sleep(0)
        assert completed == [
            JobGroupResponse(job_id=t.job_id, responses={"echo": {"echo": {"k": 1}}})
        ]
        assert errors == ["crasher"]


async def test_leaving_the_block_with_an_error_cancels_the_job(runner: WorkerRunner) -> None:
    requester = Requester("req")
    sleeper = Sleeper("sleeper")
    await runner.add_workers(requester, sleeper)
    async with running(runner):
        with pytest.raises(KeyError):
            async with requester.job("sleeper") as t:
                await until(lambda: bool(sleeper.active_jobs))
                raise KeyError("oops")
        await runner.bus.drain()
        assert sleeper.cancelled == [t.job_id]
        assert requester.job_groups == {}


async def test_cancelling_the_waiting_task_cancels_the_job(runner: WorkerRunner) -> None:
    requester = Requester("req")
    sleeper = Sleeper("sleeper")
    await runner.add_workers(requester, sleeper)
    async with running(runner):

        async def wait_for_job() -> None:
            async with requester.job("sleeper"):
                pass

        waiter = asyncio.create_task(wait_for_job())
        await until(lambda: bool(sleeper.active_jobs))
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await runner.bus.drain()
        assert len(sleeper.cancelled) == 1
        assert requester.job_groups == {}


@dataclass
class PriorityJobRequest(BusJobRequestMessage):
    """An application's own kind of job request: built-in handling applies to it too."""

    priority: int = 0


async def test_a_subclass_of_a_built_in_message_is_handled_as_its_nearest_base() -> None:
    seen: list[BusJobRequestMessage] = []

    class Taker(BaseWorker):
        async def on_job_request(self, message: BusJobRequestMessage) -> None:
            seen.append(message)

    worker = Taker("taker")
    first = PriorityJobRequest(source="req", target="taker", job_id="j1", priority=2)
    second = PriorityJobRequest(source="req", target="taker", job_id="j2", priority=1)
    await worker.on_bus_message(first)
    await worker.on_bus_message(second)  # the type is resolved once, then looked up
    await until(lambda: len(seen) == 2)
    assert seen == [first, second]
    assert worker.active_jobs == {"j1": first, "j2": second}


async def test_a_job_whose_request_cannot_be_sent_leaves_no_group_behind(
    runner: WorkerRunner,
) -> None:
    requester = Requester("req")
    await runner.add_workers(requester, Echo("echo"))
    async with running(runner):
        with pytest.raises(EncodeError, match=r"payload\['x'\]"):
            async with requester.job("echo", payload={"x": complex(1, 2)}, timeout=0.2):
                pass
        assert requester.job_groups == {}
        await asyncio.sleep(0.3)  # past the timeout: nothing fires for the dropped group
        assert requester.job_groups == {}
