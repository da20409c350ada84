"""The isolated backend on real PGMQ: pipebus's SECURITY DEFINER wrappers, and roles kept apart.

Each test logs in as roles made for it (cluster-wide in PostgreSQL, so named for this
process and dropped afterwards) that may call the wrappers and nothing else.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from pipebus import BusDataMessage, BusMessage, BusSubscriber, IsolatedPgmqBackend, PgmqBus
from pipebus.testing import until
from pipebus.transports.pgmq_sql import grant_sql
from tests.transports.pgmq_database import pgmq_database

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with pgmq_database() as url:
        yield url


def as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    netloc = f"{role}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@pytest.fixture
async def roles(database: str) -> AsyncIterator[tuple[str, str]]:
    """Two login roles granted the wrappers only; dropped afterwards."""
    names = tuple(f"pipebus_t{os.getpid()}_{secrets.token_hex(3)}" for _ in range(2))
    admin = await asyncpg.connect(database)
    try:
        for name in names:
            await admin.execute(f'CREATE ROLE "{name}" LOGIN')
            await admin.execute(grant_sql(name))
        yield names[0], names[1]
    finally:
        for name in names:
            await admin.execute(f'DROP OWNED BY "{name}"')
            await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
        await admin.close()


@pytest.fixture
async def pools(database: str, roles: tuple[str, str]) -> AsyncIterator[list[asyncpg.Pool]]:
    made = [
        await asyncpg.create_pool(as_role(database, role), min_size=1, max_size=4) for role in roles
    ]
    yield made
    for pool in made:
        await pool.close()


class Inbox(BusSubscriber):
    def __init__(self) -> None:
        self.messages: list[BusMessage] = []

    @property
    def name(self) -> str:
        return "inbox"

    async def on_bus_message(self, message: BusMessage) -> None:
        self.messages.append(message)


async def test_a_role_that_has_not_joined_a_channel_can_neither_read_nor_write_its_queues(
    pools: list[asyncpg.Pool],
) -> None:
    alice, mallory = pools
    channel = f"secret-{secrets.token_hex(4)}"
    async with alice.acquire() as connection:
        queue = await connection.fetchval("SELECT public.bus_join($1)", channel)
        await connection.execute("SELECT public.bus_publish($1, $2, '{\"hi\": 1}'::jsonb)",
                                 channel, queue)  # fmt: skip
    async with mallory.acquire() as connection:
        refused = [
            ("SELECT * FROM public.bus_subscribe($1, $2, 30, 10, 0)", (queue, channel)),
            ("SELECT public.bus_publish($1, $2, '{}'::jsonb)", (channel, queue)),
            ("SELECT public.bus_archive($1, $2, 1::bigint)", (queue, channel)),
            ("SELECT public.bus_leave($1, $2)", (queue, channel)),
            ("SELECT * FROM pgmq.read($1, 30, 10)", (queue,)),
            ("SELECT pgmq.send($1, '{}'::jsonb)", (queue,)),
            (f'SELECT * FROM pgmq."q_{queue}"', ()),
            ("SELECT * FROM public.bus_peers", ()),
        ]
        for sql, args in refused:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.fetch(sql, *args)
    async with alice.acquire() as connection:
        rows = await connection.fetch(
            "SELECT msg_id, message FROM public.bus_subscribe($1, $2, 30, 10, 0)", queue, channel
        )
        assert [row["message"] for row in rows] == ['{"hi": 1}']  # untouched by mallory
        await connection.execute("SELECT public.bus_leave($1, $2)", queue, channel)


async def test_buses_of_two_roles_that_joined_one_channel_talk_through_the_wrappers(
    pools: list[asyncpg.Pool],
) -> None:
    channel = f"shared-{secrets.token_hex(4)}"
    first = PgmqBus(backend=IsolatedPgmqBackend(pools[0]), channel=channel, runner_name="one")
    second = PgmqBus(backend=IsolatedPgmqBackend(pools[1]), channel=channel, runner_name="two")
    inbox = Inbox()
    await second.subscribe(inbox)
    try:
        await first.start()
        await second.start()
        assert first.batches and second.batches
        for n in range(5):
            await first.send(BusDataMessage(source=f"m{n}"))
        await until(lambda: len(inbox.messages) == 5)
        assert [m.source for m in inbox.messages] == [f"m{n}" for n in range(5)]
    finally:
        await first.stop()
        await second.stop()


async def test_the_wrappers_are_not_callable_by_a_role_never_granted_them(
    database: str,
) -> None:
    name = f"pipebus_t{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(database)
    try:
        await admin.execute(f'CREATE ROLE "{name}" LOGIN')
        stranger = await asyncpg.connect(as_role(database, name))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await stranger.fetchval("SELECT public.bus_join('any')")
        finally:
            await stranger.close()
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
        await admin.close()
