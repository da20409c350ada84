"""The README's example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs_and_prints_what_it_says() -> None:
    match = re.search(r"## Example\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README has no example section"
    out = subprocess.run(
        [sys.executable, "-c", match.group(1)], capture_output=True, text=True, timeout=20
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["progress {'progress': 50}", "answer {'text': 'HOLA'}"]


def test_the_readme_benchmark_tables_are_the_saved_results() -> None:
    """``python -m benchmarks.readme`` copied the last results in: no number by hand."""
    from benchmarks.readme import README, refreshed

    assert refreshed(README.read_text()) == README.read_text(), (
        "README.md is out of date with benchmarks/results: run python -m benchmarks.readme"
    )
