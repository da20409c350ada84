"""The ``pipebus`` command: run the demo, and read event logs (sessions, events, state)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from pipebus.cli_commands import CommandError
from pipebus.cli_commands.output import one_line, say
from pipebus.cli_commands.parsers import add_commands, add_db_option
from pipebus.cli_commands.pgmq import add_pgmq
from pipebus.core.errors import PipebusError

__all__ = ["build_parser", "main", "say"]

logger = logging.getLogger("pipebus.cli")


def _demo(args: argparse.Namespace) -> int:
    from pipebus.demo import run_demo
    from pipebus.eventlog.urls import ENVIRONMENT_VARIABLE

    if args.db:
        os.environ[ENVIRONMENT_VARIABLE] = args.db
    if not args.verbose:
        # The demo's handler errors are on purpose, and its timeline shows them.
        logging.getLogger("pipebus.bus").setLevel(logging.CRITICAL)
    asyncio.run(run_demo(say, failures=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pipebus`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="pipebus",
        description="pipebus: an event-sourced, observable worker bus for asyncio.",
        epilog="Every command reads or writes one event log: --db PATH|URL, else "
        "$PIPEBUS_EVENT_LOG, else ./pipebus.db. SESSION is a session id, a unique prefix "
        "of one, or 'last'. `pipebus COMMAND --help` tells more.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="run a multi-worker demo session and print what happens",
        description="Run a coordinator, a job group of three workers (one streams, one "
        "reports progress), a translator whose handler raises (the worker fails), an "
        "archive job cancelled midway, a handoff by activation and a graceful end; print "
        "each message as it crosses the bus, then the final registry and jobs. The "
        "session is recorded in the event log, and the command to open it in the "
        "inspector (`pipebus inspect LOG --session ID`) is printed last.",
    )
    add_db_option(
        demo,
        what="record into this event log (default: $PIPEBUS_EVENT_LOG, else ./pipebus.db)",
    )
    demo.set_defaults(run=_demo)
    add_commands(commands)
    add_pgmq(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pipebus`` command; returns its exit status.

    Bad input (an unknown session, a step out of range, a file that is not an event
    log, ...) is one line on stderr and status 1, never a traceback (``-v`` logs it).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        status: int = args.run(args)
    except (CommandError, PipebusError) as exc:
        logger.debug("%s failed", args.command, exc_info=True)
        print(f"pipebus: error: {one_line(str(exc)) or type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
