"""Dependencies point inward, as DESIGN.md draws them: ``model`` imports nothing of ours; the
algorithms, the privacy machinery, the filter language and the crypto import only ``model``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "causeway"
ALLOWED = {
    "model": {"model"},
    "privacy": {"model", "privacy"},
    "algorithms": {"model", "algorithms"},
    "query": {"model", "query"},
    "crypto": {"model", "crypto"},
}


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "causeway" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_the_design_allows(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files
    wrong = {
        f"{path.relative_to(SRC)} imports causeway.{dep}"
        for path in files
        for dep in _imported_packages(path) - ALLOWED[package]
    }
    assert not wrong, sorted(wrong)
