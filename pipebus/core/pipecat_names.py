"""Pipecat's type names (``module.Class``) mapped onto classes this process already holds.

Pipecat's JSON serializer names every tagged type by its module and class name and,
reading, imports that module. pipebus never imports a module or looks a type up
because data named it: :func:`resolve` only searches classes it already has, in order:

1. Pipecat's names for pipebus's own types (``pipecat.bus.messages.BusEndMessage`` is
   :class:`~pipebus.core.messages.BusEndMessage`);
2. pydantic models registered with a serializer or already written in this process,
   by module-qualified name;
3. the codec's allow-list (:mod:`pipebus.core.catalog`) and the given extra types
   (those with an adapter), by module-qualified name;
4. the catalog class whose wire name is the class name, so a message class defined
   in another module on the other side still resolves (wire names are unique);
5. the one extra type or known model of that class name, if exactly one.

Which classes count as pydantic models is decided without importing pydantic: if
it is not loaded, no class can be one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping

from pipebus.core import messages as _messages
from pipebus.core.catalog import CATALOG
from pipebus.core.frames import Frame, FrameDirection
from pipebus.core.messages import BusMessage
from pipebus.core.types import JobStatus, WorkerRegistryEntry

_SEED_MESSAGES = """
    BusMessage BusDataMessage BusSystemMessage BusFrameMessage BusTTSSpeakMessage
    BusActivateWorkerMessage BusDeactivateWorkerMessage BusEndMessage BusEndWorkerMessage
    BusCancelMessage BusCancelWorkerMessage BusAddWorkerMessage BusWorkerRegistryMessage
    BusWorkerReadyMessage BusWorkerErrorMessage BusWorkerLocalErrorMessage
    BusJobRequestMessage BusJobResponseMessage BusJobResponseUrgentMessage
    BusJobUpdateMessage BusJobUpdateUrgentMessage BusJobUpdateRequestMessage
    BusJobCancelMessage BusJobStreamStartMessage BusJobStreamDataMessage BusJobStreamEndMessage
""".split()

PIPECAT_NAMES: dict[type, str] = {
    **{getattr(_messages, name): f"pipecat.bus.messages.{name}" for name in _SEED_MESSAGES},
    JobStatus: "pipecat.pipeline.job_context.JobStatus",
    FrameDirection: "pipecat.processors.frame_processor.FrameDirection",
    WorkerRegistryEntry: "pipecat.registry.types.WorkerRegistryEntry",
    Frame: "pipecat.frames.frames.Frame",
}
"""Where Pipecat defines the types pipebus shares with it: the ``__type__`` it reads."""

_BY_PIPECAT_NAME = {name: cls for cls, name in PIPECAT_NAMES.items()}

_PIPECAT_ONLY_FIELDS: tuple[tuple[type, frozenset[str]], ...] = (
    (BusMessage, frozenset({"id", "name"})),
    (Frame, frozenset("pts broadcast_sibling_id transport_source transport_destination".split())),
    (Frame, frozenset({"interruptible"})),
)

_seen_models: dict[str, type] = {}
"""Pydantic models written by any serializer of this process, by module-qualified name."""


def qualified(cls: type) -> str:
    """``module.Class``: how Pipecat names a type it defines nowhere else."""
    return f"{cls.__module__}.{cls.__name__}"


def type_name(cls: type) -> str:
    """The ``__type__`` to write for ``cls``: Pipecat's name for it, if it has one."""
    return PIPECAT_NAMES.get(cls) or qualified(cls)


def is_pipecat_only_field(cls: type, field_name: str) -> bool:
    """Whether Pipecat's base of ``cls`` has a field pipebus's lacks (a message's ``id``)."""
    return any(
        issubclass(cls, base) and field_name in names for base, names in _PIPECAT_ONLY_FIELDS
    )


def is_model(cls: type) -> bool:
    """Whether ``cls`` is a pydantic model (without importing pydantic)."""
    base = getattr(sys.modules.get("pydantic"), "BaseModel", None)
    return isinstance(base, type) and issubclass(cls, base)


def remember_model(cls: type) -> None:
    """Let data name the pydantic model ``cls`` from now on: this process has written it."""
    _seen_models[qualified(cls)] = cls


def resolve(name: str, *, models: Mapping[str, type], extra: Iterable[type]) -> type | None:
    """The class ``name`` stands for among those this process holds, or None.

    Args:
        name: A ``__type__`` as Pipecat writes it (``module.Class``).
        models: Pydantic models registered by the caller, by module-qualified name.
        extra: Other types the caller accepts (those with an adapter).
    """
    cls = _BY_PIPECAT_NAME.get(name) or models.get(name) or _seen_models.get(name)
    if cls is not None:
        return cls
    short = name.rpartition(".")[2]
    entry = CATALOG.by_name(short) or CATALOG.by_name(name)
    if entry is not None and qualified(entry.cls) == name:
        return entry.cls
    extra = tuple(extra)
    for candidate in (*extra, *_catalog_classes()):
        if qualified(candidate) == name:
            return candidate
    if entry is not None:
        return entry.cls
    same = {c for c in (*extra, *models.values(), *_seen_models.values()) if c.__name__ == short}
    return same.pop() if len(same) == 1 else None


def _catalog_classes() -> Iterator[type]:
    for wire_name in CATALOG.names():
        entry = CATALOG.by_name(wire_name)
        if entry is not None:
            yield entry.cls
