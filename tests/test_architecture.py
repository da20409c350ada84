"""The architecture, checked by reading the code: a pure core; modules that say what they hold."""

from __future__ import annotations

import ast
import re
import tomllib
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


def contract_layers() -> list[set[str]]:
    """The layers of the import-linter contract in pyproject.toml, top first."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = config["tool"]["importlinter"]["contracts"]
    return [{name.strip() for name in layer.split("|")} for layer in contract["layers"]]


def package_imports(package: str) -> set[str]:
    """The layer packages that modules of ``package`` import (TYPE_CHECKING too)."""
    folder = ROOT / package.replace(".", "/")
    layers = set().union(*contract_layers())
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                found |= {layer for layer in layers if (name + ".").startswith(layer + ".")}
    return found - {package}


PACKAGES = [
    name
    for layer in contract_layers()
    for name in sorted(layer)
    if (ROOT / name.replace(".", "/") / "__init__.py").exists()
]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_says_what_it_may_import_and_imports_no_more(package: str) -> None:
    doc = ast.get_docstring(
        ast.parse((ROOT / package.replace(".", "/") / "__init__.py").read_text())
    )
    assert doc is not None and "May import:" in doc, f"{package} does not say what it may import"
    stated_text = doc.split("May import:", 1)[1].split("\n\n", 1)[0]
    stated = set(re.findall(r"(?:pipebus|inspector)(?:\.\w+)?", stated_text))
    layers = contract_layers()
    index = next(i for i, layer in enumerate(layers) if package in layer)
    below = set().union(*layers[index + 1 :])
    assert stated <= below, f"{package} claims {sorted(stated - below)}, not below it"
    assert package_imports(package) <= stated, sorted(package_imports(package) - stated)
