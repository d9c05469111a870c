"""``causeway --help`` and the light commands start fast (#18): the CLI module imports none of the
heavy stacks at import time, and lists the analyses without importing them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from causeway import cli
from causeway.algorithms import ALGORITHMS

HEAVY = [
    "fastapi",
    "sqlalchemy",
    "alembic",
    "scipy",
    "formulaic",
    "pandas",
    "numpy",
    "statsmodels",
    "duckdb",
    "uvicorn",
    "matplotlib",  # only with --plot
]


def _imported_by(code: str) -> list[str]:
    """The heavy top-level packages a fresh interpreter holds after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=True,
    )
    found: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def test_importing_the_cli_imports_no_heavy_module() -> None:
    assert _imported_by("import causeway.cli") == []


def test_help_and_the_run_listing_import_no_heavy_module() -> None:
    for args in (["--help"], ["run", "--help"], ["node", "--help"], ["hub", "--help"]):
        code = (
            "import sys\nfrom causeway.cli import app\n"
            f"try:\n    app({args!r})\nexcept SystemExit:\n    pass"
        )
        assert _imported_by(code) == [], args


def test_the_run_listing_names_every_algorithm_with_its_summary() -> None:
    assert {name: a.summary() for name, a in ALGORITHMS.items()} == cli.ANALYSES
    shown = CliRunner().invoke(cli.app, ["run", "--help"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0
    for name in ALGORITHMS:
        assert name.replace("_", "-") in shown.output
