"""The worker registry as a pure fold: ``apply(state, envelope) -> state``.

Which workers exist, on which runner, under which parent, active or not, and how
they ended. The live ``WorkerRegistry`` folds the envelopes its bus stamps; a replay
folds the same envelopes read back from the event log, with this same code.

State values are ``NamedTuple``s, immutable and cheap to build (see ``jobs``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from immutables import Map

from pipebus.core.envelope import Envelope
from pipebus.core.messages import (
    BusActivateWorkerMessage,
    BusDeactivateWorkerMessage,
    BusWorkerErrorMessage,
    BusWorkerLocalErrorMessage,
    BusWorkerReadyMessage,
    BusWorkerRegistryMessage,
    BusWorkerStoppedMessage,
)

READY = "ready"
"""Status of a worker that is registered and running."""

STOPPED_WORKERS_KEPT = 256
"""How many stopped workers the state remembers (oldest forgotten first)."""


class WorkerInfo(NamedTuple):
    """What the registry knows about one worker.

    Attributes:
        name: The worker's name.
        runner: The runner that manages it.
        parent: Its parent worker, or None for a root worker.
        status: ``"ready"`` while it runs, then how it stopped: ``"ended"``,
            ``"cancelled"``, ``"failed"``, ``"stopped"`` or ``"lost"``.
        active: Whether it is active (as last requested or announced).
        bridged: Whether it receives pipeline frames from the bus.
        started_at: Unix time at which it became ready.
        errors: How many errors it reported.
        last_error: The last error it reported.
        stop_reason: Why it stopped, when known.
    """

    name: str
    runner: str
    parent: str | None = None
    status: str = READY
    active: bool = False
    bridged: bool = False
    started_at: float | None = None
    errors: int = 0
    last_error: str | None = None
    stop_reason: str | None = None

    @property
    def ready(self) -> bool:
        """Whether the worker is registered and running."""
        return self.status == READY


class RegistryState(NamedTuple):
    """Every known worker, by name, plus the order in which workers stopped."""

    workers: Map[str, WorkerInfo] = Map()
    stopped: tuple[str, ...] = ()

    def ready(self, name: str) -> WorkerInfo | None:
        """The worker called ``name`` if it is registered and running."""
        info = self.workers.get(name)
        return info if info is not None and info.ready else None

    def children_of(self, parent: str | None) -> list[WorkerInfo]:
        """Workers whose parent is ``parent`` (None: the root workers), by name."""
        return sorted(
            (w for w in self.workers.values() if w.parent == parent), key=lambda w: w.name
        )


def _put(state: RegistryState, info: WorkerInfo) -> RegistryState:
    stopped = state.stopped
    if info.name in stopped:
        stopped = tuple(n for n in stopped if n != info.name)
    return RegistryState(state.workers.set(info.name, info), stopped)


def _ready(state: RegistryState, envelope: Envelope) -> RegistryState:
    message = envelope.message
    assert isinstance(message, BusWorkerReadyMessage)
    known = state.workers.get(message.source)
    info = WorkerInfo(
        name=message.source,
        runner=message.runner,
        parent=message.parent,
        active=message.active,
        bridged=message.bridged,
        started_at=message.started_at,
        errors=known.errors if known is not None else 0,
        last_error=known.last_error if known is not None else None,
    )
    return _put(state, info)


def _snapshot(state: RegistryState, envelope: Envelope) -> RegistryState:
    message = envelope.message
    assert isinstance(message, BusWorkerRegistryMessage)
    for entry in message.workers:
        known = state.workers.get(entry.name)
        if known is not None and known.ready and known.runner == message.runner:
            continue
        state = _put(
            state,
            WorkerInfo(
                name=entry.name,
                runner=message.runner,
                parent=entry.parent,
                active=entry.active,
                bridged=entry.bridged,
                started_at=entry.started_at,
            ),
        )
    return state


def _stopped(state: RegistryState, envelope: Envelope) -> RegistryState:
    message = envelope.message
    assert isinstance(message, BusWorkerStoppedMessage)
    known = state.workers.get(message.source)
    if known is None:
        known = WorkerInfo(name=message.source, runner=message.runner)
    info = WorkerInfo(
        name=known.name,
        runner=known.runner,
        parent=known.parent,
        status=message.status,
        active=False,
        bridged=known.bridged,
        started_at=known.started_at,
        errors=known.errors,
        last_error=known.last_error,
        stop_reason=message.reason,
    )
    stopped = (*(n for n in state.stopped if n != info.name), info.name)
    workers = state.workers.set(info.name, info)
    while len(stopped) > STOPPED_WORKERS_KEPT:
        workers = workers.delete(stopped[0])
        stopped = stopped[1:]
    return RegistryState(workers, stopped)


def _set_active(active: bool) -> Callable[[RegistryState, Envelope], RegistryState]:
    def apply_activation(state: RegistryState, envelope: Envelope) -> RegistryState:
        target = envelope.message.target
        known = state.workers.get(target) if target is not None else None
        if known is None or not known.ready or known.active == active:
            return state
        return _put(state, known._replace(active=active))

    return apply_activation


def _error(state: RegistryState, envelope: Envelope) -> RegistryState:
    message = envelope.message
    assert isinstance(message, (BusWorkerErrorMessage, BusWorkerLocalErrorMessage))
    known = state.workers.get(message.source)
    if known is None:
        return state
    return _put(state, known._replace(errors=known.errors + 1, last_error=message.error))


_HANDLERS: dict[type, Callable[[RegistryState, Envelope], RegistryState]] = {
    BusWorkerReadyMessage: _ready,
    BusWorkerRegistryMessage: _snapshot,
    BusWorkerStoppedMessage: _stopped,
    BusActivateWorkerMessage: _set_active(True),
    BusDeactivateWorkerMessage: _set_active(False),
    BusWorkerErrorMessage: _error,
    BusWorkerLocalErrorMessage: _error,
}


def apply(state: RegistryState, envelope: Envelope) -> RegistryState:
    """Fold one envelope into the registry state (unchanged state for other messages)."""
    handler = _HANDLERS.get(type(envelope.message))
    if handler is None:
        return state
    return handler(state, envelope)


MESSAGE_TYPES: tuple[type, ...] = tuple(_HANDLERS)
"""The message types this fold reads; every other envelope leaves the state as it is."""

EMPTY = RegistryState()
"""The registry before any event."""
