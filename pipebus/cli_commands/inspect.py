"""``pipebus inspect``: open a log's sessions, or one session, in the Textual inspector."""

from __future__ import annotations

import argparse
import asyncio

from pipebus.cli_commands.logs import opened_log, require_existing
from pipebus.eventlog.urls import default_location


async def _check(args: argparse.Namespace) -> None:
    """Fail early, as a one-line error, if the log or the session cannot be opened."""
    async with opened_log(args) as log:
        if args.session is not None:
            await log.session(args.session)


def run(args: argparse.Namespace) -> int:
    """Run ``pipebus inspect``."""
    args.db = args.log or args.db or default_location()
    require_existing(args.db)
    asyncio.run(_check(args))
    from inspector.app import run as run_inspector

    run_inspector(args.db, args.session)
    return 0
