"""Frames between workers, stop_when_done, outside cancellation of job groups."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pipebus import (
    BaseWorker,
    BusFrameMessage,
    BusJobRequestMessage,
    BusMessage,
    Frame,
    FrameDirection,
    JobGroupParams,
    WorkerRunner,
)
from pipebus.testing import running, until


@dataclass
class TextFrame(Frame):
    text: str


class Listener(BaseWorker):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.frames: list[tuple[str, FrameDirection]] = []

    async def on_bus_message(self, message: BusMessage) -> None:
        await super().on_bus_message(message)
        if isinstance(message, BusFrameMessage) and isinstance(message.frame, TextFrame):
            self.frames.append((message.frame.text, message.direction))


async def test_frames_travel_between_workers(runner: WorkerRunner) -> None:
    speaker, listener = BaseWorker("speaker"), Listener("listener")
    await runner.add_workers(speaker, listener)
    async with running(runner):
        frame = TextFrame("hello")
        assert frame.name.startswith("TextFrame#")
        await speaker.send_bus_message(
            BusFrameMessage(
                source="speaker", target="listener", frame=frame, direction=FrameDirection.UPSTREAM
            )
        )
        await runner.bus.drain()
        assert listener.frames == [("hello", FrameDirection.UPSTREAM)]


async def test_stop_when_done_ends_root_workers_after_their_queued_work() -> None:
    runner = WorkerRunner(handle_sigint=False)
    listener = Listener("listener")
    await runner.add_workers(listener)
    task = asyncio.create_task(runner.run())
    await runner.wait_started()
    await runner.bus.send(
        BusFrameMessage(source="x", frame=TextFrame("last"), direction=FrameDirection.DOWNSTREAM)
    )
    await runner.stop_when_done()
    await asyncio.wait_for(task, 5)
    assert listener.frames == [("last", FrameDirection.DOWNSTREAM)]
    assert runner.registry.state.workers["listener"].status == "ended"


async def test_outside_cancellation_respects_cancellable(runner: WorkerRunner) -> None:
    class Slow(BaseWorker):
        async def on_job_request(self, message: BusJobRequestMessage) -> None:
            await asyncio.sleep(3600)

    requester = BaseWorker("req")
    slow = Slow("slow")
    await runner.add_workers(requester, slow)
    async with running(runner):
        locked = await requester.create_job_group_and_request_job(
            ["slow"], params=JobGroupParams(cancellable=False, label="billing run")
        )
        open_group = await requester.create_job_group_and_request_job(["slow"])
        await until(lambda: len(slow.active_jobs) == 2)
        assert await requester.request_cancel_job_group(locked.job_id) is False
        assert await requester.request_cancel_job_group(open_group.job_id, reason="user") is True
        assert open_group.status == "cancelled" and not locked.is_done
        assert await requester.request_cancel_job_group("no-such-job") is False
