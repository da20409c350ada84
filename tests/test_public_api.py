"""The public API: a few entry points, each exporting what it says, once, sorted."""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys

import pytest

import pipebus
from pipebus import BusDataMessage, BusJobRequestMessage, BusSystemMessage, JobStatus

PIPECAT_NAMES = {
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


PIPECAT_EXTRAS = {
    "BackendMessage",
    "DirectPgmqBackend",
    "IsolatedPgmqBackend",
    "JSONMessageSerializer",
    "JobContext",
    "JobGroupContext",
    "MessageSerializer",
    "PgmqBackend",
    "PgmqBus",
    "PipelineRunner",
    "RedisBus",
    "TaskManager",
    "TaskManagerParams",
    "TypeAdapter",
}
"""Pipecat names beyond its documented worker-bus API that its own tests import."""

PIPEBUS_MESSAGES = {
    "BusDecodeErrorMessage",
    "BusHandlerErrorMessage",
    "BusJobGroupFinishedMessage",
    "BusLoopBlockedMessage",
    "BusRecordOnly",
    "BusRunnerHeartbeatMessage",
    "BusRunnerLeftMessage",
    "BusSpansLostMessage",
    "BusTracingStartedMessage",
    "BusTransportGapMessage",
    "BusWorkerStoppedMessage",
}
ERRORS = {
    "BusError",
    "CodecError",
    "DecodeError",
    "DuplicateNameError",
    "EncodeError",
    "EventLogError",
    "MessageTooLargeError",
    "PipebusError",
    "SchemaVersionError",
    "TransportError",
    "WorkerError",
}

ENTRY_POINTS = {
    "pipebus": PIPECAT_NAMES
    | PIPECAT_EXTRAS
    | PIPEBUS_MESSAGES
    | ERRORS
    | {"__version__", "register_type"},
    "pipebus.observability": {
        "ActiveDelivery",
        "BusStats",
        "BusTap",
        "DeliveryTap",
        "Envelope",
        "EventLog",
        "ExportResult",
        "LiveJobs",
        "NotRecorded",
        "SessionReplay",
        "TracingSettings",
        "configure",
        "export_session",
    },
    "pipebus.transports": {
        "BusNetwork",
        "NetworkBus",
        "PgmqBus",
        "RedisBus",
        "RedisStreamBus",
        "SerializedPgmqBus",
        "SerializedRedisBus",
        "TransportStats",
    },
    "pipebus.testing": {"EnvelopeCapture", "running", "until"},
}


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_each_entry_point_exports_exactly_its_names_sorted_and_importable(
    entry_point: str,
) -> None:
    module = importlib.import_module(entry_point)
    assert set(module.__all__) == ENTRY_POINTS[entry_point]
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_no_name_is_exported_by_two_entry_points() -> None:
    seen: dict[str, str] = {}
    for entry_point, names in ENTRY_POINTS.items():
        for name in names - {"PgmqBus", "RedisBus"}:  # Pipecat's names, and network buses
            assert name not in seen, f"{name} in {seen.get(name)} and {entry_point}"
            seen[name] = entry_point


def test_an_unknown_name_is_a_clear_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NotAName"):
        pipebus.NotAName  # type: ignore[attr-defined]  # noqa: B018


def test_message_fields_defaults_and_priorities_follow_pipecat() -> None:
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
    code = (
        "import sys, pipebus, pipebus.observability, pipebus.transports; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
