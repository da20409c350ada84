"""The real services tests use (Redis, PostgreSQL on loopback), or a skip that says why.

Where a service is absent, tests that need it skip with a reason saying how to enable
it. With ``PIPEBUS_REQUIRE_SERVICES=1`` (set by ``.ci/run``) a missing service fails
those tests instead.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get(
    "PIPEBUS_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PIPEBUS_TEST_REDIS", "redis://127.0.0.1:6379/0")


@functools.cache
def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def need(service: str, host: str, port: int, how: str) -> None:
    """Skip (or, in CI, fail) the calling test unless ``service`` listens on host:port."""
    if _reachable(host, port):
        return
    reason = f"{service} is not reachable at {host}:{port}; {how}"
    if os.environ.get("PIPEBUS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (PIPEBUS_REQUIRE_SERVICES=1 requires it)")
    pytest.skip(f"{reason}, or set PIPEBUS_REQUIRE_SERVICES=1 to make this a failure")


def _where(url: str, port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or port


def need_postgres() -> str:
    """The test PostgreSQL URL, after checking it is reachable."""
    host, port = _where(POSTGRES_URL, 5432)
    how = "start it (user postgres, trust auth, database test) or set PIPEBUS_TEST_POSTGRES"
    need("PostgreSQL", host, port, how)
    return POSTGRES_URL


def need_redis() -> str:
    """The test Redis URL, after checking it is reachable."""
    host, port = _where(REDIS_URL, 6379)
    need("Redis", host, port, "start redis-server or set PIPEBUS_TEST_REDIS")
    return REDIS_URL
