"""Message types and a subscriber the Redis bus tests share."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pipebus import BusDataMessage, BusMessage, BusSubscriber, BusSystemMessage


@dataclass
class Note(BusDataMessage, wire_name="ttest.Note"):
    n: int = 0


@dataclass
class Blob(BusDataMessage, wire_name="ttest.Blob"):
    data: str = ""


@dataclass
class Alarm(BusSystemMessage, wire_name="ttest.Alarm"):
    n: int = 0


class Sink(BusSubscriber):
    """Keeps what it receives; ``await sink.has(n)`` waits for ``n`` messages."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.got: list[BusMessage] = []
        self._changed = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name

    async def on_bus_message(self, message: BusMessage) -> None:
        self.got.append(message)
        self._changed.set()

    async def has(self, count: int, timeout: float = 10.0) -> list[BusMessage]:
        async with asyncio.timeout(timeout):
            while len(self.got) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.got

    def numbers(self) -> list[int]:
        return [m.n for m in self.got if isinstance(m, (Note, Alarm))]
