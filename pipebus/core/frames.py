"""A small ``Frame`` base and ``FrameDirection``, what ``BusFrameMessage`` carries.

pipebus does not ship a media pipeline. A frame here is any dataclass that
subclasses :class:`Frame`; it registers with the codec when the class is defined,
so frames travel through the event log and over Redis like any message field.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from pipebus.core.catalog import CATALOG, register_type

_frame_ids = itertools.count(1)


@register_type
class FrameDirection(Enum):
    """Which way a frame travels through the recipient's pipeline."""

    DOWNSTREAM = 1
    UPSTREAM = 2


@dataclass
class Frame:
    """Base of every frame.

    ``id`` and ``name`` are set at construction (not ``__init__`` arguments), so
    subclasses can declare fields without defaults.

    Attributes:
        id: Unique within the process that created the frame.
        name: ``"<ClassName>#<id>"``, for logs.
        metadata: Free-form data attached to the frame.
    """

    id: int = field(init=False, compare=False)
    name: str = field(init=False, compare=False)
    metadata: dict[str, Any] = field(init=False, default_factory=dict)

    _wire_name: ClassVar[str | None] = None

    def __init_subclass__(
        cls, *, wire_name: str | None = None, aliases: tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        CATALOG.register(cls, wire_name=wire_name, aliases=aliases, kind="value")

    def __post_init__(self) -> None:
        self.id = next(_frame_ids)
        self.name = f"{type(self).__name__}#{self.id}"

    def __str__(self) -> str:
        return self.name


CATALOG.register(Frame, kind="value")
