"""Ingestion: ``causeway.node.ingest.ingest`` of a large CSV against DuckDB's own ``read_csv`` of the
same file into a table.

One run writes a seeded CSV of ``--rows`` rows (default 5,000,000: an integer id, two numeric
columns, an ISO admission date, a ward with 8 levels and a yes/no flag; about 60 bytes a row) with
DuckDB's ``COPY``, then times, each in a fresh subprocess (alternating, ``--reps`` of each, medians):

* **plain**: ``CREATE TABLE t AS SELECT * FROM read_csv(path)`` in a new DuckDB file, DuckDB's
  auto-detection, no validation: the floor of reading this file into a table;
* **ingest**: ``ingest(NodeStore(file), path, dataset=..., dictionary=...)`` with the reviewed
  dictionary (what a steward runs after ``node describe``): the file typed and checked against
  the dictionary in DuckDB's parsing pass (types, whole numbers, dates, boolean words) and once
  written (bounds and finiteness from each number column's range, levels; the text path would
  read it again only if something were refused), its content fingerprint (scheme v2:
  canonical order, SHA-256 over Arrow buffers) computed, its quality report run and the table
  installed in one transaction;
* **ingest, rows shuffled**: the same rows in another order (the generated file is in ``id``
  order, so its fingerprint needs no sort; shuffled, DuckDB sorts the rows for it). Not the goal's
  figure, shown so the cost of the sort is in view.

Each ingest also reports how long each of its stages took (its progress callback).

Peak memory is the subprocess's RSS high-water mark (``resource.getrusage(RUSAGE_SELF).ru_maxrss``,
which includes the interpreter and its imports; the baseline after imports is reported too).

Goals (issue #17): ingest time <= 1.5x plain; peak RSS of the ingest < 1 GB.

Run::

    .venv/bin/python benchmarks/bench_ingest.py                 # 5,000,000 rows
    .venv/bin/python benchmarks/bench_ingest.py --rows 500000   # smaller
    .venv/bin/python benchmarks/bench_ingest.py --write-docs    # also update docs/benchmarks.md

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_roundtrip import machine
from docs_section import replace_section

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "Ingestion"
ROWS = 5_000_000
GOAL_RATIO = 1.5
GOAL_RSS_MB = 1024

# Runs in a fresh interpreter: one measurement, printed as JSON.
CHILD = r"""
import json, resource, sys, time
mode, csv, workdir = sys.argv[1], sys.argv[2], sys.argv[3]
import duckdb
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.node.ingest import ingest
from causeway.node.store import NodeStore
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
stages, marks = {}, []
_usage = resource.getrusage(resource.RUSAGE_SELF)
cpu0 = _usage.ru_utime + _usage.ru_stime
def progress(stage):
    marks.append((stage, time.perf_counter()))
start = time.perf_counter()
marks.append(("opening", start))
if mode == "plain":
    conn = duckdb.connect(workdir + "/plain.duckdb")
    conn.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv}')")
    rows = conn.execute("SELECT count(*) FROM t").fetchone()[0]
    conn.close()
else:
    dictionary = Dictionary((
        Column("id", ColumnType.INTEGER, minimum=0, maximum=10_000_000),
        Column("age", ColumnType.NUMERIC, minimum=0, maximum=120),
        Column("ldl", ColumnType.NUMERIC, minimum=0, maximum=20),
        Column("admission_date", ColumnType.DATE),
        Column("ward", ColumnType.CATEGORICAL, levels=tuple(f"ward_{i}" for i in range(8))),
        Column("smoker", ColumnType.BOOLEAN),
    ))
    with NodeStore(workdir + "/data.duckdb") as store:
        report = ingest(store, csv, dataset="cohort", dictionary=dictionary, progress=progress)
        rows = report.rows
        marks.append(("closing", time.perf_counter()))
seconds = time.perf_counter() - start
marks.append(("end", start + seconds))
for (stage, at), (_next, until) in zip(marks, marks[1:]):
    stages[stage] = stages.get(stage, 0.0) + until - at
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"mode": mode, "seconds": seconds, "rows": rows, "peak_mb": peak, "base_mb": base,
                  "stages": stages, "cpu_s": usage.ru_utime + usage.ru_stime - cpu0}))
"""


def generate(path: Path, rows: int) -> None:
    import duckdb

    conn = duckdb.connect()
    conn.execute("SELECT setseed(0.2026)")
    conn.execute(
        f"COPY (SELECT i AS id, round(18 + random() * 80, 1) AS age, "
        f"round(1 + random() * 6, 2) AS ldl, "
        f"DATE '2015-01-01' + CAST(floor(random() * 3000) AS INTEGER) AS admission_date, "
        f"'ward_' || CAST(floor(random() * 8) AS INTEGER) AS ward, "
        f"CASE WHEN random() < 0.2 THEN 'yes' ELSE 'no' END AS smoker "
        f"FROM range({rows}) t(i)) TO '{path}' (HEADER, DELIMITER ',')"
    )
    conn.close()


def shuffle(path: Path, target: Path) -> None:
    """The same rows in a seeded order that is not ``id`` order."""
    import duckdb

    conn = duckdb.connect()
    conn.execute(
        f"COPY (SELECT * FROM read_csv('{path}') ORDER BY hash(id + 2026)) TO '{target}' "
        "(HEADER, DELIMITER ',')"
    )
    conn.close()


def _in_child(code: str) -> None:
    here = str(Path(__file__).resolve().parent)
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {here!r}); "
            f"from pathlib import Path; from bench_ingest import *; {code}",
        ],
        check=True,
    )


def measure(mode: str, csv: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as workdir:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, mode, str(csv), workdir],
            check=True,
            capture_output=True,
            text=True,
        )
    last = [line for line in out.stdout.splitlines() if line.startswith("{")][-1]
    return dict(json.loads(last))


def _stages(runs: list[dict[str, Any]]) -> dict[str, float]:
    names = [k for run in runs for k in run.get("stages", {})]
    return {
        name: statistics.median(run.get("stages", {}).get(name, 0.0) for run in runs)
        for name in dict.fromkeys(names)
    }


def docs_section(figures: dict[str, Any], host: dict[str, Any]) -> str:
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in figures["ingest_stages_s"].items())
    shuffled = ", ".join(f"{k} {v:.2f} s" for k, v in figures["shuffled_stages_s"].items())
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            "`benchmarks/bench_ingest.py`: `node ingest` (`causeway.node.ingest.ingest`) of a "
            f"generated CSV of {figures['rows']:,} rows ({figures['file_mb']:.0f} MB: an integer "
            "id, two numeric columns, an ISO date, a ward with 8 levels, a yes/no flag) with its "
            "reviewed dictionary, against DuckDB's own `read_csv` of the same file into a table "
            "(auto-detected types, no validation). Each measurement runs in a fresh subprocess, "
            f"alternating, medians of {figures['reps']}; peak memory is the subprocess's RSS "
            "high-water mark (`getrusage`), interpreter and imports included.",
            "",
            "| | time (s) | peak RSS (MB) |",
            "| --- | ---: | ---: |",
            f"| DuckDB `read_csv` into a table | {figures['plain_s']:.2f} | "
            f"{figures['plain_peak_mb']:.0f} |",
            f"| `ingest` (typed and checked while parsed, fingerprinted, assessed, installed) | "
            f"{figures['ingest_s']:.2f} | {figures['ingest_peak_mb']:.0f} |",
            f"| `ingest`, the same rows shuffled (the fingerprint sorts them) | "
            f"{figures['shuffled_s']:.2f} | {figures['shuffled_peak_mb']:.0f} |",
            "",
            f"Ratio {figures['ratio']:.2f}x (goal <= {GOAL_RATIO}x: "
            f"{'met' if figures['ratio_goal_met'] else 'not met'}); rows shuffled "
            f"{figures['ratio_shuffled']:.2f}x. Ingest peak RSS "
            f"{figures['ingest_peak_mb']:.0f} MB, {figures['ingest_peak_mb'] / figures['file_mb']:.1f}x "
            f"the file (goal < {GOAL_RSS_MB} MB: {'met' if figures['rss_goal_met'] else 'not met'}); "
            f"the interpreter with its imports alone is {figures['base_mb']:.0f} MB. "
            f"Stages (medians): {stages}; shuffled: {shuffled}. "
            "`reading` is one DuckDB pass that parses, types and checks every value (the text "
            "path's rules, in SQL, in the same pass) and writes the typed table, then checks what "
            "is cheaper to check there (each number column's range from the table's statistics, "
            "the levels on the compressed column); `fingerprinting` hashes the typed columns' "
            "Arrow buffers with SHA-256, two columns at a time (no sort when the first column "
            "already increases, a DuckDB sort of the typed rows otherwise); `assessing` is the "
            "quality report's one aggregate pass; `closing` is DuckDB's checkpoint to disk. "
            f"Load average when run: {figures['load_1min']:.1f} (1 min) on {host['cores']} cores; "
            "CPU time (user + system, all threads, after imports), less sensitive to other work "
            f"on the machine: plain {figures['plain_cpu_s']:.2f} s, ingest "
            f"{figures['ingest_cpu_s']:.2f} s ({figures['cpu_ratio']:.2f}x), shuffled "
            f"{figures['shuffled_cpu_s']:.2f} s ({figures['cpu_ratio_shuffled']:.2f}x).",
            "",
            f"Machine: {host['cores']} cores, {host['cpu']}, {host['os']}, Python {host['python']}, "
            f"DuckDB {host['duckdb']}.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-csv-") as tmp:
        csv = Path(tmp) / "cohort.csv"
        mixed = Path(tmp) / "shuffled.csv"
        # in a child: Linux carries a process's RSS high-water mark across fork and exec, so
        # writing the files here would raise every measured child's peak to this one's
        _in_child(
            f"generate(Path({str(csv)!r}), {args.rows}); shuffle(Path({str(csv)!r}), Path({str(mixed)!r}))"
        )
        file_mb = csv.stat().st_size / 2**20
        print(f"{args.rows:,} rows, {file_mb:.0f} MB", flush=True)
        plain, ingested, shuffled = [], [], []
        loads = []
        for rep in range(args.reps):
            loads.append(os.getloadavg()[0])
            plain.append(measure("plain", csv))
            ingested.append(measure("ingest", csv))
            shuffled.append(measure("ingest", mixed))
            print(
                f"rep {rep + 1}: plain {plain[-1]['seconds']:.2f} s "
                f"({plain[-1]['peak_mb']:.0f} MB), ingest {ingested[-1]['seconds']:.2f} s "
                f"({ingested[-1]['peak_mb']:.0f} MB) {ingested[-1]['stages']}, shuffled "
                f"{shuffled[-1]['seconds']:.2f} s {shuffled[-1]['stages']}",
                flush=True,
            )
    assert all(m["rows"] == args.rows for m in plain + ingested + shuffled)
    shuffled_s = statistics.median(m["seconds"] for m in shuffled)
    cpu = {
        name: statistics.median(m["cpu_s"] for m in runs)
        for name, runs in (("plain", plain), ("ingest", ingested), ("shuffled", shuffled))
    }
    plain_s = statistics.median(m["seconds"] for m in plain)
    ingest_s = statistics.median(m["seconds"] for m in ingested)
    ingest_peak = max(m["peak_mb"] for m in ingested)
    figures = {
        "benchmark": "ingest",
        "rows": args.rows,
        "reps": args.reps,
        "file_mb": round(file_mb, 1),
        "plain_s": round(plain_s, 3),
        "ingest_s": round(ingest_s, 3),
        "ratio": round(ingest_s / plain_s, 3),
        "plain_peak_mb": round(max(m["peak_mb"] for m in plain), 1),
        "ingest_peak_mb": round(ingest_peak, 1),
        "base_mb": round(max(m["base_mb"] for m in ingested), 1),
        "shuffled_s": round(shuffled_s, 3),
        "ratio_shuffled": round(shuffled_s / plain_s, 3),
        "shuffled_peak_mb": round(max(m["peak_mb"] for m in shuffled), 1),
        "ingest_stages_s": {k: round(v, 3) for k, v in _stages(ingested).items()},
        "shuffled_stages_s": {k: round(v, 3) for k, v in _stages(shuffled).items()},
        "load_1min": round(statistics.median(loads), 2),
        "plain_cpu_s": round(cpu["plain"], 3),
        "ingest_cpu_s": round(cpu["ingest"], 3),
        "shuffled_cpu_s": round(cpu["shuffled"], 3),
        "cpu_ratio": round(cpu["ingest"] / cpu["plain"], 3),
        "cpu_ratio_shuffled": round(cpu["shuffled"] / cpu["plain"], 3),
        "goal_ratio": GOAL_RATIO,
        "goal_peak_mb": GOAL_RSS_MB,
        "ratio_goal_met": ingest_s / plain_s <= GOAL_RATIO,
        "rss_goal_met": ingest_peak < GOAL_RSS_MB,
    }
    if args.write_docs:
        replace_section(DOCS, SECTION, docs_section(figures, machine()), "# Benchmarks\n")
        print(f"updated the '{SECTION}' section of {DOCS}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
