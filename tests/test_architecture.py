"""The architecture, checked by reading the code: a pure core; modules that say what they hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = [
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pipebus/core").glob("*.py")),
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pipebus/projections").glob("*.py")),
]
IMPURE = (
    "asyncio",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "redis",
    "opentelemetry",
    "textual",
    "alembic",
)


def imported_roots(path: Path) -> set[str]:
    """Top-level packages a module imports at run time (``if TYPE_CHECKING:`` blocks excluded)."""
    tree = ast.parse(path.read_text())
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    roots: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", PURE)
def test_the_core_imports_no_io(module: str) -> None:
    assert not imported_roots(ROOT / module) & set(IMPURE)


def test_every_module_opens_with_a_sentence_saying_what_it_holds() -> None:
    missing = [
        str(p.relative_to(ROOT))
        for p in [*ROOT.glob("pipebus/**/*.py"), *ROOT.glob("inspector/**/*.py")]
        if p.read_text().strip() and ast.get_docstring(ast.parse(p.read_text())) is None
    ]
    assert missing == []
