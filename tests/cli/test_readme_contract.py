"""The README's "Command line" section documents the ``--json`` keys the commands print."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli import EVENT_KEYS, JOB_KEYS, SESSION_KEYS, WORKER_KEYS

README = Path(__file__).resolve().parents[2] / "README.md"


def bullet(command: str) -> str:
    """The README's bullet on ``command``'s JSON lines, as one line of text."""
    section = README.read_text().split("## Command line\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(rf"^- `{command} --json`(.*?)(?=^- |\Z)", section, re.M | re.S)
    assert match, f"the README documents no `{command} --json`"
    return " ".join(match.group(1).split())


@pytest.mark.parametrize(
    ("command", "keys"),
    [
        ("sessions", SESSION_KEYS),
        ("show", EVENT_KEYS),
        ("state", WORKER_KEYS),
        ("state", JOB_KEYS),
    ],
)
def test_the_readme_lists_every_json_key_in_order(command: str, keys: list[str]) -> None:
    text = bullet(command)
    start = text.index('"kind": "job"') if keys is JOB_KEYS else 0
    positions = []
    for key in keys:
        found = re.search(rf'[`"]{key}[`"]', text[start:])
        assert found, f"{key!r} is missing from the README's `{command} --json`"
        positions.append(start + found.start())
    assert positions == sorted(positions)
