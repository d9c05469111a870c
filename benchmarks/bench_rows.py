"""How cost grows with rows: one node holding 1M to 100M rows, count, summary and a logistic GLM,
each against the pooled computation on the same rows in the same run.

For each size the benchmark starts a real federation (:class:`causeway.LocalFederation` with
``processes=True``: a hub in this process, the node as its own ``causeway node serve`` process,
with the node's default policy and memory settings: DuckDB held to 1 GB, a model's rows held in
memory up to a 1 GiB design budget and read again from DuckDB in chunks each round beyond it).
Its dataset is generated inside the node's DuckDB file by one SQL statement, seeded and
deterministic whatever DuckDB's threads do: ten standard-normal covariates (Box-Muller on hashes
of the row number) and a 0/1 ``y`` from a logistic model. It times, from the call to its return:

- ``client.count("cohort")`` against ``SELECT count(*)`` on the same file (median of warm runs);
- ``client.summary("cohort", "x1")`` against one DuckDB query of n, mean and sd (median);
- ``client.glm("cohort", "y ~ x1 + ... + x10", family="binomial")`` against a plain NumPy IRLS
  (:func:`common.logistic_irls`, as many passes as the federated fit's rounds, over blocks of
  16,384 rows as a node takes its sums) whose rows come
  from the same DuckDB file: held in memory when they fit the node's design budget (read once,
  inside the timed span) and otherwise read again in chunks on every pass, as the node does.
  100M x 11 float64 is 8.8 GB: neither side holds it.

It records the node process's peak resident memory (VmHWM) through the size's whole run. The
pooled side runs after the federation stops (DuckDB lets one process open the file), on the same
file; coefficients must match the pooled fit's to 1e-8 and counts exactly, or the run stops.

Goal (issue #20, item 5): at 100,000,000 rows the node's peak memory stays under 4 GB; the
ratios (federated / pooled) are reported per size (item 6).

Run::

    .venv/bin/python benchmarks/bench_rows.py --rows 1e6,3e6          # some sizes
    .venv/bin/python benchmarks/bench_rows.py --write-docs            # all sizes, then the docs
    .venv/bin/python benchmarks/bench_rows.py --write-docs --rows 1e8 # one more size, resumed
    .venv/bin/python benchmarks/bench_rows.py --rows 1e6,3e6 --design-budget-mb 64 \
        --results /tmp/rows-64.json                                  # the chunked path, small

Each size's figures are kept in ``--results`` (one JSON object per size): a later run measures
only the sizes asked for and writes the docs from every size kept (``--again`` remeasures).
The last line printed is one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from docs_section import replace_section

import causeway
from causeway.algorithms import chunked
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.node.columns import select_complete
from causeway.node.config import CONFIG_FILE
from causeway.node.store import DESIGN_BUDGET, dataset_table

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = DOCS.parent / "benchmarks-rows.png"
RESULTS = Path(tempfile.gettempdir()) / "causeway-bench-rows.json"
SECTION = "Rows"
SIZES = (1_000_000, 3_000_000, 10_000_000, 30_000_000, 100_000_000)
COVARIATES = 10
NAMES = [f"x{i}" for i in range(1, COVARIATES + 1)]
FORMULA = "y ~ " + " + ".join(NAMES)
BETA = (-0.5, 0.6, -0.4, 0.3, -0.25, 0.2, -0.15, 0.35, -0.3, 0.45, -0.1)
SEED = 2026
REPS = 3
GOAL_ROWS = 100_000_000
GOAL_MB = 4096
TOLERANCE = 1e-8
# the baseline's arithmetic over blocks of rows of this size, as a node's (algorithms/blocks.py)
BLOCK_ROWS = 16_384
# covariates are clipped to +-BOUND (the dictionary's bounds: 57 rows in 100M lie beyond 5 sd),
# which keeps the hub's coefficients within the node's +-36 linear-predictor check
BOUND = 5.0


def dictionary() -> Dictionary:
    columns = [Column("y", ColumnType.NUMERIC, minimum=0.0, maximum=1.0)]
    columns += [Column(n, ColumnType.NUMERIC, minimum=-BOUND, maximum=BOUND) for n in NAMES]
    return Dictionary(tuple(columns))


def generate_sql(rows: int, seed: int, table: str) -> str:
    """One statement creating ``table`` with ``rows`` seeded rows: a uniform in (0, 1) from the
    hash of (seed, row, draw), normals by Box-Muller clipped to +-BOUND, ``y`` from the logistic
    model."""

    def uniform(draw: int) -> str:
        # one integer per (seed, row, draw), hashed alone (DuckDB's hash of several values
        # mixes them poorly: its draws were correlated)
        key = f"({seed} * 4294967296 + i * 32 + {draw})::UBIGINT"
        return f"((hash({key}) >> 11)::DOUBLE + 0.5) / 9007199254740992.0"

    normals = [
        f"greatest(-{BOUND}, least({BOUND}, sqrt(-2 * ln({uniform(2 * j)})) "
        f"* cos(2 * pi() * {uniform(2 * j + 1)}))) AS x{j + 1}"
        for j in range(COVARIATES)
    ]
    eta = " + ".join([f"{BETA[0]}"] + [f"({BETA[j + 1]}) * x{j + 1}" for j in range(COVARIATES)])
    return (
        f"CREATE OR REPLACE TABLE {table} AS SELECT "
        f"CASE WHEN {uniform(99)} < 1 / (1 + exp(-({eta}))) THEN 1.0 ELSE 0.0 END AS y, "
        f"{', '.join(NAMES)} FROM (SELECT i, {', '.join(normals)} "
        f"FROM range({rows}) AS r(i))"
    )


class BigNodeFederation(causeway.LocalFederation):
    """A federation whose one node's dataset is replaced, before the node process starts, by
    ``rows`` generated rows (DuckDB SQL into the node's own file)."""

    def __init__(
        self, rows: int, seed: int, directory: Path, progress: Any, budget_mb: int
    ) -> None:
        tiny = {n: [0.5, -0.5, 0.25, -0.25] for n in NAMES}
        import pandas as pd

        frame = pd.DataFrame({"y": [0.0, 1.0, 0.0, 1.0], **tiny})
        super().__init__(
            {"site": frame},
            dataset="cohort",
            dictionary=dictionary(),
            directory=directory,
            processes=True,
            round_timeout=3600.0,
            site_silence=3600.0,
            progress=progress,
        )
        self.rows, self.seed, self.generate_s = rows, seed, 0.0
        self.budget_mb = budget_mb

    def _spawn_node(self, directory: Path, site: str) -> None:
        t0 = time.perf_counter()
        conn = duckdb.connect(str(directory / "data.duckdb"))
        try:
            conn.execute("SET memory_limit = '4GB'")
            conn.execute("SET preserve_insertion_order = true")
            conn.execute(generate_sql(self.rows, self.seed, dataset_table("cohort")))
            # the catalog's row count (its content fingerprint is left as the tiny frame's)
            conn.execute("UPDATE causeway_datasets SET rows = ? WHERE name = 'cohort'", [self.rows])
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        self.generate_s = time.perf_counter() - t0
        config = json.loads((directory / CONFIG_FILE).read_text())
        (directory / CONFIG_FILE).write_text(
            json.dumps({**config, "design_budget_mb": self.budget_mb})
        )
        super()._spawn_node(directory, site)


def median_time(call: Any, reps: int) -> tuple[float, Any]:
    """The median of ``reps`` timed calls after one warm-up, and the last call's value."""
    value = call()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        value = call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def cpu_s(pid: int) -> float:
    """A process's CPU time so far (user and system), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def federated(rows: int, seed: int, reps: int, directory: Path, budget_mb: int) -> dict[str, Any]:
    marks: list[float] = []
    failures: dict[str, str] = {}
    t0 = time.perf_counter()
    fed = BigNodeFederation(
        rows, seed, directory, lambda _p: marks.append(time.perf_counter()), budget_mb
    )
    with fed:
        setup_s = time.perf_counter() - t0
        fed.client.timeout = 4 * 3600.0  # a GLM of 100M rows takes longer than the default wait
        (pid,) = fed.node_pids
        before_mb = common.peak_rss_mb(pid)
        count_s, count = median_time(lambda: fed.client.count("cohort"), reps)
        try:
            summary_s, summary = median_time(lambda: fed.client.summary("cohort", "x1"), reps)
        except causeway.CausewayError as exc:  # a finding: recorded with the node's log
            summary_s, summary = math.nan, None
            log = directory / "nodes" / "site" / "node.log"
            failures["summary"] = f"{exc} | node log: {log.read_text()[-1500:]}"
        gc.collect()
        marks.clear()
        cpu0 = cpu_s(pid)
        t0 = time.perf_counter()
        fit = fed.client.glm("cohort", FORMULA, family="binomial")
        end = time.perf_counter()
        node_cpu = cpu_s(pid) - cpu0
        peak_mb = common.peak_rss_mb(pid)
    return {
        "generate_s": round(fed.generate_s, 2),
        "setup_s": round(setup_s, 2),
        "node_rss_before_mb": round(before_mb),
        "node_peak_mb": round(peak_mb),
        "count_s": count_s,
        "count": int(count.total),
        "summary_s": summary_s,
        "summary": None
        if summary is None
        else (int(summary.n), float(summary.mean), float(summary.sd)),
        "failures": failures,
        "glm_s": end - t0,
        "glm_node_cpu_s": node_cpu,
        "glm_rounds": int(fit.iterations) + 1,
        "glm_round_s": [round(float(r), 3) for r in np.diff([t0, *marks, end])],
        "coef": [float(v) for v in fit.coef],
        "se": [float(v) for v in fit.se],
    }


def design_chunks(
    conn: duckdb.DuckDBPyConnection, rows: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The pooled rows of the node's file as (design with intercept, y) chunks of ``rows``."""
    # the node's own query of the complete cases (DuckDB streams this filtered scan several
    # times faster than the plain projection), streamed: a relation's reader, not a DB-API
    # result's, which would copy every row first
    sql = select_complete([None, *NAMES, "y"], dataset_table("cohort"), "TRUE")
    reader = conn.sql(sql).to_arrow_reader(1 << 17)
    block, at = np.empty((rows, COVARIATES + 2), order="F"), 0
    for batch in reader:  # chunks of ``rows`` rows exactly, as the node's (columns.chunks)
        m, taken = batch.num_rows, 0
        while taken < m:
            step = min(m - taken, rows - at)
            for j in range(COVARIATES + 2):
                column = batch.column(j).slice(taken, step)
                block[at : at + step, j] = column.to_numpy(zero_copy_only=False)
            at, taken = at + step, taken + step
            if at == rows:
                yield block[:, :-1], np.ascontiguousarray(block[:, -1])
                block, at = np.empty((rows, COVARIATES + 2), order="F"), 0
    if at:
        yield block[:at, :-1], np.ascontiguousarray(block[:at, -1])


def held_design(conn: duckdb.DuckDBPyConnection, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """All the pooled rows in memory: the design (intercept first) and y."""
    ((x, y),) = list(design_chunks(conn, rows))
    return x, y


def pooled(path: Path, rows: int, passes: int, reps: int, budget: int) -> dict[str, Any]:
    """The same computations on the node's file, in this process, with the node's DuckDB
    settings (1 GB) and its connection kept open throughout, as the node keeps its store."""
    table = dataset_table("cohort")
    conn = duckdb.connect(str(path), read_only=True)
    try:
        conn.execute("SET memory_limit = '1GB'")
        count_s, count = median_time(
            lambda: conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0], reps
        )
        summary_s, summary = median_time(
            lambda: conn.execute(
                f"SELECT count(x1), avg(x1), stddev_samp(x1) FROM {table}"
            ).fetchall()[0],
            reps,
        )
        width = COVARIATES + 2
        held = rows * chunked.row_bytes(width) <= budget
        chunk = chunked.chunk_rows(budget, width)
        gc.collect()
        t0 = time.perf_counter()
        if held:
            x, y = held_design(conn, rows)  # the rows read once, inside the timed span
            beta, _, _ = common.logistic_irls(lambda: [(x, y)], passes, BLOCK_ROWS)
            del x, y
        else:
            read = lambda: design_chunks(conn, chunk)  # noqa: E731
            beta, _, _ = common.logistic_irls(read, passes, BLOCK_ROWS)
        glm_s = time.perf_counter() - t0
    finally:
        conn.close()
    return {
        "pooled_count_s": count_s,
        "pooled_count": int(count),
        "pooled_summary_s": summary_s,
        "pooled_summary": (int(summary[0]), float(summary[1]), float(summary[2])),
        "pooled_glm_s": glm_s,
        "pooled_glm_held": held,
        "pooled_coef": [float(v) for v in beta],
    }


def measure(
    rows: int, seed: int, reps: int, budget_mb: int = DESIGN_BUDGET >> 20
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="causeway-rows-", dir=os.environ.get("TMPDIR")) as tmp:
        fed = federated(rows, seed, reps, Path(tmp), budget_mb)
        path = Path(tmp) / "nodes" / "site" / "data.duckdb"
        size_mb = path.stat().st_size / 2**20
        base = pooled(path, rows, fed["glm_rounds"], reps, budget_mb << 20)
    coef_diff = common.max_rel(fed["coef"], base["pooled_coef"])
    if fed["count"] != rows or base["pooled_count"] != rows or coef_diff > TOLERANCE:
        raise SystemExit(
            f"{rows:,} rows: counts {fed['count']}/{base['pooled_count']}, coef {coef_diff:.1e}"
        )
    n, mean, sd = fed["summary"] or (base["pooled_summary"][0], math.nan, math.nan)
    pn, pmean, psd = base["pooled_summary"]
    summary_diff = max(abs(mean - pmean), abs(sd - psd) / psd)
    if n != pn or (summary_diff > 1e-9 and fed["summary"] is not None):
        raise SystemExit(f"{rows:,} rows: summary {fed['summary']} vs {base['pooled_summary']}")
    row = {
        "rows": rows,
        "file_mb": round(size_mb),
        **{k: v for k, v in fed.items() if k not in ("coef", "se", "summary", "count")},
        **{k: v for k, v in base.items() if k not in ("pooled_coef", "pooled_summary")},
        "count_ratio": fed["count_s"] / base["pooled_count_s"],
        "summary_ratio": fed["summary_s"] / base["pooled_summary_s"],
        "glm_ratio": fed["glm_s"] / base["pooled_glm_s"],
        "node_design": "held" if base["pooled_glm_held"] else "chunked",
        "design_budget_mb": budget_mb,
        "max_rel_coef_diff": coef_diff,
        "summary_diff": summary_diff,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "day": dt.date.today().isoformat(),
    }
    return {k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in row.items()}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Time against rows (log-log), federated solid and pooled dashed, without pyplot."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    n = [r["rows"] for r in rows]
    for key, label, colour in (
        ("count", "count", "tab:blue"),
        ("summary", "summary", "tab:green"),
        ("glm", "logistic GLM", "tab:red"),
    ):
        ax.plot(n, [r[f"{key}_s"] for r in rows], "o-", color=colour, label=f"{label}, federated")
        ax.plot(
            n,
            [r[f"pooled_{key}_s"] for r in rows],
            "s--",
            color=colour,
            alpha=0.6,
            label=f"{label}, pooled",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows at the node")
    ax.set_ylabel("seconds")
    ax.set_title("Time against rows: one node vs the pooled computation (same run)")
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    big = [r for r in rows if r["rows"] >= GOAL_ROWS]
    met = bool(big) and all(r["node_peak_mb"] < GOAL_MB for r in big)
    return {
        "benchmark": "rows",
        "per_size": rows,
        "goal": f"node_peak_mb < {GOAL_MB} at {GOAL_ROWS:,} rows (count, summary, GLM)",
        "goal_met": met if big else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def docs_section(figures: dict[str, Any], where: str, busy: str) -> str:
    rows = figures["per_size"]
    met = figures["goal_met"]
    verdict = "met" if met else "not measured" if met is None else "**not met**"
    lines = [
        f"## {SECTION}",
        "",
        "`benchmarks/bench_rows.py`: one node holding 1M to 100M rows (10 standard-normal "
        "covariates, a 0/1 `y`; generated in the node's DuckDB file by one seeded SQL statement) "
        "as its own `causeway node serve` process with its default policy and memory settings "
        "(DuckDB held to 1 GB; a model's rows held up to a 1 GiB design budget, beyond it read "
        "again from DuckDB in chunks every round). Federated `count`, `summary` of one column "
        f"and the logistic GLM `{FORMULA}`, from the client's call to its return, against the "
        "pooled computation on the same file in the same run: `SELECT count(*)`, one DuckDB "
        "query of n, mean and sd, and a NumPy IRLS of as many passes as the federated rounds "
        f"over blocks of {BLOCK_ROWS:,} rows (its rows read from the file inside the timed span: "
        "held when they fit the same budget, else read again in chunks each pass). Count and summary: medians of "
        "warm runs.",
        "",
        f"Goal (issue #20): {figures['goal']} — **{verdict}**.",
        "",
        "| rows | count | pooled | ratio | summary | pooled | ratio | GLM | pooled NumPy | ratio "
        "| rounds | node design | node peak RSS | DuckDB file | generate |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rows']:,} | {r['count_s'] * 1000:.0f} ms | {r['pooled_count_s'] * 1000:.1f} ms "
            f"| {r['count_ratio']:.1f} | {r['summary_s'] * 1000:.0f} ms "
            f"| {r['pooled_summary_s'] * 1000:.0f} ms | {r['summary_ratio']:.1f} "
            f"| {r['glm_s']:.1f} s | {r['pooled_glm_s']:.1f} s | {r['glm_ratio']:.2f} "
            f"| {r['glm_rounds']} | {r['node_design']} | {r['node_peak_mb']:,} MB "
            f"| {r['file_mb']:,} MB | {r['generate_s']:.0f} s |"
        )
    for r in rows:
        for what, why in (r.get("failures") or {}).items():
            lines += ["", f"**{r['rows']:,} rows, {what} failed**: {why[:400]}"]
    lines += [
        "",
        f"![time against rows, federated and pooled]({PLOT.name})",
        "",
        "GLM time per round (seconds between the rounds the client saw), by size: "
        + "; ".join(
            f"{r['rows']:,}: " + ", ".join(f"{s:.2f}" for s in r["glm_round_s"]) for r in rows
        )
        + ".",
        "",
        f"Measured on {where}; load average (one minute) at the end of each size: "
        + ", ".join(f"{r['load_average_1m']}" for r in rows)
        + f" (measured {', '.join(sorted({r['day'] for r in rows}))}). {busy}".rstrip(),
        "",
        "Rerun: `.venv/bin/python benchmarks/bench_rows.py --write-docs` (`--rows 1e6,3e6` for "
        "some sizes; each size is kept in `--results`, so a later run adds sizes).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    # a terminated run stops its federation (and so its node process) on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument(
        "--rows", default=",".join(f"{s:g}" for s in SIZES), help="sizes, comma-separated (1e6,3e6)"
    )
    parser.add_argument("--reps", type=int, default=REPS, help="timed counts and summaries")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--results", type=Path, default=RESULTS, help="sizes kept between runs")
    parser.add_argument("--again", action="store_true", help="remeasure sizes already kept")
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--busy", default="", help="a note on the machine's load, for the docs")
    parser.add_argument(
        "--design-budget-mb",
        type=int,
        default=DESIGN_BUDGET >> 20,
        help="the node's design budget (smaller: the chunked path at fewer rows)",
    )
    args = parser.parse_args(argv)
    sizes = [int(float(s)) for s in args.rows.split(",") if s]
    kept: dict[int, dict[str, Any]] = {}
    if args.results.exists():
        for line in args.results.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                kept[int(row["rows"])] = row
    for rows in sizes:
        if rows in kept and not args.again:
            print(f"{rows:,} rows: kept from {args.results}", file=sys.stderr)
            continue
        print(f"{rows:,} rows ...", file=sys.stderr, flush=True)
        row = measure(rows, args.seed, args.reps, args.design_budget_mb)
        print(json.dumps(row), file=sys.stderr, flush=True)
        kept[rows] = row
        args.results.write_text("".join(json.dumps(kept[k]) + "\n" for k in sorted(kept)))
    measured = [kept[k] for k in sorted(kept)]
    figures = summary(measured)
    if args.write_docs and measured:
        plot(measured, args.docs.parent / PLOT.name)
        where = common.machine(f"duckdb {duckdb.__version__}")
        replace_section(args.docs, SECTION, docs_section(figures, where, args.busy), "")
        print(f"updated the '{SECTION}' section of {args.docs} and {PLOT.name}", file=sys.stderr)
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
