"""``pipebus db upgrade`` and ``pipebus db current``: the log's schema revision, by hand.

Opening a log for any other command upgrades it already; these say what happens.
"""

from __future__ import annotations

import argparse
import asyncio

from pipebus.cli_commands.logs import location_of, require_existing
from pipebus.cli_commands.output import say
from pipebus.core.errors import SchemaVersionError
from pipebus.eventlog.engine import (
    create_engine,
    head_revision,
    known_revisions,
    prepare_schema,
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
    engine = create_engine(location)
    try:
        try:
            revision: str | None = await prepare_schema(engine, upgrade=False)
            at_head = True
        except SchemaVersionError:
            revision = await stored_revision(engine, location)
            at_head = False
    finally:
        await engine.dispose()
    head = head_revision()
    if at_head:
        say(f"{location}: schema {revision} (head)")
    elif revision is not None and revision not in known_revisions():
        say(
            f"{location}: schema {revision}, newer than this pipebus (head {head}): "
            "upgrade pipebus to read it"
        )
    else:
        command = "pipebus db upgrade" + (f" --db {args.db}" if args.db else "")
        say(f"{location}: schema {revision or 'none'}, head is {head}: run `{command}`")
    return 1 if args.check and not at_head else 0


def run_upgrade(args: argparse.Namespace) -> int:
    """Run ``pipebus db upgrade``."""
    return asyncio.run(_upgrade(args))


def run_current(args: argparse.Namespace) -> int:
    """Run ``pipebus db current``."""
    return asyncio.run(_current(args))
