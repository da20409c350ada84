"""``pipebus inspect``: open a log's sessions, or one session, in the Textual inspector."""

from __future__ import annotations

import argparse
import asyncio

from pipebus.cli_commands import CommandError
from pipebus.cli_commands.logs import opened_log, require_existing
from pipebus.eventlog.store import EventLog
from pipebus.eventlog.urls import default_location


async def _check(args: argparse.Namespace) -> None:
    """Fail early, as a one-line error, if the log or the session cannot be opened."""
    async with opened_log(args) as log:
        if args.session is not None:
            await log.session(args.session)
    if args.compare is not None:
        if args.session is None:
            raise CommandError("--compare opens two sessions side by side: give --session too")
        other = args.compare_log or args.db
        require_existing(other)
        async with await EventLog.open(other, read_only=True) as log:
            await log.session(args.compare)


def run(args: argparse.Namespace) -> int:
    """Run ``pipebus inspect``."""
    args.db = args.log or args.db or default_location()
    require_existing(args.db)
    asyncio.run(_check(args))
    if args.web:
        from inspector.web import serve

        serve(_arguments(args), host=args.host, port=args.port)
        return 0
    from inspector.app import run as run_inspector

    run_inspector(
        args.db, args.session, compare=args.compare, compare_log=args.compare_log or args.db
    )
    return 0


def _arguments(args: argparse.Namespace) -> list[str]:
    """The inspect command's arguments for each page's inspector (all but --web's own)."""
    found = [str(args.db)]
    for option, value in (
        ("--session", args.session),
        ("--compare", args.compare),
        ("--compare-log", args.compare_log),
    ):
        if value is not None:
            found += [option, value]
    return found
