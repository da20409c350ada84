"""``RedisStreamBus``: the same bus over a Redis stream, durable and resumable.

Every message is an entry of one stream per channel: ``e`` (the envelope), ``from``
(the sending runner) and, for a message targeted at a worker whose runner is known,
``to`` (that runner; the others skip the entry without decoding it). Each runner
reads from the position it last saw and stores that position in the hash
``"<channel>:positions"`` (sent with its next read, stored by Redis when that read
returns), so a runner that loses its connection, or restarts under the same name,
goes on from there without losing a message. A runner that was killed may read again
what its last two reads brought (delivered twice: at least once, never lost). A
runner with no stored position starts from ``start_from``. The stream is trimmed to
about ``maxlen`` entries; a runner away for longer than that misses what was trimmed,
and says so.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import Any

from pipebus.core.errors import TransportError
from pipebus.transports.base import RedisTransportBus
from pipebus.transports.connection import (
    AbstractConnection,
    Redis,
    checkout,
    release,
    translated,
)
from pipebus.transports.outbox import Entry
from pipebus.transports.writer import BatchScript, pack, send_packed

logger = logging.getLogger("pipebus.transports")

_ENTRY_ID = re.compile(r"\d+(-\d+)?")

APPEND_SCRIPT = """
local maxlen = ARGV[1]
local from = ARGV[2]
for i = 3, #ARGV, 2 do
  local to = ARGV[i + 1]
  if to == '' then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'e', ARGV[i], 'from', from)
  else
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'e', ARGV[i], 'from', from, 'to', to)
  end
end
return (#ARGV - 2) / 2
"""


def _append_plainly(
    keys: Sequence[str], fixed: list[Any], chunk: list[Any]
) -> list[tuple[Any, ...]]:
    maxlen, sender = fixed
    commands = []
    for i in range(0, len(chunk), 2):
        fields: tuple[Any, ...] = ("e", chunk[i], "from", sender)
        if chunk[i + 1]:
            fields += ("to", chunk[i + 1])
        commands.append(("XADD", keys[0], "MAXLEN", "~", maxlen, "*", *fields))
    return commands


def _id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class RedisStreamBus(RedisTransportBus):
    """A durable bus over a Redis stream: runners resume where they stopped.

    ::

        bus = RedisStreamBus(redis=Redis.from_url("redis://localhost:6379"), channel="my-app")

    Args:
        redis: A ``redis.asyncio.Redis`` client (the bus never closes it).
        channel: The stream every runner of the application shares.
        start_from: Where a runner with no stored position starts: ``"latest"`` (what
            is published from now on), ``"beginning"`` (the whole stream, replayed) or
            an entry id (``"1700000000000-0"``: what comes after it).
        maxlen: About how many entries the stream keeps (trimmed as it grows).
        read_count: Entries read per round trip at most.
        block_ms: How long one read waits for new entries.
        **options: ``heartbeat_interval``, ``heartbeat_timeout``, ``max_pending``,
            ``stop_timeout``, ``runner_name``, ``session_id``: see
            :class:`~pipebus.transports.transport.TransportBus`.

    Raises:
        ValueError: For a ``start_from`` that is none of the above, or a ``maxlen`` < 1.
    """

    replays_gaps = True
    gap_note = "reading resumes where it stopped: nothing published meanwhile is lost"

    def __init__(
        self,
        *,
        redis: Redis,
        channel: str = "pipebus:bus",
        start_from: str = "latest",
        maxlen: int = 100_000,
        read_count: int = 1000,
        block_ms: int = 1000,
        **options: Any,
    ) -> None:
        super().__init__(redis=redis, channel=channel, **options)
        if start_from not in ("latest", "beginning") and not _ENTRY_ID.fullmatch(start_from):
            raise ValueError(
                f"start_from must be 'latest', 'beginning' or an entry id like "
                f"'1700000000000-0', not {start_from!r}"
            )
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, not {maxlen}")
        self.start_from = start_from
        self.maxlen = maxlen
        self.positions_key = f"{channel}:positions"
        self._read_count = read_count
        self._block_ms = block_ms
        self._position = b"0-0"
        self._stored: bytes | None = None
        self._connection: AbstractConnection | None = None
        self._name_bytes = b""
        self._script = BatchScript(APPEND_SCRIPT, fixed=2, step=2, plain=_append_plainly)

    @property
    def position(self) -> str:
        """The id of the last entry this runner has read (``"0-0"``: none)."""
        return self._position.decode()

    # --- reading -------------------------------------------------------------------------

    async def _connect(self) -> None:
        self._name_bytes = self.runner_name.encode()
        async with translated(f"opening the stream {self.channel!r}"):
            stored = await self._redis.hget(self.positions_key, self.runner_name)
            if stored is not None:
                self._position = stored if isinstance(stored, bytes) else str(stored).encode()
                logger.info("%s resumes after entry %s", self, self.position)
            else:
                self._position = await self._start_position()
            await self._check_trimmed()
        self._stored = None
        self._connection = await checkout(self._redis)

    async def _start_position(self) -> bytes:
        if self.start_from == "beginning":
            return b"0-0"
        if self.start_from == "latest":
            last = await self._redis.xrevrange(self.channel, count=1)
            if not last:
                return b"0-0"
            entry_id: Any = last[0][0]
            return entry_id if isinstance(entry_id, bytes) else str(entry_id).encode()
        return self.start_from.encode()

    async def _check_trimmed(self) -> None:
        """Say so if entries after this runner's position may have been trimmed unread.

        That is when the position itself is gone from the stream (older than its first
        entry): trimming removes the oldest entries first.
        """
        if self._position == b"0-0":
            return
        try:
            first = await self._redis.xrange(self.channel, count=1)
        except Exception:  # no stream (yet): nothing was trimmed
            return
        first_id: Any = first[0][0] if first else None
        if first_id is not None and _id_tuple(first_id) > _id_tuple(self._position):
            self._counters.trim_gaps += 1
            logger.error(
                "%s: the stream no longer holds its position %s: entries after it may have "
                "been trimmed before this runner read them (it keeps about %d)",
                self,
                self.position,
                self.maxlen,
            )

    async def _reconnect(self) -> None:
        await self._release()
        async with translated("reconnecting to Redis"):
            await self._check_trimmed()
        self._stored = None
        self._connection = await checkout(self._redis)

    async def _stop_reading(self) -> None:
        await self._release()
        try:
            async with translated("storing the stream position"):
                await self._redis.hset(self.positions_key, self.runner_name, self._position)
        except TransportError as exc:
            logger.warning("%s could not store its position %s: %s", self, self.position, exc)

    async def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await release(self._redis, connection)
            except Exception:  # the connection is already broken; nothing to save
                pass

    async def _read(self) -> None:
        connection = self._connection
        if connection is None:
            raise ConnectionError("no connection to read from")
        wait = self._block_ms / 1000 + 5.0
        clock = asyncio.get_running_loop().time
        task = asyncio.current_task()
        read = ("XREAD", "COUNT", self._read_count, "BLOCK", self._block_ms, "STREAMS")
        while True:
            position = self._position
            # The position goes *after* the read in the pipeline: Redis runs it when the
            # read returns, so both answers come back together and the reader wakes once
            # per read instead of a second time for the store's own answer.
            commands: list[tuple[Any, ...]] = [(*read, self.channel, position)]
            if self._stored != position:
                commands.append(("HSET", self.positions_key, self.runner_name, position))
            await send_packed(connection, pack(commands))
            replies = []
            for _ in commands:
                asked = clock()
                reply = await connection.read_response(disable_decoding=True, timeout=wait)
                if reply is None and clock() - asked >= wait:
                    raise TransportError(f"Redis did not answer a read within {wait:.0f}s")
                replies.append(reply)
            if task is not None and task.cancelling():
                raise asyncio.CancelledError  # redis-py may return a reply that raced a cancel
            if len(commands) == 2:
                self._stored = position
            self._entries(replies[0])

    def _entries(self, reply: Any) -> None:
        if not reply:
            return
        streams = reply.items() if isinstance(reply, dict) else reply
        for _key, entries in streams:
            for entry_id, fields in entries:
                self._position = entry_id
                self._entry(fields)

    def _entry(self, fields: list[bytes]) -> None:
        data = sender = to = None
        for i in range(0, len(fields) - 1, 2):
            key = fields[i]
            if key == b"e":
                data = fields[i + 1]
            elif key == b"from":
                sender = fields[i + 1]
            elif key == b"to":
                to = fields[i + 1]
        if sender == self._name_bytes:
            self._counters.own_skipped += 1
            return
        if to is not None and to != self._name_bytes:
            self._counters.not_for_us += 1
            if sender is not None:
                self._heard(sender.decode("utf-8", "replace"))
            return
        if data is None:
            raw = repr(fields).encode()
            self._inbound.reject(raw, self.channel, "not_an_envelope", "entry has no 'e' field")
            return
        self._decoded(data, self.channel)

    # --- writing -------------------------------------------------------------------------

    async def _write(self, batch: list[Entry]) -> None:
        args: list[Any] = [self.maxlen, self.runner_name]
        append = args.append
        for to, data in batch:
            append(data)
            append(to)
        await self._script.run(self._writer, (self.channel,), args)
