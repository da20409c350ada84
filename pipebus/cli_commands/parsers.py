"""The argument parsers of the event-log commands: ``sessions`` to ``db``.

The commands: sessions, show, state, replay, export, inspect, diff and db.

Each command's code is imported when it runs (:func:`lazy`), so building the parser,
and ``pipebus --help``, stays quick.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

Command = Callable[[argparse.Namespace], int]

LOG_HELP = (
    "the event log: a SQLite file, or a sqlite:// or postgresql:// URL "
    "(default: $PIPEBUS_EVENT_LOG, else ./pipebus.db)"
)
SESSION_HELP = "a session id, a unique prefix of one, or 'last' (default: last)"
JSON_CONTRACT = "the keys are listed in the README, section 'Command line'"


def lazy(module: str, function: str = "run") -> Command:
    """``function`` of ``pipebus.cli_commands.<module>``, imported when first called."""

    def command(args: argparse.Namespace) -> int:
        found: Command = getattr(
            importlib.import_module(f"pipebus.cli_commands.{module}"), function
        )
        return found(args)

    return command


def positive(text: str) -> int:
    """An argparse type: an integer of 1 or more."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def step(text: str) -> int:
    """An argparse type: a step, 0 (before any event) or more."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _command(
    commands: Commands, name: str, summary: str, description: str, examples: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_db_option(parser: argparse.ArgumentParser, *, what: str = LOG_HELP) -> None:
    """``--db PATH|URL``."""
    parser.add_argument("--db", metavar="PATH|URL", help=what)


def _add_json_option(parser: argparse.ArgumentParser, each: str) -> None:
    parser.add_argument(
        "--json", action="store_true", help=f"print one JSON object per {each} ({JSON_CONTRACT})"
    )


def add_commands(commands: Commands) -> None:
    """Add the commands: sessions, show, state, replay, export, inspect, diff, db."""
    _add_sessions(commands)
    _add_show(commands)
    _add_state(commands)
    _add_replay(commands)
    _add_export(commands)
    _add_inspect(commands)
    _add_diff(commands)
    _add_db(commands)


def _add_sessions(commands: Commands) -> None:
    parser = _command(
        commands,
        "sessions",
        "list the recorded sessions of an event log",
        "List the sessions of an event log, newest first: id (first 8 characters), name, "
        "local start time, duration, status (running, ended, cancelled, failed, or "
        "incomplete when the recording process died), events, errors and lost events.",
        "  pipebus sessions\n  pipebus sessions --db runs.db --json",
    )
    add_db_option(parser)
    _add_json_option(parser, "session")
    parser.set_defaults(run=lazy("sessions"))


def _add_show(commands: Commands) -> None:
    parser = _command(
        commands,
        "show",
        "print a session's events, one per line",
        "Print a session's events, one per line: step, milliseconds since the session "
        "started, type, source → target and the message's fields. An event whose payload "
        "does not decode is printed as recorded, marked [undecodable]. Filters combine.",
        "  pipebus show\n"
        "  pipebus show 3fa2 --type BusJobRequestMessage --type BusJobResponseMessage\n"
        "  pipebus show last --worker writer --from 100 --to 200\n"
        "  pipebus show --job a169 --json | jq .message",
    )
    parser.add_argument("session", nargs="?", default="last", metavar="SESSION", help=SESSION_HELP)
    parser.add_argument(
        "--type",
        action="append",
        metavar="TYPE",
        help="only messages of this type (its wire name, the class name for pipebus's "
        "messages); repeat it or separate names with commas for several",
    )
    parser.add_argument("--worker", metavar="NAME", help="only messages sent by or to this worker")
    parser.add_argument(
        "--job",
        metavar="ID",
        help="only messages of this job: its id as the commands print it, or a unique prefix "
        "of its whole id",
    )
    parser.add_argument(
        "--from", dest="start", type=positive, default=1, metavar="N", help="start at step N"
    )
    parser.add_argument("--to", type=positive, metavar="N", help="end at step N (included)")
    parser.add_argument("--limit", type=positive, metavar="N", help="print at most N events")
    add_db_option(parser)
    _add_json_option(parser, "event")
    parser.set_defaults(run=lazy("show"))


def _add_state(commands: Commands) -> None:
    parser = _command(
        commands,
        "state",
        "print the worker registry and the jobs after a step",
        "Print what the registry and job projections held after step N of a session: "
        "each worker (runner, parent, status, active, the jobs it works on and waits on) "
        "and each job (name, requester, status, and each worker's status, updates and "
        "stream chunks). Step 0 is before the first event.",
        "  pipebus state\n  pipebus state 3fa2 --at 40\n  pipebus state --json",
    )
    parser.add_argument("session", nargs="?", default="last", metavar="SESSION", help=SESSION_HELP)
    parser.add_argument("--at", type=step, metavar="N", help="the step (default: the last one)")
    add_db_option(parser)
    _add_json_option(parser, "worker and per job")
    parser.set_defaults(run=lazy("state"))


def _add_replay(commands: Commands) -> None:
    parser = _command(
        commands,
        "replay",
        "re-run a recorded worker's inputs through worker code; exit 1 on divergence",
        "Feed the messages one worker received in a recorded session to a fresh instance "
        "of worker code (maybe changed since), on an isolated bus, and compare what it "
        "sends with what it sent then (ids and times normalised). The first divergence is "
        "printed with its step, the expected and the actual message, and the exit status "
        "is 1. --save-transcript writes the worker's inputs and outputs as a JSONL file "
        "that tests can replay (pipebus_regression fixture) without the log.",
        "  pipebus replay last --worker myapp.agents:Researcher --name researcher\n"
        "  pipebus replay 3fa2 --name writer --save-transcript tests/writer.jsonl\n"
        "  pipebus replay --transcript tests/writer.jsonl --worker myapp.agents:make_writer\n"
        "  pipebus replay --all --worker myapp.agents:Researcher --name researcher",
    )
    parser.add_argument("session", nargs="?", default="last", metavar="SESSION", help=SESSION_HELP)
    parser.add_argument(
        "--all",
        action="store_true",
        help="check the worker code against every session of the log in which the worker "
        "(--name) took part, newest first, with a progress bar; exit 1 if any diverges",
    )
    parser.add_argument(
        "--worker",
        metavar="MODULE:CLASS",
        help="the worker code: a BaseWorker subclass (built with --name) or a function "
        "returning the worker (called with --name if given)",
    )
    parser.add_argument("--name", metavar="NAME", help="the recorded worker's name")
    parser.add_argument(
        "--transcript", metavar="PATH", help="replay this transcript file instead of a session"
    )
    parser.add_argument(
        "--save-transcript", metavar="PATH", help="write the worker's transcript to PATH (JSONL)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for each expected message (default: 5)",
    )
    add_db_option(parser)
    parser.set_defaults(run=lazy("replay"))


def _add_export(commands: Commands) -> None:
    parser = _command(
        commands,
        "export",
        "send a recorded session's spans to an OTLP collector, or write OTLP JSON",
        "Rebuild a recorded session's OpenTelemetry spans (every send, every delivery, "
        "every job group) with their recorded times, trace ids, span ids and parents, and "
        "send them to a collector over OTLP, or write them as OTLP JSON lines (one export "
        "request per line, as the Collector's otlpjsonfile receiver reads). A session "
        "recorded with record_deliveries='all' exports exactly the spans live tracing "
        "reported; otherwise deliveries without a recorded timing are inferred from what "
        "their handlers sent. The log is only read. A collector that refuses the spans or "
        "cannot be reached is an error (exit status 1). Spans live tracing lost (its "
        "collector down) are recorded in the session; --only-lost sends just those.",
        "  pipebus export last --otlp http://localhost:4318\n"
        "  pipebus export 3fa2 --otlp localhost:4317 --protocol grpc\n"
        "  pipebus export last --json spans.jsonl\n"
        "  pipebus export last --only-lost --otlp http://localhost:4318",
    )
    parser.add_argument("session", nargs="?", default="last", metavar="SESSION", help=SESSION_HELP)
    parser.add_argument(
        "--otlp",
        metavar="URL",
        help="the collector: http://host:4318 (OTLP/HTTP; /v1/traces is added when the URL "
        "has no path) or host:4317 with --protocol grpc",
    )
    parser.add_argument(
        "--protocol",
        choices=("http/protobuf", "grpc"),
        help="OTLP protocol (default: $OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf)",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="write OTLP JSON lines to FILE ('-' for stdout)"
    )
    parser.add_argument(
        "--links",
        action="store_true",
        help="make each delivery a root span linked to its send (default: its child)",
    )
    parser.add_argument(
        "--only-lost",
        action="store_true",
        help="send only the spans live tracing lost (recorded in the session), same ids",
    )
    parser.add_argument(
        "--service-name",
        metavar="NAME",
        help="the spans' service.name (default: $OTEL_SERVICE_NAME, else pipebus)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long each export request may take, retries included (default: 10)",
    )
    add_db_option(parser)
    parser.set_defaults(run=lazy("export"))


def _add_inspect(commands: Commands) -> None:
    parser = _command(
        commands,
        "inspect",
        "step through a recorded or running session in the terminal (Textual)",
        "Open an event log in the inspector, a time-travel debugger: without --session, "
        "a screen lists the sessions (name, start, duration, status, events, errors) to "
        "pick one; a session still running is followed live. Step through the messages "
        "with the registry, the job groups and what each step changed rebuilt at the "
        "cursor; jump to causes, effects, errors and breakpoints; filter, find, fold jobs, "
        "see a job's spans as a waterfall; export a slice. Press ? in it for every key.",
        "  pipebus inspect\n"
        "  pipebus inspect pipebus.db --session last\n"
        "  pipebus inspect postgresql://host/db --web --host 0.0.0.0 --port 8080\n"
        "  pipebus inspect postgresql://host/db --session 3fa2",
    )
    parser.add_argument("log", nargs="?", metavar="LOG", help=LOG_HELP)
    parser.add_argument(
        "--session",
        metavar="SESSION",
        help=SESSION_HELP.replace("(default: last)", "")
        + " (default: pick one on the sessions screen)",
    )
    parser.add_argument(
        "--compare",
        metavar="SESSION",
        help="open --session and this session side by side, aligned message by message "
        "(the first divergence highlighted; `pipebus diff` prints the same)",
    )
    parser.add_argument(
        "--compare-log", metavar="PATH|URL", help="the log of --compare (default: LOG)"
    )
    add_db_option(parser, what="the event log, as LOG (LOG wins if both are given)")
    parser.add_argument(
        "--web",
        action="store_true",
        help="serve the inspector to browsers over HTTP (textual-serve: pip install "
        "'pipebus[web]'); each page opens its own inspector, until Ctrl+C",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="with --web, the address to listen on (default: 127.0.0.1, this machine only; "
        "0.0.0.0 for every address)",
    )
    parser.add_argument(
        "--port", type=positive, default=8000, help="with --web, the port (default: 8000)"
    )
    parser.set_defaults(run=lazy("inspect"))


def _add_diff(commands: Commands) -> None:
    parser = _command(
        commands,
        "diff",
        "compare two sessions message by message; exit 1 on divergence (for CI)",
        "Align two recorded sessions (a run and its rerun, yesterday's run and today's) "
        "message by message: by type, sender and target, tolerating inserted and missing "
        "messages; then compare each aligned pair's fields with ids and times aside (job "
        "ids are matched pairwise, message and frame ids, started_at and tracebacks are "
        "not compared). Print the counts, the first divergence with the differing fields, "
        "and the rows that differ. Exit status: 0 the same, 1 divergent, 2 bad input.",
        "  pipebus diff 3fa2 last\n"
        "  pipebus diff last last --db today.db --compare-log yesterday.db\n"
        "  pipebus diff 3fa2 9c01 --json | jq .first_divergence",
    )
    parser.add_argument("a", metavar="A", help="the first session: " + SESSION_HELP[:-16])
    parser.add_argument("b", metavar="B", help="the second session, in --compare-log if given")
    parser.add_argument(
        "--compare-log", metavar="PATH|URL", help="the log of B (default: the log of A)"
    )
    parser.add_argument(
        "--limit",
        type=positive,
        default=20,
        metavar="N",
        help="list at most N divergent rows (default: 20)",
    )
    add_db_option(parser)
    parser.add_argument(
        "--json", action="store_true", help=f"print one JSON object ({JSON_CONTRACT})"
    )
    parser.set_defaults(run=lazy("diff"))


def _add_db(commands: Commands) -> None:
    db = _command(
        commands,
        "db",
        "upgrade an event log's schema, or show its revision",
        "Manage an event log's schema (Alembic migrations). Besides recording, `db "
        "upgrade` is the only command that creates or migrates a log: the commands that "
        "read (sessions, show, state, replay, export, inspect, diff) never write, and refuse a log "
        "that needs it. A log written by a newer pipebus, or a database that is not a "
        "pipebus log, is never changed.",
        "  pipebus db current --check\n  pipebus db upgrade --db postgresql://host/db",
    )
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = _command(
        actions,
        "upgrade",
        "create the log's schema or upgrade it to this pipebus's (head)",
        "Create the schema of a new log (and, on PostgreSQL, the schema that ?schema= "
        "names), or upgrade an older one to the newest revision this pipebus knows; print "
        "the revision, and the one it had before.",
        "  pipebus db upgrade\n  pipebus db upgrade --db runs.db",
    )
    add_db_option(
        upgrade, what=LOG_HELP.replace("the event log", "the event log (created if missing)")
    )
    upgrade.set_defaults(run=lazy("db", "run_upgrade"))
    current = _command(
        actions,
        "current",
        "print the log's schema revision and whether it is the head",
        "Print the schema revision of a log and whether it is this pipebus's newest "
        "(head), older (run `pipebus db upgrade`) or newer (upgrade pipebus). Changes nothing.",
        "  pipebus db current\n  pipebus db current --db runs.db --check",
    )
    add_db_option(current)
    current.add_argument(
        "--check", action="store_true", help="exit with status 1 unless the schema is the head"
    )
    current.set_defaults(run=lazy("db", "run_current"))
