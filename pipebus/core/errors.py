"""The one tree of errors pipebus raises.

::

    PipebusError
    ├── BusError                  misuse of a bus: duplicate subscriber, bus not running
    │   └── DuplicateNameError    a subscriber, worker or job id that is already taken
    ├── TransportError            a transport (Redis, ...) failed; the driver error is __cause__
    │   └── MessageTooLargeError  a message over a transport's size limit, refused by send()
    ├── CodecError
    │   ├── EncodeError           a message holds a value the codec cannot write
    │   └── DecodeError           bytes that are not a valid envelope of a registered type
    ├── EventLogError             the event log cannot be opened, read or written
    │   └── SchemaVersionError    the log was written by a newer pipebus
    ├── TracingError              tracing misconfigured, or a collector refused an export
    ├── WorkerError               a worker was used wrongly (no active job, re-parenting, ...)
    └── JobError                  a job did not complete (error, failure, cancel, timeout)
        └── JobGroupError         the same, for a group of workers

Adapters translate driver exceptions into this tree and keep the original as
``__cause__``. ``DuplicateNameError``, ``DecodeError`` and ``MessageTooLargeError`` are
also ``ValueError``s, and ``WorkerError`` is also a ``RuntimeError``, so code written
against Pipecat's built-in exception types keeps working.
"""

from __future__ import annotations

from typing import Any


class PipebusError(Exception):
    """Base of every error pipebus raises on purpose."""


class BusError(PipebusError):
    """A bus was used in a way it does not support."""


class DuplicateNameError(BusError, ValueError):
    """A name or id that must be unique is already taken."""


class TransportError(PipebusError):
    """A transport between runners failed."""


class MessageTooLargeError(TransportError, ValueError):
    """A message is larger than its transport carries: ``send()`` refused it, sent nothing.

    Attributes:
        size: How many bytes the message takes on the wire (at least).
        limit: The most the transport carries, in bytes.
    """

    def __init__(self, reason: str, *, size: int, limit: int) -> None:
        super().__init__(reason)
        self.size = size
        self.limit = limit


class CodecError(PipebusError):
    """A message could not be encoded or decoded."""


class EncodeError(CodecError, TypeError):
    """A message holds a value the codec cannot write."""


class DecodeError(CodecError, ValueError):
    """Input is not a valid envelope of a registered message type."""


class EventLogError(PipebusError):
    """The event log cannot be opened, read or written."""


class SchemaVersionError(EventLogError):
    """The event log's schema is newer than this version of pipebus."""


class TracingError(PipebusError):
    """Tracing is misconfigured, or a collector refused or could not take spans."""


class WorkerError(PipebusError, RuntimeError):
    """A worker was asked to do something its state does not allow."""


class JobError(PipebusError):
    """A job did not complete: the worker errored, failed, was cancelled or timed out.

    Attributes:
        job_id: The job's id, when the job had started.
        worker_name: The worker whose answer (or silence) ended the job, if one did.
        reason: A human-readable reason, also the text of the exception (Pipecat's
            texts: ``"worker 'w' errored"``, ``"timeout"``, ...).
        response: The answer of that worker, when it answered (an ERROR answer
            carries ``{"error": "..."}``: the handler's exception for a raising
            ``@job`` handler).
    """

    def __init__(
        self,
        reason: str,
        *,
        job_id: str | None = None,
        worker_name: str | None = None,
        response: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.job_id = job_id
        self.worker_name = worker_name
        self.response = response


class JobGroupError(JobError):
    """A job group did not complete; see :class:`JobError`."""
