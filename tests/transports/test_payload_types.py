"""Over Redis a job's payload keeps its types both ways, live and in each runner's replay."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipebus import BaseWorker, BusJobRequestMessage, EncodeError, WorkerRunner
from pipebus.replay import SessionReplay
from pipebus.testing import running, until
from pipebus.transports.base import RedisTransportBus
from tests.bus.test_payload_types import (
    Foo,
    Keeper,
    Sink,
    assert_replay_keeps_the_types,
    rich_payload,
)
from tests.core.test_payload_values import assert_same


async def test_a_jobs_payload_crosses_redis_and_replays_with_its_types(
    make_bus: Callable[..., RedisTransportBus], tmp_path: Path
) -> None:
    asking = WorkerRunner(
        name="a", bus=make_bus("a"), handle_sigint=False, event_log=tmp_path / "a.db"
    )
    serving = WorkerRunner(
        name="b", bus=make_bus("b"), handle_sigint=False, event_log=tmp_path / "b.db"
    )
    asker, keeper = BaseWorker("asker"), Keeper("keeper")
    await asking.add_workers(asker)
    await serving.add_workers(keeper)
    async with running(serving), running(asking):
        await until(lambda: "keeper" in asking.registry, timeout=10)
        async with asker.job("keeper", payload=rich_payload(), timeout=10) as job:
            pass
    assert_same(keeper.payloads, [rich_payload()])  # decoded from what crossed Redis
    assert_same(job.response, {"echo": rich_payload()})  # and back
    await assert_replay_keeps_the_types(tmp_path / "a.db", asking.session_id)
    await assert_replay_keeps_the_types(tmp_path / "b.db", serving.session_id)
    async with await SessionReplay.open(tmp_path / "b.db", serving.session_id) as replay:
        (request,) = await replay.events(types=["BusJobRequestMessage"])
        assert request.remote and request.runner == "a"  # it did cross Redis


async def test_send_refuses_what_cannot_cross_even_for_a_target_on_this_runner(
    make_bus: Callable[..., RedisTransportBus],
) -> None:
    bus = make_bus("a")
    sink = Sink("sink")
    await bus.subscribe(sink)
    await bus.start()
    bad = BusJobRequestMessage(source="x", target="sink", job_id="j", payload={"x": {Foo()}})
    with pytest.raises(
        EncodeError, match=r"^BusJobRequestMessage: payload\['x'\]\[0\]: cannot encode"
    ):
        await bus.send(bad)
    good = BusJobRequestMessage(source="x", target="sink", job_id="j", payload=rich_payload())
    await bus.send(good)
    await bus.drain()
    assert bus.stats.stamped == 1
    assert sink.got == [good]
