"""Cox: federated site-stratified Cox regression over three nodes against a pooled NumPy Newton fit.

One run builds three sites of 300,000 synthetic rows each (seeded numpy): five standard-normal
covariates ``x1..x5``, a duration drawn from a proportional-hazards model with a baseline that
differs by site, rounded to whole days (so many event times are tied and Efron's correction
matters), and about 30% censoring. It times, in the same run:

- ``client.cox("cohort", "x1 + ... + x5", duration="time", event="event")`` through a real
  :class:`causeway.LocalFederation` (hub, three in-process nodes, signed protocol and release
  gate on loopback), from the call to its return; starting the federation and ingesting the rows
  is reported separately as setup;
- the baseline: a pooled NumPy Newton fit of the same site-stratified partial likelihood with
  Efron ties, written here (each site one stratum: sort by time, tie structure, then Newton steps
  from zero until the decrement is below 1e-10 of the log-likelihood, as the federated fit), on
  the stacked rows already in memory; the timed span includes the sorting;
- lifelines' ``CoxPHFitter().fit(stacked, "time", "event", strata=["site"])`` for reference.

Coefficients and standard errors must match lifelines to a relative 1e-5, or the run stops.

Goal (acceptance): ``ratio_numpy = federated_s / pooled_numpy_s <= 1.5``; the ratio to lifelines
is reported beside it.

Run::

    .venv/bin/python benchmarks/bench_cox.py                          # full size, print + JSON
    .venv/bin/python benchmarks/bench_cox.py --rows-per-site 30000    # quick check
    .venv/bin/python benchmarks/bench_cox.py --write-docs             # also update docs/benchmarks.md

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import common
import numpy as np
import pandas as pd
from docs_section import replace_section

import causeway
from causeway.client.client import Progress

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "Cox"
SITES = ("north", "south", "east")
ROWS_PER_SITE = 300_000
COVARIATES = 5
SEED = 2026
TOLERANCE = 1e-5
GOAL = "ratio_numpy <= 1.5"
GOAL_RATIO = 1.5
BETA = np.array([0.5, -0.4, 0.3, -0.2, 0.1])
NAMES = [f"x{i}" for i in range(1, COVARIATES + 1)]
FORMULA = " + ".join(NAMES)


def site_frame(rows: int, seed: int, baseline: float) -> pd.DataFrame:
    """One site's rows: covariates, a whole-day duration and a 0/1 event (~30% censored)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, COVARIATES))
    hazard = baseline * np.exp(x @ BETA)
    event_time = rng.exponential(1.0 / hazard)
    censor = rng.exponential(1.0 / (0.43 * baseline), rows)
    time_ = np.ceil(np.minimum(event_time, censor) * 365.0)
    frame = pd.DataFrame(x, columns=NAMES)
    frame["time"] = time_
    frame["event"] = (event_time <= censor).astype(np.float64)
    return frame


def efron_stratum(
    x: np.ndarray, time_: np.ndarray, event: np.ndarray, beta: np.ndarray, tie: Any
) -> tuple[float, np.ndarray, np.ndarray]:
    """One stratum's log partial likelihood, gradient and information, Efron ties; rows sorted
    by time, ``tie`` its (starts, group, pair_time, pair_frac)."""
    starts, group, j, frac = tie
    eta = x @ beta
    eta -= eta.max()
    r = np.exp(eta)
    rx = r[:, None] * x
    s0 = np.add.reduceat(r, starts)[::-1].cumsum()[::-1]
    s1 = np.add.reduceat(rx, starts, axis=0)[::-1].cumsum(axis=0)[::-1]
    a0 = np.add.reduceat(r * event, starts)
    a1 = np.add.reduceat(rx * event[:, None], starts, axis=0)
    phi = s0[j] - frac * a0[j]
    mean = (s1[j] - frac[:, None] * a1[j]) / phi[:, None]
    m = len(starts)
    cum = np.bincount(j, weights=1 / phi, minlength=m).cumsum()
    tied = np.bincount(j, weights=frac / phi, minlength=m)
    a = r * (cum[group] - event * tied[group])
    loglik = float(event @ eta - np.log(phi).sum())
    return loglik, x.T @ (event - a), x.T @ (x * a[:, None]) - mean.T @ mean


def numpy_cox(
    sites: list[tuple[np.ndarray, np.ndarray, np.ndarray]], tol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray, int]:
    """Pooled Newton fit of the site-stratified Cox model, Efron ties: coefficients, standard
    errors and Newton passes. Each site's rows are sorted and their ties found first."""
    strata = []
    for x, time_, event in sites:
        order = np.argsort(time_, kind="stable")
        x, time_, event = x[order], time_[order], event[order]
        x = x - x.mean(axis=0)
        _, starts, group = np.unique(time_, return_index=True, return_inverse=True)
        d = np.bincount(group, weights=event, minlength=len(starts)).astype(np.int64)
        j = np.repeat(np.arange(len(starts)), d)
        frac = np.concatenate([np.arange(k) / k for k in d if k])
        strata.append((x, time_, event, (starts, group, j, frac)))
    beta = np.zeros(sites[0][0].shape[1])
    passes = 0
    while True:
        loglik, grad, info = 0.0, 0.0, 0.0
        for x, time_, event, tie in strata:
            piece = efron_stratum(x, time_, event, beta, tie)
            loglik, grad, info = loglik + piece[0], grad + piece[1], info + piece[2]
        passes += 1
        step = np.linalg.solve(info, grad)
        if float(grad @ step) / 2 < tol * (abs(loglik) + 0.1) or passes > 50:
            # the step from the converged point, as the federated fit's last round
            return beta + step, np.sqrt(np.diag(np.linalg.inv(info))), passes
        beta = beta + step


max_rel = common.max_rel


def machine() -> str:
    import lifelines

    return common.machine(f"lifelines {lifelines.__version__}")


def docs_section(
    f: dict[str, Any], where: str, day: dt.date, rounds: list[float], busy: str
) -> str:
    met = "met" if f["goal_met"] else "**not met**"
    lines = [
        f"## {SECTION}",
        "",
        f"Federated Cox regression stratified by site, `{FORMULA}` (Efron ties), over "
        f"{f['sites']} in-process nodes of {f['rows_per_site']:,} rows each (DuckDB), against a "
        "pooled NumPy Newton fit of the same site-stratified partial likelihood with Efron "
        f"ties on the {f['sites'] * f['rows_per_site']:,} stacked rows in memory (written in "
        "the benchmark; its time includes sorting each site's rows and finding their ties) and "
        "lifelines' `CoxPHFitter().fit(stacked, strata=['site'])` for reference. Synthetic "
        "seeded data: five standard-normal covariates, durations from a proportional-hazards "
        f"model rounded to whole days ({f['events']:,} events, {f['distinct_times']:,} "
        "distinct times).",
        "",
        f"Goal: `{GOAL}` (federated fit within 1.5x the pooled NumPy fit), with identical "
        f"coefficients — **{met}**.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| pooled NumPy Newton fit ({f['numpy_passes']} passes) | {f['pooled_numpy_s']:.2f} s |",
        f"| pooled lifelines fit | {f['pooled_lifelines_s']:.2f} s |",
        f"| federated fit (`client.cox`, call to return) | {f['federated_s']:.2f} s |",
        f"| ratio federated / NumPy | {f['ratio_numpy']:.2f} |",
        f"| ratio federated / lifelines | {f['ratio_lifelines']:.2f} |",
        f"| federated rounds | {f['rounds']} |",
        f"| setup (start hub + nodes, ingest; not timed above) | {f['setup_s']:.1f} s |",
        f"| max relative difference to lifelines, coef / se | {f['max_rel_coef_diff']:.1e} / "
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
        f"Measured {day.isoformat()} on {where}. Load average {f['load_average_1m']} (one "
        "minute, at the end of the run) on cores shared with other runs: absolute times are "
        f"inflated, the ratios compare figures from the same run. {busy}".rstrip(),
        "",
        "Rerun: `.venv/bin/python benchmarks/bench_cox.py --write-docs` "
        "(`--rows-per-site 30000` for a quick check).",
        "",
    ]
    return "\n".join(lines)


INTRO = """# Benchmarks

What the acceptance benchmarks measure and what they measured last. Each section is written by
its script with `--write-docs`; edit the prose around them freely, the scripts replace only their
own `## ` section.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--rows-per-site", type=int, default=ROWS_PER_SITE)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the file --write-docs updates")
    parser.add_argument("--busy", default="", help="a note on the machine's load, for the docs")
    args = parser.parse_args(argv)
    rows = args.rows_per_site

    frames = {
        site: site_frame(rows, args.seed + i, baseline=0.5 + 0.25 * i)
        for i, site in enumerate(SITES)
    }
    print(f"data: {len(SITES)} sites x {rows:,} rows, formula {FORMULA}")

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
        result = fed.client.cox("cohort", FORMULA, duration="time", event="event")
        end = time.perf_counter()
    federated_s = end - t0
    rounds_dt = list(np.diff([t0, *marks, end]))
    print(f"federated: {federated_s:.2f} s, {len(rounds_dt)} rounds")
    print("  per round (s): " + ", ".join(f"{r:.2f}" for r in rounds_dt))

    arrays = [
        (
            f[NAMES].to_numpy(dtype=np.float64),
            f["time"].to_numpy(dtype=np.float64),
            f["event"].to_numpy(dtype=np.float64),
        )
        for f in frames.values()
    ]
    gc.collect()
    t0 = time.perf_counter()
    numpy_beta, numpy_se, passes = numpy_cox(arrays)
    numpy_s = time.perf_counter() - t0
    del arrays
    print(f"pooled NumPy Newton: {numpy_s:.2f} s, {passes} passes")

    from lifelines import CoxPHFitter

    stacked = pd.concat(
        [f.assign(site=i) for i, f in enumerate(frames.values())], ignore_index=True
    )
    gc.collect()
    t0 = time.perf_counter()
    fitted = CoxPHFitter().fit(stacked, "time", "event", strata=["site"])
    lifelines_s = time.perf_counter() - t0
    print(f"pooled lifelines: {lifelines_s:.2f} s")

    reference_coef = fitted.params_[NAMES].to_numpy()
    reference_se = fitted.standard_errors_[NAMES].to_numpy()
    coef_diff = max_rel(result.coef[NAMES], reference_coef)
    se_diff = max_rel(result.se[NAMES], reference_se)
    numpy_diff = max(max_rel(numpy_beta, reference_coef), max_rel(numpy_se, reference_se))
    ratio_numpy = federated_s / numpy_s
    figures: dict[str, Any] = {
        "benchmark": "cox",
        "rows_per_site": rows,
        "sites": len(SITES),
        "covariates": COVARIATES,
        "events": int(stacked["event"].sum()),
        "distinct_times": int(stacked["time"].nunique()),
        "pooled_numpy_s": round(numpy_s, 3),
        "numpy_passes": passes,
        "pooled_lifelines_s": round(lifelines_s, 3),
        "federated_s": round(federated_s, 3),
        "setup_s": round(setup_s, 3),
        "ratio_numpy": round(ratio_numpy, 3),
        "ratio_lifelines": round(federated_s / lifelines_s, 3),
        "rounds": len(rounds_dt),
        "round_s": [round(float(r), 3) for r in rounds_dt],
        "converged": bool(result.converged),
        "n": int(result.n),
        "max_rel_coef_diff": coef_diff,
        "max_rel_se_diff": se_diff,
        "numpy_max_rel_diff": numpy_diff,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "goal": GOAL,
        "goal_met": ratio_numpy <= GOAL_RATIO,
    }
    print(
        f"ratio to NumPy {ratio_numpy:.2f} ({GOAL}: "
        f"{'met' if figures['goal_met'] else 'NOT met'}), to lifelines "
        f"{figures['ratio_lifelines']:.2f}; max rel diff coef {coef_diff:.1e}, se {se_diff:.1e}"
    )
    if args.write_docs:
        section = docs_section(figures, machine(), dt.date.today(), rounds_dt, args.busy)
        replace_section(args.docs, SECTION, section, INTRO)
        print(f"updated the '{SECTION}' section of {args.docs}")
    print(json.dumps(figures))
    if max(coef_diff, se_diff) > TOLERANCE or result.n != len(SITES) * rows:
        raise SystemExit(
            f"federated fit differs from lifelines: coef {coef_diff:.2e}, se {se_diff:.2e} "
            f"(tolerance {TOLERANCE:g}), n {result.n} vs {len(SITES) * rows}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
