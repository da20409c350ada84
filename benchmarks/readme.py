"""Copy the saved results into the README's Benchmarks section.

Each block of the README between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``
is replaced by ``benchmarks/results/NAME.md`` as the last run saved it, less its
``###`` headings (the README has its own). The text around the blocks, which says what
the numbers mean, is the README's own. Run after ``make bench``:

    python -m benchmarks.readme [--check]

``--check`` changes nothing and exits 1 if the README is not what the results say.
"""

from __future__ import annotations

import argparse
import re
import sys

from benchmarks.common import RESULTS, ROOT

README = ROOT / "README.md"
BLOCK = re.compile(
    r"(<!-- results:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S
)


def body(name: str) -> str:
    """A results file without its headings, as a README block's body."""
    path = RESULTS / f"{name}.md"
    if not path.exists():
        sys.exit(f"no saved results for {name!r}: run python -m benchmarks.{name} first")
    lines = [line for line in path.read_text().splitlines() if not line.startswith("### ")]
    return "\n".join(lines).strip() + "\n"


def refreshed(text: str) -> str:
    """The README with every results block replaced by the saved results."""
    return BLOCK.sub(lambda m: m.group(1) + "\n" + body(m["name"]) + "\n" + m.group(4), text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    args = parser.parse_args()
    text = README.read_text()
    new = refreshed(text)
    if args.check:
        sys.exit(0 if new == text else "README.md's benchmark tables differ from the results")
    README.write_text(new)
    print(f"README.md: {len(BLOCK.findall(text))} results blocks refreshed")


if __name__ == "__main__":
    main()
