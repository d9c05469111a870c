"""Release gate: what the gate adds to a node's computation, as a ratio to the ungated work.

One run builds synthetic data in in-memory node stores (seeded numpy, so every run sees the same
rows) and times the node's work for a task without and with the gate, alternating the two:

* crosstab: 1,000,000 rows, two categorical columns of 20 levels each, skewed so that a rare
  row level leaves a dozen or so cells between 1 and 9. Ungated: ``Crosstab().local``. Gated: the
  cohort count the gate needs, ``local``, then ``ReleaseGate(Policy()).release`` with its
  primary and complementary suppression. The gated table must suppress cells, or the run stops.
* GLM: 1,000,000 rows at one site, ten covariates, binomial (the rows of ``bench_glm.py``). A
  whole local fit as the node runs it: rounds of ``GLM().local`` at fixed coefficients computed
  once beforehand by the algorithm's own ``combine`` (at most six rounds; fewer when the fit
  converges sooner, as the node would run), with the task's cache (the design is built in round 0
  and cached; the gate judges it once, memoised through ``memo=cache``).
* differencing: ``bench_differencing.py`` run as it stands (a cohort checked against 1,000
  remembered cohorts of 1,000,000 rows); its last JSON line is read.

Goals (acceptance): gated / ungated <= 1.2 for the crosstab and the GLM loop (medians), and the
median differencing check takes at most 50 ms.

Run::

    .venv/bin/python benchmarks/bench_gate.py
    .venv/bin/python benchmarks/bench_gate.py --rows 100000 --runs 5 --glm-runs 3   # quick

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bench_glm import FORMULA, site_frame
from docs_section import replace_section

from causeway.algorithms.base import Algorithm, LocalResult, NextRound, State
from causeway.algorithms.crosstab import Crosstab
from causeway.algorithms.glm import GLM
from causeway.algorithms.glm_spec import Spec
from causeway.model.contribution import Contribution, aggregate
from causeway.model.dictionary import Dictionary, infer_dictionary
from causeway.model.disclosure import Outcome
from causeway.model.policy import Policy
from causeway.node.store import NodeStore
from causeway.privacy.gate import ReleaseGate

HERE = Path(__file__).resolve().parent
GOAL_RATIO = 1.2
GOAL_DIFFERENCING_MS = 50
ROWS = 1_000_000
LEVELS = 20
RARE = 1e-4  # the share of rows at the last row level
GLM_ROUNDS = 6
SEED = 2026
POLICY = Policy()

Timer = Callable[[], object]


def crosstab_frame(rows: int, seed: int) -> pd.DataFrame:
    """Two 20-level columns: geometric-ish level frequencies, and one row level so rare (about
    100 rows in a million) that most of its cells fall between 1 and 9."""
    rng = np.random.default_rng(seed)
    common = 0.85 ** np.arange(LEVELS - 1)
    row_p = np.append(common / common.sum() * (1 - RARE), RARE)
    col_p = 0.9 ** np.arange(LEVELS)
    col_p /= col_p.sum()
    names = np.array([f"{i:02d}" for i in range(LEVELS)])
    return pd.DataFrame(
        {
            "ward": pd.Categorical(names[rng.choice(LEVELS, rows, p=row_p)], categories=names),
            "code": pd.Categorical(names[rng.choice(LEVELS, rows, p=col_p)], categories=names),
        }
    )


def store_of(
    frame: pd.DataFrame, categorical: tuple[str, ...] = ()
) -> tuple[NodeStore, Dictionary]:
    dictionary = infer_dictionary(frame, categorical=categorical)
    store = NodeStore(":memory:")
    store.add_dataset("data", frame, dictionary=dictionary)
    return store, dictionary


def gate(alg: Algorithm, local: LocalResult, round_: int, cohort: int, memo: Any) -> Contribution:
    return ReleaseGate(POLICY).release(
        local,
        alg.profile,
        task_id="bench",
        round=round_,
        dataset="data",
        algorithm=alg.name,
        cohort=cohort,
        memo=memo,
    )


def medians(ungated: Timer, gated: Timer, runs: int) -> tuple[float, float]:
    """Median seconds of each, after one warm-up each, alternating so drift hits both alike."""
    ungated(), gated()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, out in ((ungated, samples[0]), (gated, samples[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(samples[0]), statistics.median(samples[1])


def bench_crosstab(rows: int, runs: int, seed: int) -> dict[str, Any]:
    store, dictionary = store_of(crosstab_frame(rows, seed), ("ward", "code"))
    alg = Crosstab()
    params = alg.prepare({"row": "ward", "col": "code"}, dictionary)

    def ungated() -> LocalResult:
        return alg.local(store.view("data", None, dictionary), params, {}, {})

    gate_s: list[float] = []

    def gated() -> Contribution:
        view = store.view("data", None, dictionary)
        start = time.perf_counter()
        cohort = view.count()  # what the gate is given, from the view the node built
        spent = time.perf_counter() - start
        local = alg.local(view, params, {}, {})
        start = time.perf_counter()
        released = gate(alg, local, 0, cohort, {})
        gate_s.append(spent + time.perf_counter() - start)
        return released

    counts = ungated().parts["counts"].values
    released = gated()
    check = next(c for c in released.report if c.check == "min_cell_count")
    small = int(((counts > 0) & (counts < POLICY.min_cell_count)).sum())
    if check.outcome is not Outcome.SUPPRESSED:
        raise SystemExit(f"the gate suppressed nothing in a table with {small} small cells")
    print(
        f"crosstab {LEVELS} x {LEVELS} over {rows:,} rows: {small} small cells, "
        f"{check.cells} suppressed ({check.detail or 'no complementary'})"
    )
    ungated_s, gated_s = medians(ungated, gated, runs)
    ratio = gated_s / ungated_s
    in_gate = statistics.median(gate_s[-runs:])
    print(
        f"  ungated {ungated_s * 1e3:.1f} ms, gated {gated_s * 1e3:.1f} ms (of which count and "
        f"gate {in_gate * 1e3:.2f} ms): ratio {ratio:.2f}"
    )
    return {
        "crosstab_gate_ratio": round(ratio, 3),
        "crosstab_ungated_ms_median": round(ungated_s * 1e3, 2),
        "crosstab_gated_ms_median": round(gated_s * 1e3, 2),
        "crosstab_in_gate_ms_median": round(in_gate * 1e3, 3),
        "crosstab_small_cells": small,
        "crosstab_suppressed_cells": check.cells,
    }


def glm_states(
    alg: GLM, store: NodeStore, dictionary: Dictionary, params: Spec, rounds: int
) -> list[State]:
    """The coefficients of the first ``rounds`` rounds, from the algorithm's own combine over
    this single site's parts (ungated, as in a simulation), so every timed loop sees the same."""
    state, states = alg.initial_state(params, dictionary), []
    cache: dict[str, Any] = {}
    for k in range(rounds):
        states.append(state)
        local = alg.local(store.view("data", None, dictionary), params, state, cache)
        parts = Contribution("bench", k, "data", alg.name, local.parts, local.meta)
        outcome = alg.combine(aggregate([parts]), params, state, dictionary)
        if not isinstance(outcome, NextRound):
            break
        state = outcome.state
    return states


def bench_glm(rows: int, runs: int, seed: int, rounds: int) -> dict[str, Any]:
    store, dictionary = store_of(site_frame(rows, seed))
    alg = GLM()
    params = alg.prepare({"formula": FORMULA, "family": "binomial"}, dictionary)
    states = glm_states(alg, store, dictionary, params, rounds)

    def ungated() -> None:
        cache: dict[str, Any] = {}
        for state in states:
            alg.local(store.view("data", None, dictionary), params, state, cache)

    gate_s: list[float] = []

    def gated() -> None:
        cache: dict[str, Any] = {}
        spent = 0.0
        for k, state in enumerate(states):
            view = store.view("data", None, dictionary)
            start = time.perf_counter()
            cohort = view.count()
            spent += time.perf_counter() - start
            local = alg.local(view, params, state, cache)
            start = time.perf_counter()
            released = gate(alg, local, k, cohort, cache)
            spent += time.perf_counter() - start
            judged = any(c.check == "leverage" for c in released.report)
            if judged != (k == 0):
                raise SystemExit(f"the gate judged the GLM's design in round {k}, not round 0")
        gate_s.append(spent)

    print(f"glm {FORMULA} (binomial) over {rows:,} rows: {len(states)} rounds per fit")
    ungated_s, gated_s = medians(ungated, gated, runs)
    ratio = gated_s / ungated_s
    in_gate = statistics.median(gate_s[-runs:])
    print(
        f"  ungated {ungated_s:.2f} s, gated {gated_s:.2f} s (of which counts and gate "
        f"{in_gate:.2f} s, nearly all round 0's design check): ratio {ratio:.2f}"
    )
    return {
        "glm_gate_ratio": round(ratio, 3),
        "glm_ungated_s_median": round(ungated_s, 3),
        "glm_gated_s_median": round(gated_s, 3),
        "glm_in_gate_s_median": round(in_gate, 3),
        "glm_rounds": len(states),
    }


def bench_differencing(runs: int) -> dict[str, Any]:
    """``bench_differencing.py`` exposes only its ``main`` (which prints): run it as it is."""
    script = HERE / "bench_differencing.py"
    done = subprocess.run(
        [sys.executable, str(script), "--runs", str(runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    check_ms = float(figures["differencing_check_ms_median"])
    print(
        f"differencing check against {figures['remembered_cohorts']:,} cohorts of "
        f"{figures['rows']:,} rows: {check_ms:.1f} ms (median)"
    )
    return {
        "differencing_check_ms_median": check_ms,
        "differencing_remembered_cohorts": figures["remembered_cohorts"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--rows", type=int, default=ROWS, help="rows of the crosstab and GLM")
    parser.add_argument("--runs", type=int, default=25, help="timed crosstabs (median kept)")
    parser.add_argument("--glm-runs", type=int, default=10, help="timed GLM fits (median kept)")
    parser.add_argument("--glm-rounds", type=int, default=GLM_ROUNDS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--write-docs", action="store_true", help="replace the gate's section of docs/benchmarks.md"
    )
    args = parser.parse_args(argv)

    figures = bench_crosstab(args.rows, args.runs, args.seed)
    figures |= bench_glm(args.rows, args.glm_runs, args.seed, args.glm_rounds)
    figures |= bench_differencing(args.runs)
    met = (
        figures["crosstab_gate_ratio"] <= GOAL_RATIO
        and figures["glm_gate_ratio"] <= GOAL_RATIO
        and figures["differencing_check_ms_median"] <= GOAL_DIFFERENCING_MS
    )
    figures |= {
        "rows": args.rows,
        "goal_ratio": GOAL_RATIO,
        "goal_differencing_ms": GOAL_DIFFERENCING_MS,
        "goals_met": met,
    }
    print(f"goals ({GOAL_RATIO} ratio, {GOAL_DIFFERENCING_MS} ms): {'met' if met else 'NOT met'}")
    if args.write_docs:
        replace_section(DOCS, "Release gate", _section(figures), "# Benchmarks\n")
    print(json.dumps(figures))
    return 0


DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def _section(f: dict[str, object]) -> str:
    met = "met" if f["goals_met"] else "NOT met"
    return f"""## Release gate

The node's release gate against the same computation without it, in one run
(`benchmarks/bench_gate.py`): a 20 x 20 crosstab over {f["rows"]:,} rows (skewed so that
{f["crosstab_small_cells"]} cells are small; {f["crosstab_suppressed_cells"]} cells end suppressed
with the complementary ones), a 10-covariate logistic GLM's local rounds over {f["rows"]:,} rows at
one site ({f["glm_rounds"]} rounds; the design's leverage check runs once and is remembered), and
the differencing check of one cohort against {f["differencing_remembered_cohorts"]:,} remembered
cohorts of 1,000,000 rows.

Goals: gate cost <= {f["goal_ratio"]}x the ungated computation; differencing check <=
{f["goal_differencing_ms"]} ms — **{met}**.

| measure | ungated | gated | ratio |
| --- | --- | --- | --- |
| crosstab 20 x 20 (median) | {f["crosstab_ungated_ms_median"]} ms | {f["crosstab_gated_ms_median"]} ms | {f["crosstab_gate_ratio"]} |
| GLM local rounds (median) | {f["glm_ungated_s_median"]} s | {f["glm_gated_s_median"]} s | {f["glm_gate_ratio"]} |
| differencing check (median) | | {f["differencing_check_ms_median"]} ms | |
"""


if __name__ == "__main__":
    raise SystemExit(main())
