"""One job group worth tracing: updates, a stream, one worker that fails.

A coordinator, once its three workers are ready, sends them job ``answer`` as one
group (``cancel_on_error=False``, so every worker answers): ``progress`` reports
twice and answers, ``streamer`` streams two chunks, ``broken`` raises. Then the
coordinator ends the session.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipebus import BaseWorker, BusJobRequestMessage, WorkerRunner
from pipebus.core.errors import JobGroupError
from pipebus.core.types import WorkerReadyData
from pipebus.workers.decorators import job, worker_ready

TEAM = ("progress", "streamer", "broken")


class Progress(BaseWorker):
    @job(name="answer")
    async def answer(self, message: BusJobRequestMessage) -> None:
        for percent in (50, 100):
            await asyncio.sleep(0.002)
            await self.send_job_update(message.job_id, {"progress": percent})
        await self.send_job_response(message.job_id, {"facts": 1})


class Streamer(BaseWorker):
    @job(name="answer")
    async def answer(self, message: BusJobRequestMessage) -> None:
        await self.send_job_stream_start(message.job_id, {"format": "text"})
        for word in ("one", "two"):
            await asyncio.sleep(0.002)
            await self.send_job_stream_data(message.job_id, {"text": word})
        await self.send_job_stream_end(message.job_id, {"words": 2})


class Broken(BaseWorker):
    @job(name="answer")
    async def answer(self, message: BusJobRequestMessage) -> None:
        await asyncio.sleep(0.001)
        raise RuntimeError("the model is down")


class Coordinator(BaseWorker):
    def __init__(self) -> None:
        super().__init__("coordinator")
        self.ready: set[str] = set()
        self.outcome: Any = None

    @worker_ready(name="progress")
    async def on_progress(self, data: WorkerReadyData) -> None:
        await self._member_ready(data)

    @worker_ready(name="streamer")
    async def on_streamer(self, data: WorkerReadyData) -> None:
        await self._member_ready(data)

    @worker_ready(name="broken")
    async def on_broken(self, data: WorkerReadyData) -> None:
        await self._member_ready(data)

    async def _member_ready(self, data: WorkerReadyData) -> None:
        self.ready.add(data.worker_name)
        if self.ready == set(TEAM):
            self.create_task(self._ask(), "ask")

    async def _ask(self) -> None:
        try:
            async with self.job_group(*TEAM, name="answer", cancel_on_error=False) as group:
                async for _event in group:
                    pass
            self.outcome = group.responses
        except JobGroupError as exc:
            self.outcome = exc
        await self.end(reason="asked")


async def run_scenario(**runner_options: Any) -> WorkerRunner:
    """Run the scenario on a new runner built with ``runner_options``; returns it."""
    runner = WorkerRunner(handle_sigint=False, shutdown_timeout=2.0, **runner_options)
    await runner.add_workers(
        Coordinator(), Progress("progress"), Streamer("streamer"), Broken("broken")
    )
    await asyncio.wait_for(runner.run(), 10)
    return runner
