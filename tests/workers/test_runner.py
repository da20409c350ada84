"""WorkerRunner: running, auto end, graceful end and escalation, cancellation, signals."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from redis.asyncio import Redis

from pipebus import (
    BaseWorker,
    BusAddWorkerMessage,
    BusCancelWorkerMessage,
    BusEndMessage,
    BusEndWorkerMessage,
    BusError,
    BusHandlerErrorMessage,
    BusWorkerRegistryMessage,
    DuplicateNameError,
    WorkerErrorData,
    WorkerParams,
    WorkerReadyData,
    WorkerRunner,
    worker_ready,
)
from pipebus.replay import SessionReplay
from pipebus.testing import EnvelopeCapture, running, until
from pipebus.transports import RedisBus
from tests.services import need_redis


class SlowToEnd(BaseWorker):
    """Needs some time to end gracefully (or forever, with delay=None)."""

    def __init__(self, name: str, delay: float | None) -> None:
        super().__init__(name)
        self.delay = delay
        self.got: list[str] = []

    async def on_bus_message(self, message: object) -> None:
        self.got.append(type(message).__name__)
        if isinstance(message, BusEndWorkerMessage):
            if self.delay is None:
                await asyncio.Event().wait()
            await asyncio.sleep(self.delay)
        await super().on_bus_message(message)  # type: ignore[arg-type]


class Finite(BaseWorker):
    """Stops on its own after starting."""

    async def run(self, params: WorkerParams | None = None) -> None:
        self._lifecycle.stop_status = "ended"
        self.create_task(self.stop(), "stop")
        await super().run(params)


async def test_run_ends_by_itself_when_every_root_worker_finished() -> None:
    runner = WorkerRunner(handle_sigint=False)
    ready: list[str] = []
    runner.add_event_handler("on_ready", lambda r: ready.append(r.name))
    await runner.add_workers(Finite("a"), Finite("b"))
    await asyncio.wait_for(runner.run(), 5)
    assert ready == [runner.name]
    assert runner.phase == "done"
    assert {w.status for w in runner.registry.state.workers.values()} == {"ended"}


async def test_a_runner_runs_once() -> None:
    runner = WorkerRunner(handle_sigint=False)
    await runner.run()
    with pytest.raises(BusError, match="runs once"):
        await runner.run()


async def test_end_is_graceful_workers_get_end_and_no_cancel() -> None:
    runner = WorkerRunner(handle_sigint=False, shutdown_timeout=5)
    worker = SlowToEnd("slow", delay=0.05)
    capture = EnvelopeCapture(runner.bus)
    await runner.add_workers(worker)
    async with running(runner):
        await runner.end(reason="bye")
        await runner.end(reason="again")  # idempotent
    assert "BusEndWorkerMessage" in worker.got
    assert capture.of_type(BusCancelWorkerMessage) == []
    assert len(capture.of_type(BusEndWorkerMessage)) == 1
    assert runner.registry.state.workers["slow"].status == "ended"


async def test_end_escalates_to_cancel_after_the_shutdown_timeout() -> None:
    runner = WorkerRunner(handle_sigint=False, shutdown_timeout=0.2)
    worker = SlowToEnd("stuck", delay=None)
    capture = EnvelopeCapture(runner.bus)
    await runner.add_workers(worker)
    async with running(runner):
        await runner.end()
    assert capture.type_names().index("BusEndWorkerMessage") < capture.type_names().index(
        "BusCancelWorkerMessage"
    )
    assert runner.registry.state.workers["stuck"].status == "cancelled"


async def test_cancel_after_end_escalates_at_once() -> None:
    runner = WorkerRunner(handle_sigint=False, shutdown_timeout=30)
    worker = SlowToEnd("stuck", delay=None)
    capture = EnvelopeCapture(runner.bus)
    await runner.add_workers(worker)
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    await runner.end()
    await until(lambda: "BusEndWorkerMessage" in worker.got)  # the worker is stuck ending
    await runner.cancel(reason="now")
    await asyncio.wait_for(task, 5)  # far less than the 30 s graceful window
    assert [m.reason for m in capture.of_type(BusCancelWorkerMessage)] == ["now"]


async def test_run_reraises_a_cancellation_from_outside() -> None:
    runner = WorkerRunner(handle_sigint=False, shutdown_timeout=2)
    await runner.add_workers(BaseWorker("w"))
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runner.registry.state.workers["w"].status == "cancelled"
    assert not runner.bus.running


async def test_a_worker_asking_to_end_ends_the_session() -> None:
    runner = WorkerRunner(handle_sigint=False)
    worker = BaseWorker("w")
    await runner.add_workers(worker)
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    await worker.end(reason="all done")
    await asyncio.wait_for(task, 5)
    assert runner.registry.state.workers["w"].stop_reason == "all done"


async def test_bus_messages_can_add_workers_while_running() -> None:
    runner = WorkerRunner(handle_sigint=False)
    async with running(runner):
        await runner.bus.send(BusAddWorkerMessage(source="x", worker=BaseWorker("added")))
        await runner.bus.drain()
        await until(lambda: "added" in runner.registry)
        assert runner.get_worker("added") is not None


async def test_duplicate_worker_names_are_refused() -> None:
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(BaseWorker("w"))
    with pytest.raises(DuplicateNameError, match="'w'"):
        await runner.add_workers(BaseWorker("w"))


async def test_run_failure_is_reported_through_on_error() -> None:
    class Broken(BaseWorker):
        async def start(self) -> None:
            raise RuntimeError("cannot start")

    runner = WorkerRunner(handle_sigint=False)
    errors: list[WorkerErrorData] = []
    runner.add_event_handler("on_error", lambda r, data: errors.append(data))
    await runner.add_workers(Broken("broken"))
    await asyncio.wait_for(runner.run(), 5)
    assert errors == [WorkerErrorData(worker_name="broken", error="RuntimeError: cannot start")]
    assert runner.bus.stats.handler_errors >= 1


async def test_runners_send_a_registry_snapshot_when_a_root_worker_is_ready() -> None:
    runner = WorkerRunner(handle_sigint=False)
    capture = EnvelopeCapture(runner.bus)
    await runner.add_workers(BaseWorker("a"))
    async with running(runner):
        await runner.bus.drain()
        snapshots = capture.of_type(BusWorkerRegistryMessage)
        assert snapshots and [w.name for w in snapshots[-1].workers] == ["a"]


async def test_sigint_cancels_the_runner() -> None:
    runner = WorkerRunner(handle_sigint=True)
    await runner.add_workers(BaseWorker("w"))
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.wait_for(task, 5)
    assert runner.registry.state.workers["w"].status == "cancelled"
    assert runner.registry.state.workers["w"].stop_reason == "SIGINT received"


async def test_end_message_on_the_bus_ends_the_runner() -> None:
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(BaseWorker("w"))
    task = asyncio.create_task(runner.run(auto_end=False))
    await runner.wait_started()
    await runner.bus.send(BusEndMessage(source="someone", reason="outside"))
    await asyncio.wait_for(task, 5)
    assert runner.registry.state.workers["w"].status == "ended"


async def test_end_before_run_is_carried_out_once_run_starts_the_workers() -> None:
    """As in Pipecat: the ends go out and run() returns, instead of run() refusing."""
    runner = WorkerRunner(handle_sigint=False, event_log=None)
    worker = BaseWorker("w")
    await runner.add_workers(worker)
    capture = EnvelopeCapture(runner.bus)
    await runner.end(reason="early")
    await asyncio.wait_for(runner.run(), 5)
    ends = capture.of_type(BusEndWorkerMessage)
    assert [(m.target, m.reason) for m in ends] == [("w", "early")]
    assert runner.registry.state.workers["w"].status == "ended"


async def test_cancel_before_run_is_not_lost() -> None:
    runner = WorkerRunner(handle_sigint=False, event_log=None)
    await runner.add_workers(BaseWorker("w"))
    capture = EnvelopeCapture(runner.bus)
    await runner.cancel(reason="never mind")
    await asyncio.wait_for(runner.run(auto_end=False), 5)
    cancels = capture.of_type(BusCancelWorkerMessage)
    assert [(m.target, m.reason) for m in cancels] == [("w", "never mind")]


async def test_on_ready_runs_before_a_handoff_made_in_a_worker_s_ready_handler() -> None:
    order: list[str] = []

    class Greeter(BaseWorker):
        @worker_ready(name="agent")
        async def hand_off(self, data: WorkerReadyData) -> None:
            order.append("handoff")
            await self.activate_worker("agent")

    class Agent(BaseWorker):
        async def on_activated(self, args: object) -> None:
            order.append("activated")
            await self.end()

    runner = WorkerRunner(handle_sigint=False, event_log=None)
    runner.add_event_handler("on_ready", lambda r: order.append("on_ready"))
    await runner.add_workers(Greeter("greeter"), Agent("agent", active=False))
    await asyncio.wait_for(runner.run(), 5)
    assert order == ["on_ready", "handoff", "activated"]


async def test_a_child_added_before_run_is_started_by_run() -> None:
    runner = WorkerRunner(handle_sigint=False, event_log=None)
    parent = BaseWorker("parent")
    await runner.add_workers(parent)
    await parent.add_workers(BaseWorker("child"))
    async with running(runner):
        await until(lambda: "child" in runner.registry)


async def test_pipeline_runner_is_a_deprecated_worker_runner() -> None:
    from pipebus import PipelineRunner

    with pytest.warns(DeprecationWarning, match="Use `WorkerRunner` instead"):
        runner = PipelineRunner(handle_sigint=False, event_log=None)
    assert isinstance(runner, WorkerRunner)
    await asyncio.wait_for(runner.run(), 5)
    assert runner.phase == "done"


STUBBORN_APP = """
import asyncio, sys
from pipebus import BaseWorker, BusEndWorkerMessage, WorkerRunner

class Stubborn(BaseWorker):
    async def on_bus_message(self, message):
        if isinstance(message, BusEndWorkerMessage):
            while True:  # never lets a cancel through
                try:
                    await asyncio.sleep(0.05)
                except asyncio.CancelledError:
                    print("swallowed a cancel", flush=True)
        await super().on_bus_message(message)

async def main():
    runner = WorkerRunner(handle_sigint=False, shutdown_timeout=0.3, event_log=sys.argv[1])
    await runner.add_workers(Stubborn("stubborn"))
    runner.add_event_handler("on_ready", lambda r: r.create_task(r.end(reason="bye"), "end"))
    await runner.run()
    print("run returned", flush=True)

asyncio.run(main())
print("interpreter exiting", flush=True)
"""


async def test_a_handler_that_swallows_cancellation_is_recorded_in_order_and_the_process_exits(
    tmp_path: Path,
) -> None:
    script = tmp_path / "stubborn_app.py"
    script.write_text(textwrap.dedent(STUBBORN_APP))
    log = tmp_path / "stubborn.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(log),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # It takes seconds; a minute only tells a hang from a slow, loaded machine.
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail("the process hung: a task that swallows its cancel kept it from exiting")
    assert process.returncode == 0, err.decode()
    assert out.decode().splitlines()[-2:] == ["run returned", "interpreter exiting"]
    async with await SessionReplay.open(log, "last") as replay:
        events = await replay.events()
        status = replay.info.status
    runner = replay.info.runner
    # What happened, in the order it happened (the registry snapshot may come anywhere).
    assert [
        (e.type, e.source, e.target) for e in events if e.type != "BusWorkerRegistryMessage"
    ] == [
        ("BusWorkerReadyMessage", "stubborn", None),
        ("BusEndWorkerMessage", runner, "stubborn"),
        ("BusCancelWorkerMessage", runner, "stubborn"),
        ("BusWorkerStoppedMessage", "stubborn", None),
        ("BusHandlerErrorMessage", "stubborn", None),
    ]
    stuck = events[-1].message
    assert isinstance(stuck, BusHandlerErrorMessage)
    assert stuck.error_type == "CancelledError"
    assert "ignored its cancellation" in stuck.error
    assert "in on_bus_message" in stuck.traceback  # where it was stuck
    assert status == "ended"


async def test_a_runner_with_no_workers_refuses_sends_after_run_returns_on_redis() -> None:
    redis = Redis.from_url(need_redis())
    bus = RedisBus(redis=redis, channel=f"pipebus-test:no-workers:{os.getpid()}")
    try:
        runner = WorkerRunner(bus=bus, handle_sigint=False, event_log=None)
        await asyncio.wait_for(runner.run(), 5)  # no workers: returns at once
        for _ in range(3):
            with pytest.raises(BusError, match=r"refuses BusEndMessage from 'app'.*has finished"):
                await bus.send(BusEndMessage(source="app", reason="too late"))
        assert bus.transport_stats.pending == 0  # nothing left waiting in the outbox
        assert bus.stats.stamped == runner.bus.stats.stamped  # nothing stamped either
    finally:
        await redis.aclose()


async def test_a_finished_runner_s_bus_takes_sends_again_once_restarted() -> None:
    runner = WorkerRunner(handle_sigint=False, event_log=None)
    await runner.run()
    with pytest.raises(BusError, match="has finished"):
        await runner.bus.send(BusEndMessage(source="app"))
    await runner.bus.start()
    await runner.bus.send(BusEndMessage(source="app"))
    await runner.bus.stop()
