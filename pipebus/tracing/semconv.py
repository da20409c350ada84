"""Attribute names of pipebus spans: the OpenTelemetry messaging conventions, and ours.

The messaging names follow the OpenTelemetry semantic conventions for messaging
spans; the ``pipebus.*`` names say what those conventions have no word for.
"""

from __future__ import annotations

SYSTEM = "messaging.system"
"""Always ``"pipebus"``."""
OPERATION_NAME = "messaging.operation.name"
"""``"send"`` or ``"process"``."""
OPERATION_TYPE = "messaging.operation.type"
"""``"send"`` or ``"process"`` (the convention's well-known values)."""
DESTINATION = "messaging.destination.name"
"""The target worker, or the bus channel for a broadcast."""
MESSAGE_ID = "messaging.message.id"
"""The message id (unique across runners and sessions)."""
CONVERSATION_ID = "messaging.message.conversation_id"
"""The job id, on messages of a job."""
ERROR_TYPE = "error.type"
"""The exception class of a failed handler, or the verdict of a failed job."""
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"

PIPEBUS_SOURCE = "pipebus.source"
"""The worker (or runner) that sent the message."""
PIPEBUS_PRIORITY = "pipebus.priority"
"""``"system"`` (handled ahead of data) or ``"data"``."""
PIPEBUS_SESSION = "pipebus.session.id"
"""The recording session."""
PIPEBUS_TYPE = "pipebus.message.type"
"""The message's class name."""
CONSUMER_GROUP = "messaging.consumer.group.name"
"""The subscriber a delivery went to (each subscriber gets every message it is sent:
in the conventions' terms, a consumer group of its own)."""
PIPEBUS_TIMING = "pipebus.timing"
"""On a delivery exported without a recorded timing: ``"inferred"`` (from what its
handler sent, up to the last of it), or ``"unknown"`` (a targeted message whose handler
sent nothing: a span of no length at the send)."""
PIPEBUS_JOB_NAME = "pipebus.job.name"
"""The job's name (``job_name`` of its requests)."""
PIPEBUS_JOB_WORKERS = "pipebus.job.workers"
"""The workers a job group was sent to."""
PIPEBUS_JOB_STATUS = "pipebus.job.status"
"""How a job group ended: ``completed``, ``failed``, ``cancelled`` or ``timeout``."""
