"""GLM: federated logistic regression over three nodes against pooled NumPy IRLS and statsmodels.

One run builds three sites of 1,000,000 synthetic rows each (seeded numpy, so every run sees the
same rows): ten standard-normal covariates ``x1..x10`` and a binary ``y`` drawn from a logistic
model. It times, in the same run:

- ``client.glm(...)`` through a real :class:`causeway.LocalFederation` (hub, three in-process
  nodes, signed protocol and release gate on loopback), from the call to its return (the nodes
  read their rows from DuckDB and build the design inside the timed call); starting the
  federation and ingesting the rows is reported separately as setup;
- the physical limit: a plain NumPy IRLS on the 3,000,000 stacked rows, already in memory as one
  design matrix, that takes as many passes over the rows as the federated fit takes rounds, each
  pass computing the linear predictor, the working weights, X'WX, X'Wz and the deviance;
- statsmodels, ``statsmodels.formula.api.glm(formula, stacked, family=Binomial()).fit()`` (the
  formula API, since the federated fit parses a formula too), for reference.

Coefficients and standard errors must match statsmodels to a relative 1e-6, or the run stops.
With ``--node-rss`` it also reports a node's peak resident memory through a whole fit of one site
of that many rows (a fresh process that opens a DuckDB file and runs every round's local step and
release gate), beside the same process's memory before the fit.

Goal (acceptance): the federated fit within 1.5x the pooled NumPy IRLS on the same rows,
``ratio_numpy = federated_s / pooled_numpy_s <= 1.5``, with identical coefficients; the ratio to
statsmodels is reported beside it.

Run::

    .venv/bin/python benchmarks/bench_glm.py                          # full size, print + JSON
    .venv/bin/python benchmarks/bench_glm.py --rows-per-site 50000    # quick check
    .venv/bin/python benchmarks/bench_glm.py --write-docs             # also update docs/benchmarks.md
    .venv/bin/python benchmarks/bench_glm.py --node-rss 1000000 --node-rss 10000000

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import numpy as np
import pandas as pd
import statsmodels
import statsmodels.api as sm
import statsmodels.formula.api as smf
from docs_section import replace_section

import causeway
from causeway.client.client import Progress

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "GLM"
SITES = ("north", "south", "east")
ROWS_PER_SITE = 1_000_000
COVARIATES = 10
SEED = 2026
TOLERANCE = 1e-6
GOAL = "ratio_numpy <= 1.5"
GOAL_RATIO = 1.5
# True coefficients: intercept, then x1..x10, all clearly away from zero so relative checks hold.
BETA = np.array([-0.5, 0.6, -0.4, 0.3, -0.25, 0.2, -0.15, 0.35, -0.3, 0.45, -0.1])
FORMULA = "y ~ " + " + ".join(f"x{i}" for i in range(1, COVARIATES + 1))


def site_frame(rows: int, seed: int) -> pd.DataFrame:
    """One site's rows: float64 covariates x1..x10 and a 0/1 outcome from the logistic model."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, COVARIATES))
    eta = BETA[0] + x @ BETA[1:]
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-eta))).astype(np.float64)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(1, COVARIATES + 1)])
    frame.insert(0, "y", y)
    return frame


def max_rel(a: pd.Series, b: pd.Series) -> float:
    return common.max_rel(a, b.reindex(a.index))


def machine() -> str:
    return common.machine(f"pandas {pd.__version__}", f"statsmodels {statsmodels.__version__}")


def numpy_irls(x: np.ndarray, y: np.ndarray, passes: int) -> tuple[np.ndarray, float, int]:
    """Plain NumPy IRLS for the logistic model on the stacked design ``x`` (intercept first),
    held in memory: :func:`common.logistic_irls` over it as one chunk."""
    return common.logistic_irls(lambda: [(x, y)], passes)


NODE_SCRIPT = """
import json, sys, time
def hwm():  # this process's peak RSS in MB (VmHWM: ru_maxrss would count the forking parent)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from causeway.algorithms.glm import GLM
from causeway.model.contribution import aggregate
from causeway.model.policy import Policy
from causeway.node.store import NodeStore
from causeway.privacy.gate import ReleaseGate
from causeway.algorithms.base import Final
store = NodeStore(sys.argv[1])
info = store.dataset("cohort")
view = store.view("cohort", None, info.dictionary)
alg, gate = GLM(), ReleaseGate(Policy.unrestricted())
spec = alg.prepare({"formula": sys.argv[2], "family": "binomial"}, info.dictionary)
state = alg.initial_state(spec, info.dictionary)
before = hwm()
cache, rounds, t0 = {}, 0, time.perf_counter()
while True:
    local = alg.local(view, spec, state, cache)
    released = gate.release(local, alg.profile, task_id="t", round=rounds, dataset="cohort",
                            algorithm="glm", cohort=view.count(), memo=cache)
    rounds += 1
    outcome = alg.combine(aggregate([released]), spec, state, info.dictionary)
    if isinstance(outcome, Final):
        break
    state = outcome.state
peak = hwm()
print(json.dumps({"before_mb": before, "peak_mb": peak, "rounds": rounds,
                  "seconds": time.perf_counter() - t0}))
"""


def node_rss(rows: int, seed: int, directory: Path) -> dict[str, float]:
    """A node's peak RSS through a whole fit of one site of ``rows`` rows (a fresh process
    opening a DuckDB file written beforehand, in batches of 1,000,000 rows)."""
    from causeway.node.store import NodeStore, dataset_table

    path = directory / f"node-{rows}.duckdb"
    with NodeStore(path) as store:
        done = 0
        batch = 0
        while done < rows:
            size = min(1_000_000, rows - done)
            frame = site_frame(size, seed + 100 + batch)
            if done == 0:
                store.add_dataset("cohort", frame)
            else:
                # appended as it is (add_dataset replaces): the same columns and types
                cursor = store._conn.cursor()
                cursor.register("more", frame)
                cursor.execute(f"INSERT INTO {dataset_table('cohort')} SELECT * FROM more")
                cursor.close()
            done += size
            batch += 1
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", NODE_SCRIPT, str(path), FORMULA],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    path.unlink()
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def docs_section(
    f: dict[str, Any], where: str, day: dt.date, rounds: list[float], busy: str
) -> str:
    met = "met" if f["goal_met"] else "**not met**"
    lines = [
        f"## {SECTION}",
        "",
        f"Federated logistic regression, `{FORMULA}` (binomial), over {f['sites']} in-process "
        f"nodes of {f['rows_per_site']:,} rows each (DuckDB), against a plain NumPy IRLS on the "
        f"{f['sites'] * f['rows_per_site']:,} stacked rows already in memory (the physical "
        "limit: the same passes over the same rows, each computing X'WX, X'Wz and the "
        "deviance) and against statsmodels (`smf.glm(formula, stacked, "
        "family=Binomial()).fit()`). Synthetic seeded data: "
        f"{f['covariates']} standard-normal covariates, `y` drawn from a logistic model.",
        "",
        f"Goal: `{GOAL}` (federated fit within 1.5x the pooled NumPy IRLS), with identical "
        f"coefficients — **{met}**.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| pooled NumPy IRLS ({f['numpy_passes']} passes) | {f['pooled_numpy_s']:.2f} s |",
        f"| pooled statsmodels fit | {f['pooled_statsmodels_s']:.2f} s |",
        f"| federated fit (`client.glm`, call to return) | {f['federated_s']:.2f} s |",
        f"| ratio federated / NumPy IRLS | {f['ratio_numpy']:.2f} |",
        f"| ratio federated / statsmodels | {f['ratio_statsmodels']:.2f} |",
        f"| federated rounds (IRLS iterations) | {f['rounds']} ({f['iterations']}) |",
        f"| statsmodels IRLS iterations | {f['statsmodels_iterations']} |",
        f"| setup (start hub + nodes, ingest; not timed above) | {f['setup_s']:.1f} s |",
        f"| max relative difference, coef / se | {f['max_rel_coef_diff']:.1e} / "
        f"{f['max_rel_se_diff']:.1e} |",
    ]
    for rss in f.get("node_rss", []):
        lines.append(
            f"| one node's peak RSS through a whole fit, {rss['rows']:,} rows | "
            f"{rss['peak_mb']:.0f} MB ({rss['before_mb']:.0f} MB before the fit; "
            f"{rss['seconds']:.1f} s, {rss['rounds']} rounds) |"
        )
    lines.append("")
    if rounds:
        lines += [
            "Federated time per round (seconds between successive rounds seen by the client): "
            + ", ".join(f"{r:.2f}" for r in rounds)
            + ".",
            "",
        ]
    lines += [
        f"Measured {day.isoformat()} on {where}. Load average {f['load_average_1m']} (one "
        "minute, at the end of the run) on cores shared with other runs: absolute times are "
        f"inflated, the ratios compare figures from the same run. {busy}".rstrip(),
        "",
        "Rerun: `.venv/bin/python benchmarks/bench_glm.py --write-docs` "
        "(`--rows-per-site 50000` for a quick check; `--node-rss 1000000` for a node's "
        "memory).",
        "",
    ]
    return "\n".join(lines)


INTRO = """# Benchmarks

What the acceptance benchmarks measure and what they measured last. Each section is written by
its script with `--write-docs`; edit the prose around them freely, the scripts replace only their
own `## ` section.
"""


def write_docs(path: Path, section: str) -> None:
    replace_section(path, SECTION, section, INTRO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--rows-per-site", type=int, default=ROWS_PER_SITE)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--node-rss",
        type=int,
        action="append",
        default=[],
        metavar="ROWS",
        help="also report one node's peak RSS through a fit of ROWS rows (repeatable)",
    )
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the file --write-docs updates")
    parser.add_argument("--busy", default="", help="a note on the machine's load, for the docs")
    args = parser.parse_args(argv)
    rows = args.rows_per_site

    frames = {site: site_frame(rows, args.seed + i) for i, site in enumerate(SITES)}
    print(f"data: {len(SITES)} sites x {rows:,} rows, formula {FORMULA}")

    # Federated: setup (hub, nodes, ingest) timed apart from the fit.
    marks: list[float] = []

    def progress(_p: Progress) -> None:
        marks.append(time.perf_counter())

    t0 = time.perf_counter()
    with causeway.LocalFederation(
        frames, dataset="cohort", policy=causeway.Policy.unrestricted(), progress=progress
    ) as fed:
        setup_s = time.perf_counter() - t0
        print(f"federation setup (not timed in the fit): {setup_s:.1f} s")
        gc.collect()
        t0 = time.perf_counter()
        result = fed.client.glm("cohort", FORMULA, family="binomial")
        end = time.perf_counter()
    federated_s = end - t0
    rounds_dt = list(np.diff([t0, *marks, end]))
    iterations = int(result.iterations)
    rounds = iterations + 1  # one more round evaluates the deviance at the final coefficients
    print(f"federated: {federated_s:.2f} s, {rounds} rounds ({iterations} IRLS iterations)")
    print("  per round (s): " + ", ".join(f"{r:.2f}" for r in rounds_dt))

    # Pooled NumPy IRLS: the stacked design in memory, as many passes as the federated rounds.
    stacked = pd.concat(list(frames.values()), ignore_index=True)
    names = [f"x{i}" for i in range(1, COVARIATES + 1)]
    x = np.column_stack([np.ones(len(stacked)), stacked[names].to_numpy(dtype=np.float64)])
    y = stacked["y"].to_numpy(dtype=np.float64)
    gc.collect()
    t0 = time.perf_counter()
    numpy_beta, _, passes = numpy_irls(x, y, rounds)
    numpy_s = time.perf_counter() - t0
    del x, y
    gc.collect()
    print(f"pooled NumPy IRLS: {numpy_s:.2f} s, {passes} passes")

    # Reference: statsmodels formula API on the stacked rows.
    t0 = time.perf_counter()
    pooled = smf.glm(FORMULA, stacked, family=sm.families.Binomial()).fit()
    pooled_s = time.perf_counter() - t0
    del stacked
    gc.collect()
    print(f"pooled statsmodels: {pooled_s:.2f} s, {pooled.fit_history['iteration']} iterations")

    memory = []
    for size in args.node_rss:
        with tempfile.TemporaryDirectory() as tmp:
            figures_rss = node_rss(size, args.seed, Path(tmp))
        memory.append({"rows": size, **{k: round(v, 1) for k, v in figures_rss.items()}})
        print(
            f"node peak RSS, {size:,} rows: {figures_rss['peak_mb']:.0f} MB "
            f"({figures_rss['before_mb']:.0f} MB before the fit)"
        )

    coef_diff = max_rel(result.coef, pooled.params)
    se_diff = max_rel(result.se, pooled.bse)
    numpy_diff = float(np.max(np.abs(numpy_beta - pooled.params.to_numpy())))
    ratio_numpy = federated_s / numpy_s
    ratio_sm = federated_s / pooled_s
    figures: dict[str, Any] = {
        "benchmark": "glm",
        "rows_per_site": rows,
        "sites": len(SITES),
        "covariates": COVARIATES,
        "pooled_numpy_s": round(numpy_s, 3),
        "numpy_passes": passes,
        "pooled_statsmodels_s": round(pooled_s, 3),
        "federated_s": round(federated_s, 3),
        "setup_s": round(setup_s, 3),
        "ratio_numpy": round(ratio_numpy, 3),
        "ratio_statsmodels": round(ratio_sm, 3),
        "rounds": rounds,
        "iterations": iterations,
        "round_s": [round(float(r), 3) for r in rounds_dt],
        "statsmodels_iterations": int(pooled.fit_history["iteration"]),
        "converged": bool(result.converged),
        "n": int(result.n),
        "max_rel_coef_diff": coef_diff,
        "max_rel_se_diff": se_diff,
        "numpy_max_abs_coef_diff": numpy_diff,
        "node_rss": memory,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "goal": GOAL,
        "goal_met": ratio_numpy <= GOAL_RATIO,
    }
    print(
        f"ratio to NumPy IRLS {ratio_numpy:.2f} ({GOAL}: "
        f"{'met' if figures['goal_met'] else 'NOT met'}), to statsmodels {ratio_sm:.2f}; "
        f"max rel diff coef {coef_diff:.1e}, se {se_diff:.1e}"
    )
    if args.write_docs:
        section = docs_section(figures, machine(), dt.date.today(), rounds_dt, args.busy)
        write_docs(args.docs, section)
        print(f"updated the '{SECTION}' section of {args.docs}")
    print(json.dumps(figures))
    if max(coef_diff, se_diff) > TOLERANCE or result.n != len(SITES) * rows:
        raise SystemExit(
            f"federated fit differs from statsmodels: coef {coef_diff:.2e}, se {se_diff:.2e} "
            f"(tolerance {TOLERANCE:g}), n {result.n} vs {len(SITES) * rows}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
