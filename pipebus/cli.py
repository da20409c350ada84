"""The ``pipebus`` command: run the demo (and, as features land, inspect sessions)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence


def say(line: str) -> None:
    """Print a line; once the reader has gone (a closed pipe), print nothing more."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        # Python's documented remedy: point stdout at devnull so exit does not fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _demo(args: argparse.Namespace) -> int:
    from pipebus.demo import run_demo

    asyncio.run(run_demo(say))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pipebus`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="pipebus",
        description="pipebus: an event-sourced, observable worker bus for asyncio.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="run a multi-worker demo session and print what happens",
        description="Run a coordinator, a job group of three workers (one streams, one "
        "reports progress), a handoff by activation and a graceful end; print each "
        "message as it crosses the bus, then the final registry and jobs.",
    )
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pipebus`` command; returns its exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
