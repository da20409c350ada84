"""The ``pipebus`` command's event-log subcommands, and the error they report.

The parsers live in :mod:`~pipebus.cli_commands.parsers`; each command's code is in a
module of its own, imported only when that command runs (so ``pipebus --help`` does
not load SQLAlchemy and Alembic).

May import: inspector, pipebus.observability, pipebus.replay, pipebus.workers,
pipebus.transports, pipebus.tracing, pipebus.eventlog, pipebus.live, pipebus.projections,
pipebus.bus, pipebus.core.
"""

from __future__ import annotations


class CommandError(Exception):
    """Bad input that a command reports as one line on stderr, exiting with status 1."""
