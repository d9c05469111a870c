"""CLI start-up: wall time of ``causeway --help``, ``causeway run --help`` and ``causeway node
--help``, each in a fresh process, against what the old layout paid before doing anything.

The old ``causeway/cli.py`` imported pandas, the algorithms (SciPy, formulaic), the client and
the node's store (DuckDB) at top level, and ``import causeway`` itself imported LocalFederation
(FastAPI, SQLAlchemy, Alembic, uvicorn): every command, ``--help`` included, paid for all of it.
The old layout is measured here, in the same run, as a fresh interpreter importing exactly those
modules (:data:`OLD_TOP_LEVEL`: what the old ``cli.py`` and ``causeway/__init__.py`` imported at
top level); the floor is a fresh interpreter that imports nothing (``python -c pass``).

Every figure is the median of ``--reps`` runs, the commands taken in turn (so drift touches all
alike). ``--importtime`` also prints the ten slowest imports of ``causeway --help``
(``python -X importtime``).

Goal (issue #18): ``causeway --help`` and simple commands under 0.5 s.

Run::

    .venv/bin/python benchmarks/bench_cli.py                 # table and JSON line
    .venv/bin/python benchmarks/bench_cli.py --write-docs    # also update docs/benchmarks.md

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from docs_section import replace_section
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "CLI start-up"
GOAL_S = 0.5
COMMANDS = {
    "causeway --help": ["--help"],
    "causeway run --help": ["run", "--help"],
    "causeway node --help": ["node", "--help"],
}
# what the old cli.py imported at top level, and what the old `import causeway` pulled in
OLD_TOP_LEVEL = (
    "pandas",
    "typer",
    "rich.console",
    "rich.progress",
    "causeway.algorithms",
    "causeway.algorithms.glm",
    "causeway.algorithms.meta",
    "causeway.client.admin",
    "causeway.client.applications",
    "causeway.client.client",
    "causeway.crypto.keys",
    "causeway.crypto.secagg",
    "causeway.model.catalog",
    "causeway.model.dictionary",
    "causeway.model.disclosure",
    "causeway.model.errors",
    "causeway.model.levels",
    "causeway.node.config",
    "causeway.node.store",
    "causeway.query",
    "causeway.render",
    "causeway.local",  # the old causeway/__init__.py
)
console = Console(stderr=True)


def wall(argv: list[str]) -> float:
    """Seconds from starting ``argv`` to its exit (it must succeed)."""
    start = time.perf_counter()
    done = subprocess.run(
        argv, capture_output=True, env={**os.environ, "COLUMNS": "100"}, timeout=120
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr.decode(errors='replace')}")
    return elapsed


def slowest_imports(args: list[str], top: int = 10) -> list[tuple[str, float]]:
    """The ``top`` imports with the largest cumulative time in ``python -X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "causeway", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = (part.strip() for part in line[12:].split("|"))
        rows.append((name, int(cumulative) / 1e6))
    return sorted(rows, key=lambda row: -row[1])[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--reps", type=int, default=9, help="fresh processes per figure")
    parser.add_argument("--importtime", action="store_true", help="the slowest imports too")
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be >= 1")

    runs: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        **{name: [sys.executable, "-m", "causeway", *rest] for name, rest in COMMANDS.items()},
        "old layout: its top-level imports": [
            sys.executable,
            "-c",
            "import " + ", ".join(OLD_TOP_LEVEL),
        ],
    }
    for argv_ in runs.values():  # warm the file cache and the bytecode
        wall(argv_)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.reps):
        for name, argv_ in runs.items():
            samples[name].append(wall(argv_))
    median = {name: statistics.median(found) for name, found in samples.items()}
    old = median["old layout: its top-level imports"]
    slowest = max(median[name] for name in COMMANDS)
    figures: dict[str, Any] = {
        "benchmark": "cli",
        "reps": args.reps,
        "interpreter_s": round(median["python -c pass"], 3),
        "help_s": round(median["causeway --help"], 3),
        "run_help_s": round(median["causeway run --help"], 3),
        "node_help_s": round(median["causeway node --help"], 3),
        "old_layout_imports_s": round(old, 3),
        "speedup_help": round(old / median["causeway --help"], 1),
        "goal": f"causeway --help and simple commands under {GOAL_S:g} s",
        "goal_met": slowest < GOAL_S,
    }
    table = Table(title=f"CLI start-up, fresh processes (median of {args.reps})")
    table.add_column("what")
    table.add_column("wall time", justify="right")
    for name in runs:
        table.add_row(name, f"{median[name] * 1000:.0f} ms")
    console.print(table)
    if args.importtime:
        for name, seconds in slowest_imports(["--help"]):
            console.print(f"  {seconds * 1000:7.1f} ms  {name}")
    if args.write_docs:
        replace_section(DOCS, SECTION, docs_section(figures, median), "# Benchmarks\n")
        console.print(f"updated the '{SECTION}' section of {DOCS}")
    sys.stdout.flush()
    print(json.dumps(figures), flush=True)
    return 0


def docs_section(f: dict[str, Any], median: dict[str, float]) -> str:
    rows = "\n".join(f"| `{name}` | {seconds * 1000:.0f} ms |" for name, seconds in median.items())
    verdict = "met" if f["goal_met"] else "NOT met"
    return f"""## {SECTION}

How long a command takes before it does anything (`benchmarks/bench_cli.py`): wall time of a fresh process, median of {f["reps"]} runs taken in turn. The CLI imports only Typer, Rich and the error types at start; each command imports what it needs (the analysis stack, the hub's, the node's), and `causeway run --help` lists the analyses without importing them. *Old layout* is a fresh interpreter importing what the old `cli.py` and `causeway/__init__.py` imported at top level (pandas, the algorithms with SciPy and formulaic, the client, DuckDB, FastAPI, SQLAlchemy, Alembic, uvicorn), which every command, `--help` included, used to pay; `python -c pass` is the floor.

| what | wall time |
| --- | ---: |
{rows}

**Goal: `causeway --help` and simple commands under {GOAL_S:g} s — {verdict}** (`causeway --help` {f["help_s"] * 1000:.0f} ms, {f["speedup_help"]:g}x faster than the old layout's imports alone).

Measured {time.strftime("%Y-%m-%d")} on {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}.

Last result line:

```json
{json.dumps(f)}
```
"""


if __name__ == "__main__":
    sys.exit(main())
