"""GLM: federated logistic regression over three nodes against statsmodels on the stacked rows.

One run builds three sites of 1,000,000 synthetic rows each (seeded numpy, so every run sees the
same rows): ten standard-normal covariates ``x1..x10`` and a binary ``y`` drawn from a logistic
model. It times the pooled baseline, ``statsmodels.formula.api.glm(formula, stacked,
family=Binomial()).fit()`` on the 3,000,000 stacked rows (the formula API, since the federated fit
parses a formula too), then ``client.glm(...)`` through a real :class:`causeway.LocalFederation`
(hub, three nodes, signed protocol and release gate on loopback). The federated time runs from the
call to its return; starting the federation and ingesting the rows is reported separately as
setup. Coefficients and standard errors must match statsmodels to a relative 1e-6, or the run stops.

Goal (acceptance): the federated fit is no slower than the pooled one, ``ratio = federated_s /
pooled_statsmodels_s <= 1.0``, with identical coefficients.

Run::

    .venv/bin/python benchmarks/bench_glm.py                          # full size, print + JSON
    .venv/bin/python benchmarks/bench_glm.py --rows-per-site 50000    # quick check
    .venv/bin/python benchmarks/bench_glm.py --write-docs             # also update docs/benchmarks.md

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

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
GOAL = "ratio <= 1.0"
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
    b = b.reindex(a.index)
    return float((np.abs(a - b) / np.maximum(np.abs(b), 1e-300)).max())


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}, pandas {pd.__version__}, statsmodels {statsmodels.__version__}"
    )


def docs_section(f: dict[str, Any], where: str, day: dt.date, rounds: list[float]) -> str:
    met = "met" if f["goal_met"] else "**not met**"
    lines = [
        f"## {SECTION}",
        "",
        f"Federated logistic regression, `{FORMULA}` (binomial), over {f['sites']} nodes of "
        f"{f['rows_per_site']:,} rows each, against statsmodels "
        f"(`smf.glm(formula, stacked, family=Binomial()).fit()`) on the "
        f"{f['sites'] * f['rows_per_site']:,} stacked rows. Synthetic seeded data: "
        f"{f['covariates']} standard-normal covariates, `y` drawn from a logistic model.",
        "",
        f"Goal: `{GOAL}` (federated fit no slower than the pooled statsmodels fit), with identical "
        f"coefficients — **{met}**.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| pooled statsmodels fit | {f['pooled_statsmodels_s']:.2f} s |",
        f"| federated fit (`client.glm`, call to return) | {f['federated_s']:.2f} s |",
        f"| ratio federated / pooled | {f['ratio']:.2f} |",
        f"| federated rounds (IRLS iterations) | {f['rounds']} ({f['iterations']}) |",
        f"| statsmodels IRLS iterations | {f['statsmodels_iterations']} |",
        f"| setup (start hub + nodes, ingest; not timed above) | {f['setup_s']:.1f} s |",
        f"| max relative difference, coef / se | {f['max_rel_coef_diff']:.1e} / "
        f"{f['max_rel_se_diff']:.1e} |",
        "",
    ]
    if rounds:
        lines += [
            "Federated time per round (seconds between successive rounds seen by the client): "
            + ", ".join(f"{r:.2f}" for r in rounds)
            + ".",
            "",
        ]
    lines += [
        f"Measured {day.isoformat()} on {where}.",
        "",
        "Rerun: `.venv/bin/python benchmarks/bench_glm.py --write-docs` "
        "(`--rows-per-site 50000` for a quick check).",
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
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the file --write-docs updates")
    args = parser.parse_args(argv)
    rows = args.rows_per_site

    frames = {site: site_frame(rows, args.seed + i) for i, site in enumerate(SITES)}
    print(f"data: {len(SITES)} sites x {rows:,} rows, formula {FORMULA}")

    # Pooled baseline: statsmodels formula API on the stacked rows.
    stacked = pd.concat(list(frames.values()), ignore_index=True)
    t0 = time.perf_counter()
    pooled = smf.glm(FORMULA, stacked, family=sm.families.Binomial()).fit()
    pooled_s = time.perf_counter() - t0
    del stacked
    gc.collect()
    print(f"pooled statsmodels: {pooled_s:.2f} s, {pooled.fit_history['iteration']} iterations")

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
        t0 = time.perf_counter()
        result = fed.client.glm("cohort", FORMULA, family="binomial")
        end = time.perf_counter()
    federated_s = end - t0
    rounds_dt = list(np.diff([t0, *marks, end]))
    iterations = int(result.iterations)
    rounds = iterations + 1  # one more round evaluates the deviance at the final coefficients
    print(f"federated: {federated_s:.2f} s, {rounds} rounds ({iterations} IRLS iterations)")
    print("  per round (s): " + ", ".join(f"{r:.2f}" for r in rounds_dt))

    coef_diff = max_rel(result.coef, pooled.params)
    se_diff = max_rel(result.se, pooled.bse)
    ratio = federated_s / pooled_s
    figures = {
        "benchmark": "glm",
        "rows_per_site": rows,
        "sites": len(SITES),
        "covariates": COVARIATES,
        "pooled_statsmodels_s": round(pooled_s, 3),
        "federated_s": round(federated_s, 3),
        "setup_s": round(setup_s, 3),
        "ratio": round(ratio, 3),
        "rounds": rounds,
        "iterations": iterations,
        "statsmodels_iterations": int(pooled.fit_history["iteration"]),
        "converged": bool(result.converged),
        "n": int(result.n),
        "max_rel_coef_diff": coef_diff,
        "max_rel_se_diff": se_diff,
        "goal": GOAL,
        "goal_met": ratio <= 1.0,
    }
    print(
        f"ratio {ratio:.2f} ({GOAL}: {'met' if ratio <= 1.0 else 'NOT met'}); "
        f"max rel diff coef {coef_diff:.1e}, se {se_diff:.1e}"
    )
    if args.write_docs:
        write_docs(args.docs, docs_section(figures, machine(), dt.date.today(), rounds_dt))
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
