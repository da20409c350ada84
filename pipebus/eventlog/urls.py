"""Where an event log lives: paths and URLs, and the default location."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_PATH = "pipebus.db"
"""The log used when nothing else is said: ``./pipebus.db``."""

ENVIRONMENT_VARIABLE = "PIPEBUS_EVENT_LOG"
"""Names the default log (a path or a URL) when set."""


def default_location() -> str:
    """``$PIPEBUS_EVENT_LOG`` if set, else ``./pipebus.db``."""
    return os.environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_PATH


def to_url(location: str | Path) -> str:
    """A SQLAlchemy async URL for a path or URL.

    A path becomes ``sqlite+aiosqlite:///<path>``; ``sqlite://`` and ``postgresql://``
    URLs get their async driver (aiosqlite, asyncpg) when they name none.
    """
    text = str(location)
    if "://" not in text:
        return f"sqlite+aiosqlite:///{text}"
    scheme, rest = text.split("://", 1)
    if scheme in ("sqlite", "sqlite3"):
        return f"sqlite+aiosqlite://{rest}"
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    return text


def describe(url: str) -> str:
    """A URL fit for messages: the password hidden."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url
