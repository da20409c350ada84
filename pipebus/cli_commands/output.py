"""What the commands print: lines that survive a closed pipe, JSON lines, tables, times."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any


def _silence_stdout() -> None:
    """Point stdout at devnull (Python's documented remedy) so exiting does not fail too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def say(line: str) -> None:
    """Print a line; once the reader has gone (a closed pipe), print nothing more."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        _silence_stdout()


def emit(lines: Iterable[str]) -> bool:
    """Print many lines with one write; returns False once the reader has gone.

    Commands that print a line per event call this once per page, and stop reading
    the log when it returns False (``pipebus show | head`` ends quickly).
    """
    text = "\n".join(lines)
    if not text:
        return True
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return False
    return True


def json_line(record: Mapping[str, Any]) -> str:
    """One JSON object on one line, keys in the record's order; always valid JSON.

    JSON has no NaN or infinities (``json.dumps`` would write ``NaN``, which parsers
    refuse): they are written as the codec writes them in payloads,
    ``{"$pb": "float", "v": "nan"}`` (``"inf"``, ``"-inf"``). A log of pipebus's first
    log format holds them bare in its payloads.
    """
    try:
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        finite = _finite(record)
        return json.dumps(finite, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _finite(value: Any) -> Any:
    """``value`` with every NaN and infinity replaced by its tagged form (see json_line)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"$pb": "float", "v": "nan" if value != value else ("inf" if value > 0 else "-inf")}
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: Iterable[int] = ()
) -> list[str]:
    """Rows under headers, in columns as wide as their widest cell.

    Args:
        headers: The column titles.
        rows: The cells, as text.
        right: Indexes of the columns to align right (numbers).
    """
    cells = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    to_right = set(right)
    lines = []
    for row in cells:
        padded = [
            cell.rjust(width) if i in to_right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(padded).rstrip())
    return lines


def duration(ns: int) -> str:
    """A duration for people: ``850 ms``, ``12.3 s``, ``4m05s``, ``2h07m``."""
    seconds = max(ns, 0) / 1e9
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def local_time(ns: int) -> str:
    """A Unix time in nanoseconds as local ``YYYY-MM-DD HH:MM:SS``."""
    return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def one_line(text: str) -> str:
    """A message on one line: its lines joined with ``; ``."""
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())
