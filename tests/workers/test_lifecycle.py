"""Worker lifecycle: readiness, activation and handoff, children, errors, watches, events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pipebus import (
    BaseWorker,
    BusActivateWorkerMessage,
    BusDeactivateWorkerMessage,
    BusEndWorkerMessage,
    BusHandlerErrorMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerReadyMessage,
    BusWorkerStoppedMessage,
    WorkerActivationArgs,
    WorkerError,
    WorkerErrorData,
    WorkerReadyData,
    WorkerRunner,
    worker_ready,
)
from pipebus.testing import EnvelopeCapture, running


class Tracker(BaseWorker):
    """Records its lifecycle hooks in a shared journal."""

    def __init__(self, name: str, journal: list[str], **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.journal = journal
        self.ready_seen: list[str] = []
        self.failures: list[WorkerErrorData] = []

    async def on_activated(self, args: dict[str, Any] | None) -> None:
        self.journal.append(f"{self.name} activated {args}")

    async def on_deactivated(self) -> None:
        self.journal.append(f"{self.name} deactivated")

    async def on_worker_ready(self, data: WorkerReadyData) -> None:
        self.ready_seen.append(data.worker_name)

    async def on_worker_failed(self, data: WorkerErrorData) -> None:
        self.failures.append(data)

    async def stop(self) -> None:
        if not self._lifecycle.stopped:
            self.journal.append(f"{self.name} stopped")
        await super().stop()


async def test_workers_announce_ready_and_are_registered(runner: WorkerRunner) -> None:
    journal: list[str] = []
    capture = EnvelopeCapture(runner.bus)
    await runner.add_workers(Tracker("a", journal), Tracker("b", journal))
    async with running(runner):
        await runner.bus.drain()
        assert sorted(runner.registry.local_workers) == ["a", "b"]
        ready = capture.of_type(BusWorkerReadyMessage)
        assert {(m.source, m.runner, m.active) for m in ready} == {
            ("a", runner.name, True),
            ("b", runner.name, True),
        }
        assert sorted(journal) == ["a activated None", "b activated None"]


async def test_activation_args_and_handoff(runner: WorkerRunner) -> None:
    journal: list[str] = []
    first = Tracker("first", journal)
    second = Tracker("second", journal, active=False)
    await runner.add_workers(first, second)
    async with running(runner):
        await runner.bus.drain()
        assert second.active is False
        await first.activate_worker(
            "second", args=WorkerActivationArgs(metadata={"topic": "billing"}), deactivate_self=True
        )
        assert first.active is False  # at once, before the target is activated
        await runner.bus.drain()
        assert second.active is True
        assert second.activation_args == {"metadata": {"topic": "billing"}}
        assert journal[-2:] == [
            "first deactivated",
            "second activated {'metadata': {'topic': 'billing'}}",
        ]
        assert runner.registry.state.workers["second"].active is True
        assert runner.registry.state.workers["first"].active is False


async def test_an_inactive_worker_ignores_data_until_activated(runner: WorkerRunner) -> None:
    journal: list[str] = []
    idle = Tracker("idle", journal, active=False)
    seen: list[str] = []

    @idle.event_handler("on_bus_message")
    def note(worker: BaseWorker, message: Any) -> None:
        seen.append(type(message).__name__)

    await runner.add_workers(idle)
    async with running(runner):
        await runner.bus.send(BusEndWorkerMessage(source="x", target="nobody"))
        await runner.bus.send(BusActivateWorkerMessage(source="x", target="idle"))
        await runner.bus.send(BusDeactivateWorkerMessage(source="x", target="idle"))
        await runner.bus.drain()
        assert journal == ["idle activated None", "idle deactivated"]
        assert runner.bus.stats.filtered > 0  # broadcasts it refused while inactive


async def test_worker_ready_decorator_fires_now_or_later(runner: WorkerRunner) -> None:
    calls: list[tuple[str, str]] = []

    class Watcher(BaseWorker):
        @worker_ready(name="early")
        async def early_ready(self, data: WorkerReadyData) -> None:
            calls.append(("early", data.runner))

        @worker_ready(name="late")
        async def late_ready(self, data: WorkerReadyData) -> None:
            calls.append(("late", data.runner))

    await runner.add_workers(BaseWorker("early"))
    async with running(runner):
        await runner.bus.drain()
        await runner.add_workers(Watcher("watcher"))
        await runner.bus.drain()
        assert calls == [("early", runner.name)]
        await runner.add_workers(BaseWorker("late"))
        await runner.bus.drain()
        await asyncio.sleep(0)
        assert calls == [("early", runner.name), ("late", runner.name)]


async def test_duplicate_worker_ready_handlers_are_refused() -> None:
    class Twice(BaseWorker):
        @worker_ready(name="x")
        async def one(self, data: WorkerReadyData) -> None: ...

        @worker_ready(name="x")
        async def two(self, data: WorkerReadyData) -> None: ...

    with pytest.raises(ValueError, match="two @worker_ready handlers for 'x'"):
        Twice("twice")


async def test_children_are_started_watched_and_ended_before_their_parent(
    runner: WorkerRunner,
) -> None:
    journal: list[str] = []
    parent = Tracker("parent", journal)
    await runner.add_workers(parent)
    async with running(runner):
        await runner.bus.drain()
        await parent.add_workers(Tracker("kid1", journal), Tracker("kid2", journal))
        await runner.bus.drain()
        await asyncio.sleep(0)
        assert sorted(parent.ready_seen) == ["kid1", "kid2"]
        assert runner.registry.state.workers["kid1"].parent == "parent"
        await runner.end(reason="done")
    stops = [line for line in journal if line.endswith("stopped")]
    assert stops[-1] == "parent stopped"
    assert sorted(stops[:2]) == ["kid1 stopped", "kid2 stopped"]
    assert {w.status for w in runner.registry.state.workers.values()} == {"ended"}


async def test_cancel_propagates_to_children(runner: WorkerRunner) -> None:
    journal: list[str] = []
    parent = Tracker("parent", journal)
    kid = Tracker("kid", journal)
    await runner.add_workers(parent)
    async with running(runner):
        await parent.add_workers(kid)
        await runner.bus.drain()
        await runner.cancel(reason="abort")
    assert runner.registry.state.workers["kid"].status == "cancelled"
    assert runner.registry.state.workers["parent"].status == "cancelled"


async def test_a_worker_cannot_have_two_parents(runner: WorkerRunner) -> None:
    journal: list[str] = []
    a, b, kid = Tracker("a", journal), Tracker("b", journal), Tracker("kid", journal)
    await runner.add_workers(a, b)
    async with running(runner):
        await a.add_workers(kid)
        with pytest.raises(WorkerError, match="already has parent 'a'"):
            await b.add_workers(kid)


async def test_child_errors_stay_local_root_errors_go_out(runner: WorkerRunner) -> None:
    journal: list[str] = []
    parent = Tracker("parent", journal)
    kid = Tracker("kid", journal)
    capture = EnvelopeCapture(runner.bus)
    await runner.add_workers(parent)
    async with running(runner):
        await parent.add_workers(kid)
        await runner.bus.drain()
        await kid.send_bus_error_message("kid broke")
        await parent.send_bus_error_message("parent broke")
        await runner.bus.drain()
        assert parent.failures == [WorkerErrorData(worker_name="kid", error="kid broke")]
        assert [m.error for m in capture.of_type(BusWorkerLocalErrorMessage)] == ["kid broke"]
        assert [m.error for m in capture.of_type(BusWorkerErrorMessage)] == ["parent broke"]
        assert runner.registry.state.workers["kid"].last_error == "kid broke"


async def test_a_failing_event_handler_or_watcher_does_not_stop_the_others(
    runner: WorkerRunner,
) -> None:
    journal: list[str] = []
    watcher = Tracker("watcher", journal)
    calls: list[str] = []
    finished = asyncio.Event()

    @watcher.event_handler("on_worker_ready")
    def broken(worker: BaseWorker, data: WorkerReadyData) -> None:
        raise RuntimeError("handler one broke")

    @watcher.event_handler("on_worker_ready")
    def fine(worker: BaseWorker, data: WorkerReadyData) -> None:
        calls.append(data.worker_name)
        finished.set()

    async def broken_watch(data: WorkerReadyData) -> None:
        raise RuntimeError("watch broke")

    async def fine_watch(data: WorkerReadyData) -> None:
        calls.append(f"watch {data.worker_name}")

    capture = EnvelopeCapture(runner.bus)
    await runner.add_workers(watcher)
    async with running(runner):
        await runner.registry.watch("target", broken_watch)
        await runner.registry.watch("target", fine_watch)
        await watcher.watch_workers("target")
        await runner.add_workers(BaseWorker("target"))
        await finished.wait()
        for _ in range(3):
            await asyncio.sleep(0)
        assert sorted(calls) == ["target", "watch target"]
        failures = {(m.source, m.handler, m.error) for m in capture.of_type(BusHandlerErrorMessage)}
        assert ("watcher", "event:on_worker_ready", "handler one broke") in failures
        assert any(
            handler == "watch:target" and error == "watch broke" for _, handler, error in failures
        )


async def test_unknown_event_names_are_refused() -> None:
    with pytest.raises(ValueError, match="no event 'on_jbo_completed'"):
        BaseWorker("w").add_event_handler("on_jbo_completed", lambda worker: None)


async def test_the_registry_forgets_a_stopped_worker(runner: WorkerRunner) -> None:
    journal: list[str] = []
    worker = Tracker("w", journal)
    capture = EnvelopeCapture(runner.bus)
    await runner.add_workers(worker, Tracker("other", journal))
    async with running(runner):
        await runner.bus.drain()
        assert "w" in runner.registry
        await worker.stop()
        assert "w" not in runner.registry
        assert runner.registry.get("w") is None
        assert runner.registry.state.workers["w"].status == "stopped"
        assert [m.source for m in capture.of_type(BusWorkerStoppedMessage)] == ["w"]


async def test_using_a_worker_before_attach_is_a_clear_error() -> None:
    with pytest.raises(WorkerError, match="attach"):
        await BaseWorker("loose").send_bus_message(BusEndWorkerMessage(source="x"))
