"""The progress bar of long commands: drawn on a terminal, nothing on a pipe or a file."""

from __future__ import annotations

import io
import os

from pipebus.cli_commands.progress import ProgressBar


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal's other side is closed: all was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_the_bar_is_drawn_on_a_terminal_with_counts_and_ends_its_line() -> None:
    main, side = os.openpty()
    with open(side, "w", encoding="utf-8") as terminal:
        bar = ProgressBar("export", "events", stream=terminal)
        bar.update(12_345, 27_000)
        bar.update(27_000, 27_000)
        bar.close()
    drawn = _read_all(main)
    os.close(main)
    assert "export" in drawn
    assert "12,345/27,000 events" in drawn
    assert "100%" in drawn
    assert "27,000/27,000 events\r\n" in drawn  # the last draw, and its line ended


def test_nothing_is_drawn_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar("export", "events", stream=stream)
    bar.update(1, 2)
    bar.update(2, 2)
    bar.close()
    assert stream.getvalue() == ""
