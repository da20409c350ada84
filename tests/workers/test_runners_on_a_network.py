"""Several runners on one network: registry snapshots, remote jobs, remote stops."""

from __future__ import annotations

import pytest

from pipebus import BaseWorker, BusJobRequestMessage, JobError, WorkerRunner
from pipebus.testing import EnvelopeCapture, running, until
from pipebus.transports import BusNetwork


class Echo(BaseWorker):
    async def on_job_request(self, message: BusJobRequestMessage) -> None:
        await self.send_job_response(
            message.job_id, {"from": self.name, "payload": message.payload}
        )


async def test_runners_learn_each_others_workers_and_run_jobs_across() -> None:
    network = BusNetwork()
    first = WorkerRunner(name="first", bus=network.bus(), handle_sigint=False)
    second = WorkerRunner(name="second", bus=network.bus(), handle_sigint=False)
    asker = BaseWorker("asker")
    await first.add_workers(asker)
    await second.add_workers(Echo("echo"))
    seen_by_second = EnvelopeCapture(second.bus)
    async with running(second), running(first):
        await until(lambda: "echo" in first.registry and "asker" in second.registry)
        assert first.registry.remote_workers == ["echo"]
        assert second.registry.remote_workers == ["asker"]
        async with asker.job("echo", payload={"q": 1}, timeout=5) as t:
            pass
        assert t.response == {"from": "echo", "payload": {"q": 1}}
        remote = [e for e in seen_by_second.envelopes if e.remote]
        assert remote and all(e.runner == "first" for e in remote)
        # The second runner numbers what it received in its own sequence.
        assert [e.seq for e in seen_by_second.envelopes] == list(
            range(1, len(seen_by_second.envelopes) + 1)
        )


async def test_a_job_to_a_worker_that_stops_on_another_runner_fails_fast() -> None:
    network = BusNetwork()
    first = WorkerRunner(name="first", bus=network.bus(), handle_sigint=False)
    second = WorkerRunner(name="second", bus=network.bus(), handle_sigint=False)
    asker = BaseWorker("asker")
    echo = Echo("echo")
    await first.add_workers(asker)
    await second.add_workers(echo)
    async with running(second), running(first):
        await until(lambda: "echo" in first.registry)
        await echo.stop()
        await until(lambda: "echo" not in first.registry)
        with pytest.raises(JobError, match="'echo' on runner 'second' has stopped"):
            async with asker.job("echo", timeout=30):
                pass
