"""``pipebus pgmq install|grant|sql``: PGMQ and the wrappers ``IsolatedPgmqBackend`` calls.

``install`` puts PGMQ's SQL-only form (bundled by the ``pgmq`` client) into a database
that has no PGMQ, then the SECURITY DEFINER wrappers; ``grant`` lets a role call them;
``sql`` prints the wrappers' SQL, for a migration of your own.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from pipebus.cli_commands import CommandError
from pipebus.cli_commands.output import say
from pipebus.cli_commands.parsers import lazy

if TYPE_CHECKING:
    from pipebus.cli_commands.parsers import Commands

URL_HELP = "the PostgreSQL database, as postgresql://user@host:port/database"


def add_pgmq(commands: Commands) -> None:
    """Add ``pgmq`` and its subcommands."""
    pgmq = commands.add_parser(
        "pgmq",
        help="install PGMQ and the wrappers PgmqBus's isolated backend calls",
        description="PGMQ in PostgreSQL for PgmqBus: `install` puts PGMQ (its SQL-only "
        "form, when the database has none) and pipebus's SECURITY DEFINER wrappers "
        "(public.bus_join, bus_publish, bus_subscribe, bus_archive, bus_leave) into a "
        "database; `grant ROLE` lets a role call the wrappers and nothing else of PGMQ; "
        "`sql` prints the wrappers' SQL for a migration of your own.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  pipebus pgmq install --url postgresql://postgres@localhost/app --grant app_user\n"
        "  pipebus pgmq grant app_user --url postgresql://postgres@localhost/app\n"
        "  pipebus pgmq sql > migrations/bus_wrappers.sql",
    )
    actions = pgmq.add_subparsers(dest="pgmq_command", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="install PGMQ (if absent) and the wrappers")
    install.add_argument("--url", required=True, help=URL_HELP)
    install.add_argument(
        "--no-pgmq",
        action="store_true",
        help="do not install PGMQ: fail if the database has none",
    )
    install.add_argument(
        "--grant", action="append", default=[], metavar="ROLE", help="grant the wrappers to ROLE"
    )
    install.set_defaults(run=lazy("pgmq", "run_install"))
    grant = actions.add_parser("grant", help="let a role call the wrappers")
    grant.add_argument("role", metavar="ROLE")
    grant.add_argument("--url", required=True, help=URL_HELP)
    grant.add_argument("--revoke", action="store_true", help="take the wrappers back instead")
    grant.set_defaults(run=lazy("pgmq", "run_grant"))
    sql = actions.add_parser("sql", help="print the wrappers' SQL (for a migration)")
    sql.add_argument("--drop", action="store_true", help="print the SQL that drops them")
    sql.add_argument("--grant", action="append", default=[], metavar="ROLE")
    sql.set_defaults(run=lazy("pgmq", "run_sql"))


async def _connect(url: str) -> Any:
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ModuleNotFoundError as exc:
        raise CommandError("pipebus pgmq needs asyncpg: pip install 'pipebus[pgmq]'") from exc
    try:
        return await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    except (OSError, asyncpg.PostgresError) as exc:
        raise CommandError(f"cannot connect to {url}: {type(exc).__name__}: {exc}") from exc


async def _install(args: argparse.Namespace) -> list[str]:
    from pipebus.transports.pgmq_sql import install

    connection = await _connect(args.url)
    try:
        return await install(connection, with_pgmq=not args.no_pgmq, grant=args.grant)
    except (RuntimeError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    except Exception as exc:
        raise CommandError(f"installing into {args.url} failed: {exc}") from exc
    finally:
        await connection.close()


def run_install(args: argparse.Namespace) -> int:
    """``pipebus pgmq install``."""
    for line in asyncio.run(_install(args)):
        say(line)
    return 0


async def _grant(args: argparse.Namespace) -> None:
    from pipebus.transports.pgmq_sql import grant_sql, revoke_sql

    try:
        sql = revoke_sql(args.role) if args.revoke else grant_sql(args.role)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    connection = await _connect(args.url)
    try:
        await connection.execute(sql)
    except Exception as exc:
        raise CommandError(f"granting to {args.role} failed: {exc}") from exc
    finally:
        await connection.close()


def run_grant(args: argparse.Namespace) -> int:
    """``pipebus pgmq grant``."""
    asyncio.run(_grant(args))
    say(f"{'revoked the wrappers from' if args.revoke else 'granted the wrappers to'} {args.role}")
    return 0


def run_sql(args: argparse.Namespace) -> int:
    """``pipebus pgmq sql``."""
    from pipebus.transports.pgmq_sql import DROP_SQL, WRAPPERS_SQL, grant_sql

    try:
        grants = [grant_sql(role) for role in args.grant]
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    say(DROP_SQL if args.drop else "\n".join([WRAPPERS_SQL, *grants]))
    return 0
