"""``pipebus db upgrade`` and ``pipebus db current``: the log's schema revision, by hand.

``db upgrade`` is, beside recording, the only command that creates or migrates a log;
the commands that read (``sessions``, ``show``, ``state``, ``inspect``, ``export``, ...)
refuse a log that needs it and say so.
"""

from __future__ import annotations

import argparse
import asyncio

from pipebus.cli_commands.logs import location_of, require_existing
from pipebus.cli_commands.output import say
from pipebus.core.errors import SchemaVersionError
from pipebus.eventlog.engine import (
    create_engine,
    prepare_schema,
    refusal,
    revisions,
    schema_state,
    stored_revision,
)


async def _upgrade(args: argparse.Namespace) -> int:
    location = location_of(args)
    engine = create_engine(location)
    try:
        before = await stored_revision(engine, location)
        revision = await prepare_schema(engine, upgrade=True)
    finally:
        await engine.dispose()
    if before == revision:
        say(f"{location}: schema {revision} (head), already up to date")
    else:
        say(f"{location}: schema {revision} (head), upgraded from {before or 'none'}")
    return 0


async def _current(args: argparse.Namespace) -> int:
    location = location_of(args)
    require_existing(location)
    engine = create_engine(location, read_only=True)
    try:
        state = await schema_state(engine)
    finally:
        await engine.dispose()
    command = "pipebus db upgrade" + (f" --db {args.db}" if args.db else "")
    # Someone else's database, or a PostgreSQL schema that is not there, is an error; an
    # empty, older or newer log is a revision to report.
    refused = refusal(state, location, upgrade=True, hint=f"run `{command}`")
    if refused is not None and not isinstance(refused, SchemaVersionError):
        raise refused
    head, known = revisions()
    revision = state.revision
    at_head = revision == head
    if at_head:
        say(f"{location}: schema {revision} (head)")
    elif revision is not None and revision not in known:
        say(
            f"{location}: schema {revision}, newer than this pipebus (head {head}): "
            "upgrade pipebus to read it"
        )
    else:
        say(f"{location}: schema {revision or 'none'}, head is {head}: run `{command}`")
    return 1 if args.check and not at_head else 0


def run_upgrade(args: argparse.Namespace) -> int:
    """Run ``pipebus db upgrade``."""
    return asyncio.run(_upgrade(args))


def run_current(args: argparse.Namespace) -> int:
    """Run ``pipebus db current``."""
    return asyncio.run(_current(args))
