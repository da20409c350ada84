"""``pipebus diff A B``: two recorded sessions aligned message by message, for CI.

Exit status: 0 when every message faces the same message (ids and times aside), 1
when the sessions diverge, 2 on bad input (a log or a session that cannot be
opened), so a CI job tells a regression from a broken command line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import AsyncExitStack
from typing import Any

from pipebus.cli_commands import CommandError
from pipebus.cli_commands.logs import location_of, require_existing
from pipebus.cli_commands.output import emit, json_line, one_line
from pipebus.core.errors import PipebusError
from pipebus.eventlog.store import EventLog
from pipebus.replay.compare import (
    Comparison,
    Recorded,
    compare_sessions,
    glance,
    pair_at,
    pair_diff,
)
from pipebus.replay.session import SessionReplay

BAD_INPUT = 2


def _side(replay: SessionReplay, location: str) -> dict[str, Any]:
    info = replay.info
    return {"id": info.id, "name": info.name or info.runner, "events": len(replay), "log": location}


def _row(comparison: Comparison, row: int) -> dict[str, Any]:
    return {
        "row": row + 1,
        "kind": comparison.kind_name(row),
        "a_step": comparison.left[row] or None,
        "b_step": comparison.right[row] or None,
    }


async def _details(
    comparison: Comparison, a: SessionReplay, b: SessionReplay, row: int
) -> tuple[Recorded | None, Recorded | None, list[str]]:
    one, other = await pair_at(comparison, a, b, row)
    return one, other, pair_diff(one, other, comparison.jobs)


def _step(step: int) -> str:
    return f"#{step}" if step else "-"


async def _text(
    comparison: Comparison, a: SessionReplay, b: SessionReplay, where: tuple[str, str], limit: int
) -> list[str]:
    lines = []
    for name, replay, location in (("A", a, where[0]), ("B", b, where[1])):
        side = _side(replay, location)
        events = f"{side['events']:,} events"
        lines.append(f"{name}: session {side['id'][:8]} {side['name']} ({events}) in {location}")
    counts = comparison.counts()
    how = (
        "aligned by (type, sender, target)"
        if comparison.aligned
        else ("too different to align: paired by position")
    )
    lines.append(
        f"{len(comparison):,} rows, {how}, ids and times aside: "
        + ", ".join(f"{count:,} {kind}" for kind, count in counts.items())
    )
    first = comparison.first_divergence
    if first is None:
        lines.append("the sessions are the same")
        return lines
    one, other, diff = await _details(comparison, a, b, first)
    lines.append(
        f"first divergence at row {first + 1:,}: {comparison.kind_name(first)} "
        f"(A {_step(comparison.left[first])}, B {_step(comparison.right[first])})"
    )
    lines.append(f"  A: {glance(one, 100) if one is not None else 'nothing'}")
    lines.append(f"  B: {glance(other, 100) if other is not None else 'nothing'}")
    lines += (f"  {line}" for line in diff)
    shown = comparison.divergences[:limit]
    lines.append(f"divergences ({len(shown):,} of {len(comparison.divergences):,}):")
    for row in shown:
        one, other = await pair_at(comparison, a, b, row)
        message = one if one is not None else other
        what = glance(message, 70) if message is not None else ""
        lines.append(
            f"  row {row + 1:>7,}  A {_step(comparison.left[row]):>8}  "
            f"B {_step(comparison.right[row]):>8}  {comparison.kind_name(row):<9}  {what}"
        )
    return lines


async def _json(
    comparison: Comparison, a: SessionReplay, b: SessionReplay, where: tuple[str, str], limit: int
) -> str:
    first = comparison.first_divergence
    divergence: dict[str, Any] | None = None
    if first is not None:
        one, other, diff = await _details(comparison, a, b, first)
        divergence = {
            **_row(comparison, first),
            "a": glance(one, 200) if one is not None else None,
            "b": glance(other, 200) if other is not None else None,
            "diff": diff,
        }
    return json_line(
        {
            "a": _side(a, where[0]),
            "b": _side(b, where[1]),
            "equal": comparison.equal,
            "aligned": comparison.aligned,
            "rows": len(comparison),
            "counts": comparison.counts(),
            "first_divergence": divergence,
            "divergences": [_row(comparison, row) for row in comparison.divergences[:limit]],
        }
    )


async def _run(args: argparse.Namespace) -> int:
    here = location_of(args)
    there = args.compare_log or here
    async with AsyncExitStack() as stack:
        replays = []
        for location, session in ((here, args.a), (there, args.b)):
            require_existing(location)
            log = await EventLog.open(location, read_only=True)
            stack.push_async_callback(log.close)
            replays.append(await SessionReplay.open(log, session))
        a, b = replays
        if a.session_id == b.session_id and here == there:
            raise CommandError(f"A and B are the same session ({a.session_id[:8]})")
        comparison = await compare_sessions(a, b)
        if args.json:
            emit([await _json(comparison, a, b, (here, there), args.limit)])
        else:
            emit(await _text(comparison, a, b, (here, there), args.limit))
    return 0 if comparison.equal else 1


def run(args: argparse.Namespace) -> int:
    """Run ``pipebus diff``: 0 equal, 1 divergent, 2 bad input (said on stderr)."""
    try:
        return asyncio.run(_run(args))
    except (CommandError, PipebusError) as exc:
        print(f"pipebus: error: {one_line(str(exc)) or type(exc).__name__}", file=sys.stderr)
        return BAD_INPUT
