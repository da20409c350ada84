"""A PostgreSQL database of a test module's own with PGMQ (SQL-only) and pipebus's wrappers.

Made on the test PostgreSQL (``tests.services``), named ``pipebus_pgmq_<pid>_<hex>``, and
dropped afterwards: nothing is left in the shared database.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from pipebus.transports.pgmq_sql import install
from tests.services import need_postgres


def plain_url(url: str, database: str | None = None) -> str:
    """``url`` as asyncpg takes it, on ``database`` if given."""
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


async def create_database(admin_url: str, name: str) -> str:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = plain_url(admin_url, name)
    connection = await asyncpg.connect(url)
    try:
        await install(connection)
    finally:
        await connection.close()
    return url


async def drop_database(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextmanager
def pgmq_database() -> Iterator[str]:
    """The URL of a fresh database with PGMQ and the wrappers; dropped on exit."""
    admin_url = plain_url(need_postgres())
    name = f"pipebus_pgmq_{os.getpid()}_{secrets.token_hex(3)}"
    url = asyncio.run(create_database(admin_url, name))
    try:
        yield url
    finally:
        asyncio.run(drop_database(admin_url, name))


async def pgmq_client(url: str, pool_size: int = 4) -> object:
    """An initialised ``PGMQueue`` on ``url`` that does not create the extension."""
    from pgmq.async_queue import PGMQueue

    parts = urlsplit(url)
    fields = {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "database": parts.path.lstrip("/"),
        "username": parts.username or "postgres",
        "password": parts.password or "postgres",
        "pool_size": pool_size,
    }
    try:
        client = PGMQueue(**fields, init_extension=False)  # pgmq 1.1
        await client.init()
    except TypeError:
        client = PGMQueue(**fields)  # pgmq 1.0: init() takes the switch
        await client.init(init_extension=False)
    return client


async def close_client(client: object) -> None:
    close = getattr(client, "close", None)
    if close is not None:
        await close()
    else:
        await client.pool.close()  # type: ignore[attr-defined]
