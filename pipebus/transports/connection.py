"""What the Redis buses need from redis-py: the import, connections and errors.

The transports import ``redis`` through this module, which loads when a Redis bus is
first used, never at ``import pipebus``. Driver exceptions become
:class:`~pipebus.core.errors.TransportError` (the original is the ``__cause__``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pipebus.core.errors import TransportError

try:
    from redis import exceptions as redis_errors
    from redis.asyncio import Redis as Redis
    from redis.asyncio.connection import AbstractConnection as AbstractConnection
except ModuleNotFoundError as exc:  # pragma: no cover - redis is installed with pipebus
    raise ImportError(
        "the Redis buses need the redis package (a dependency of pipebus): "
        "pip install 'redis[hiredis]'"
    ) from exc


logger = logging.getLogger("pipebus.transports")

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    ConnectionError,
    OSError,
    TransportError,
)
"""What a lost or refused connection raises; a reader reconnects after any of these."""


@asynccontextmanager
async def translated(action: str) -> AsyncIterator[None]:
    """Turn a driver exception raised inside the block into a ``TransportError``."""
    try:
        yield
    except (redis_errors.RedisError, OSError) as exc:
        raise TransportError(f"{action}: {type(exc).__name__}: {exc}") from exc


async def checkout(redis: Redis) -> AbstractConnection:
    """A connection of the client's pool for this bus alone (a reader's).

    Raises:
        TransportError: If no connection can be made.
    """
    pool = redis.connection_pool
    async with translated(f"connecting to Redis at {_where(redis)}"):
        try:
            connection: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
        except TypeError:  # redis-py before 5.3 wants a command name
            connection = await pool.get_connection("_")  # type: ignore[no-untyped-call]
    return connection


async def release(redis: Redis, connection: AbstractConnection) -> None:
    """Close a reader's connection and give it back to the pool."""
    try:
        await connection.disconnect()
    finally:
        await redis.connection_pool.release(connection)


def _where(redis: Redis) -> str:
    kwargs = redis.connection_pool.connection_kwargs
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


ResponseError = redis_errors.ResponseError
"""An error reply from Redis (a refused command)."""
