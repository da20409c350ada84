"""The public API: the seed's names, exported once from ``pipebus``, sorted."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pipebus
from pipebus import BusDataMessage, BusJobRequestMessage, BusSystemMessage, JobStatus

SEED_NAMES = {
    "AsyncQueueBus",
    "BaseWorker",
    "BusActivateWorkerMessage",
    "BusAddWorkerMessage",
    "BusCancelMessage",
    "BusCancelWorkerMessage",
    "BusDataMessage",
    "BusDeactivateWorkerMessage",
    "BusEndMessage",
    "BusEndWorkerMessage",
    "BusFrameMessage",
    "BusJobCancelMessage",
    "BusJobRequestMessage",
    "BusJobResponseMessage",
    "BusJobResponseUrgentMessage",
    "BusJobStreamDataMessage",
    "BusJobStreamEndMessage",
    "BusJobStreamStartMessage",
    "BusJobUpdateMessage",
    "BusJobUpdateRequestMessage",
    "BusJobUpdateUrgentMessage",
    "BusLocalMessage",
    "BusMessage",
    "BusSubscriber",
    "BusSubscription",
    "BusSystemMessage",
    "BusTTSSpeakMessage",
    "BusWorkerErrorMessage",
    "BusWorkerLocalErrorMessage",
    "BusWorkerReadyMessage",
    "BusWorkerRegistryMessage",
    "Frame",
    "FrameDirection",
    "JobError",
    "JobEvent",
    "JobGroup",
    "JobGroupError",
    "JobGroupEvent",
    "JobGroupParams",
    "JobGroupResponse",
    "JobParams",
    "JobStatus",
    "WorkerActivationArgs",
    "WorkerBus",
    "WorkerErrorData",
    "WorkerParams",
    "WorkerReadyData",
    "WorkerRegistry",
    "WorkerRegistryEntry",
    "WorkerRunner",
    "job",
    "worker_ready",
}


def test_every_seed_name_is_exported() -> None:
    assert SEED_NAMES <= set(pipebus.__all__)


def test_all_is_sorted_unique_and_importable() -> None:
    assert pipebus.__all__ == sorted(set(pipebus.__all__))
    for name in pipebus.__all__:
        assert hasattr(pipebus, name), name


def test_message_fields_defaults_and_priorities_follow_the_seed() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(BusJobRequestMessage)}
    assert fields == {
        "source": dataclasses.MISSING,
        "target": None,
        "job_id": dataclasses.MISSING,
        "job_name": None,
        "payload": None,
    }
    assert issubclass(pipebus.BusJobResponseUrgentMessage, BusSystemMessage)
    assert issubclass(pipebus.BusActivateWorkerMessage, BusDataMessage)
    assert issubclass(pipebus.BusAddWorkerMessage, pipebus.BusLocalMessage)
    assert issubclass(pipebus.BusWorkerLocalErrorMessage, pipebus.BusLocalMessage)
    assert JobStatus.COMPLETED == "completed"


def test_str_of_a_message_is_as_documented() -> None:
    message = BusJobRequestMessage(source="a", target="b", job_id="j")
    assert str(message) == "BusJobRequestMessage (source=a, target=b)"


def test_importing_pipebus_loads_no_heavy_optional_module() -> None:
    heavy = ("redis", "asyncpg", "opentelemetry.exporter", "textual", "sqlalchemy")
    code = f"import sys, pipebus; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
