"""Writing batches to Redis in one round trip: the commands packed here, sent pipelined.

The writer keeps a connection of the client's pool for itself and packs the commands
of a batch into one buffer (the Redis protocol is simple), so a message costs a few
byte joins instead of a trip through redis-py's per-command machinery. Messages go
out as a Lua script that loops over them (one command per thousand messages); a
batch of one goes out as its plain command, the lowest latency; a server that refuses
scripts gets plain commands, pipelined. Retrying is the outbox's job, not the driver's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pipebus.transports.connection import (
    AbstractConnection,
    Redis,
    ResponseError,
    checkout,
    release,
    translated,
)

logger = logging.getLogger("pipebus.transports")

MAX_CALL_MESSAGES = 1000
"""Messages per script call: a call runs on the server without interruption."""

Command = Sequence[Any]
"""One command: its name and arguments (``str``, ``bytes`` or ``int``)."""

PlainCommands = Callable[[Sequence[str], list[Any], list[Any]], list[tuple[Any, ...]]]
"""Builds the plain commands of one call: ``(keys, fixed values, message values)``."""


def _bulk(value: Any) -> bytes:
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode()
    else:
        data = str(value).encode()
    return b"$%d\r\n%b\r\n" % (len(data), data)


def pack(commands: Sequence[Command]) -> bytes:
    """The commands in the Redis protocol (RESP), one after the other."""
    parts: list[bytes] = []
    append = parts.append
    for command in commands:
        append(b"*%d\r\n" % len(command))
        for value in command:
            append(_bulk(value))
    return b"".join(parts)


async def send_packed(connection: AbstractConnection, data: bytes) -> None:
    """Write ``data`` (packed commands) on ``connection``, waiting only if its buffer is full.

    redis-py's ``send_packed_command`` runs each write under ``asyncio.wait_for`` when
    the client has a socket timeout (its default), and before Python 3.12 that makes
    the write a task of its own: two more turns of the event loop for every write, in
    every process. A write to a socket with room never has to wait, so the bytes are
    handed to the transport here directly, and only a buffer left over is waited on,
    under the client's socket timeout.

    Raises:
        ConnectionError: If the connection is closed (redis-py's, from ``connect``).
    """
    stream: Any = getattr(connection, "_writer", None)
    if stream is None or stream.transport.is_closing():
        # Not connected (yet, or any more): redis-py connects, or says why it cannot.
        await connection.send_packed_command(data, check_health=False)
        return
    stream.write(data)
    if stream.transport.get_write_buffer_size():
        async with asyncio.timeout(connection.socket_timeout):
            await stream.drain()


class Writer:
    """Sends pipelined commands on a connection of its own and reads every reply.

    Args:
        redis: The client whose pool lends the connection.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._connection: AbstractConnection | None = None

    async def call(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` in one write and return their replies, in order.

        Raises:
            TransportError: If the connection fails (it is dropped; the next call
                opens another) or Redis refuses a command (the first refusal).
        """
        connection = self._connection
        if connection is None:
            connection = self._connection = await checkout(self._redis)
        try:
            async with translated("writing to Redis"):
                await send_packed(connection, pack(commands))
                replies: list[Any] = []
                refused: ResponseError | None = None
                for _ in commands:
                    try:
                        replies.append(await connection.read_response(disable_decoding=True))
                    except ResponseError as exc:
                        refused = refused or exc
                        replies.append(exc)
                if refused is not None:
                    raise refused
        except BaseException as exc:
            if not isinstance(getattr(exc, "__cause__", None), ResponseError):
                await self.close()  # a half-read connection cannot be used again
            raise
        return replies

    async def close(self) -> None:
        """Give the connection back to the pool (closed)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await release(self._redis, connection)
            except Exception:  # the connection is already broken; nothing to save
                logger.debug("releasing a writer connection failed", exc_info=True)


class BatchScript:
    """One batch of messages as script calls, or plain commands (see the module docstring).

    Args:
        source: The script; it loops over ``ARGV`` after ``fixed`` leading arguments.
        fixed: How many leading ``ARGV`` values every call repeats.
        step: How many ``ARGV`` values one message takes.
        plain: Builds the plain commands of one call.
    """

    def __init__(self, source: str, *, fixed: int, step: int, plain: PlainCommands) -> None:
        self._source = source
        self._fixed = fixed
        self._step = step
        self._plain = plain
        self._scripts = True

    async def run(self, writer: Writer, keys: Sequence[str], args: list[Any]) -> None:
        """Write one batch (``fixed`` values, then ``step`` values per message) in one trip.

        Raises:
            TransportError: If Redis cannot be reached or refuses the write.
        """
        fixed, body = args[: self._fixed], args[self._fixed :]
        if len(body) <= self._step:
            await writer.call(self._plain(keys, fixed, body))
            return
        size = MAX_CALL_MESSAGES * self._step
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        if self._scripts:
            calls = [("EVAL", self._source, len(keys), *keys, *fixed, *chunk) for chunk in chunks]
            try:
                await writer.call(calls)
                return
            except Exception as exc:
                cause = exc.__cause__
                if not isinstance(cause, ResponseError) or not _refuses_scripts(cause):
                    raise
                logger.warning("Redis refuses Lua scripts (%s): writing plain commands", cause)
                self._scripts = False
        await writer.call([c for chunk in chunks for c in self._plain(keys, fixed, chunk)])


def _refuses_scripts(error: ResponseError) -> bool:
    text = str(error).lower()
    return "unknown command" in text or "noperm" in text or "no permissions" in text
