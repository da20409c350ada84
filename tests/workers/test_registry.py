"""WorkerRegistry's hand-registration behaves as Pipecat's: handlers run, the object stays."""

from __future__ import annotations

from pipebus import WorkerReadyData, WorkerRegistry


async def test_register_returns_once_the_watch_handlers_have_run() -> None:
    registry = WorkerRegistry(runner_name="here")
    seen: list[str] = []

    async def handler(data: WorkerReadyData) -> None:
        seen.append(data.worker_name)

    await registry.watch("w", handler)
    assert await registry.register(WorkerReadyData(worker_name="w", runner="here"))
    assert seen == ["w"]
    assert not await registry.register(WorkerReadyData(worker_name="w", runner="here"))
    assert seen == ["w"]


async def test_get_returns_the_registered_object_itself() -> None:
    registry = WorkerRegistry(runner_name="here")
    data = WorkerReadyData(worker_name="w", runner="elsewhere")
    await registry.register(data)
    assert registry.get("w") is data
    assert registry.get("w") is registry.get("w")
    assert registry.remote_workers == ["w"] and registry.local_workers == []


async def test_a_failing_watch_handler_is_reported_and_the_others_still_run() -> None:
    registry = WorkerRegistry(runner_name="here")
    reported: list[tuple[str, str, str]] = []
    registry.set_error_reporter(
        lambda owner, what, error: reported.append((owner, what, str(error)))
    )
    seen: list[str] = []

    async def failing(data: WorkerReadyData) -> None:
        raise ValueError("nope")

    async def fine(data: WorkerReadyData) -> None:
        seen.append(data.worker_name)

    await registry.watch("w", failing)
    await registry.watch("w", fine)
    await registry.register(WorkerReadyData(worker_name="w", runner="here"))
    assert seen == ["w"]
    assert reported == [("here", "watch:w", "nope")]
