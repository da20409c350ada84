"""``pipebus export``: a recorded session's spans to an OTLP collector or an OTLP JSON file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from pipebus.cli_commands import CommandError
from pipebus.cli_commands.logs import opened_log
from pipebus.cli_commands.progress import ProgressBar
from pipebus.tracing.export import ExportResult, export_session
from pipebus.tracing.exporters import make_exporter


async def _export(args: argparse.Namespace) -> ExportResult:
    exporter = None
    if args.otlp is not None:
        exporter = make_exporter(
            "otlp", protocol=args.protocol, endpoint=args.otlp, timeout=args.timeout
        )
    bar = ProgressBar("export", "events")
    with ExitStack() as stack:
        json_file: IO[str] | None = None
        if args.json is not None:
            json_file = _open_output(args.json, stack)
        try:
            async with opened_log(args) as log:
                return await export_session(
                    log,
                    args.session,
                    exporter=exporter,
                    json_file=json_file,
                    links=args.links,
                    service_name=args.service_name,
                    progress=bar.update,
                    only_lost=args.only_lost,
                )
        finally:
            bar.close()
            if exporter is not None:
                exporter.shutdown()


def _open_output(path: str, stack: ExitStack) -> IO[str]:
    if path == "-":
        return sys.stdout
    try:
        return stack.enter_context(Path(path).open("w", encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    """Export the session; print what was sent where (on stderr when the JSON is on stdout).

    With ``--only-lost``, lost spans that could not be rebuilt are an error (exit 1).
    """
    if args.otlp is None and args.json is None:
        raise CommandError("say where to: --otlp URL, --json FILE (or - for stdout), or both")
    result = asyncio.run(_export(args))
    places = []
    if args.otlp is not None:
        places.append(f"the collector at {args.otlp}")
    if args.json is not None:
        places.append("stdout" if args.json == "-" else args.json)
    what = "lost spans" if args.only_lost else "spans"
    lost = ""
    if result.lost and not args.only_lost:
        lost = f"; {result.lost:,} of them were lost live (--only-lost sends just those)"
    print(
        f"exported {result.spans:,} {what} in {result.traces:,} traces "
        f"({result.events:,} events) of session {result.session_id[:8]} to "
        f"{' and '.join(places)}{lost}",
        file=sys.stderr if args.json == "-" else sys.stdout,
    )
    if result.unmatched:
        raise CommandError(
            f"{result.unmatched:,} of the {result.lost:,} spans the session records as lost "
            "were not rebuilt (was it traced live with links? then add --links)"
        )
    return 0
