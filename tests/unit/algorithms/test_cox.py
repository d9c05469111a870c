from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from harness import relative_error, run_federated, split, suppress_below
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi

from causeway.algorithms.cox import Cox, CoxResult
from causeway.model.errors import DisclosureRefused, InvalidRequest, ModelError

TOL = 1e-6
ROSSI_FORMULA = "fin + age + race + wexp + mar + paro + prio"


def stratified_fit(
    sites: Sequence[pd.DataFrame], duration: str, event: str, formula: str, **kwargs: Any
) -> CoxPHFitter:
    stacked = pd.concat([s.assign(site=i) for i, s in enumerate(sites)], ignore_index=True)
    fitter = CoxPHFitter(**kwargs)
    fitter.fit(
        stacked,
        duration,
        event,
        formula=formula,
        strata=["site"],
        fit_options={"precision": 1e-12, "max_steps": 200},
    )
    return fitter


def assert_matches(result: CoxResult, fitter: CoxPHFitter) -> None:
    names = list(fitter.params_.index)
    assert sorted(result.terms) == sorted(names)
    assert relative_error(result.coef[names], fitter.params_) < TOL
    assert relative_error(result.se[names], fitter.standard_errors_) < TOL
    assert (
        relative_error(result.hazard_ratios()["hazard_ratio"][names], fitter.hazard_ratios_) < TOL
    )
    lower = fitter.confidence_intervals_.iloc[:, 0]
    assert relative_error(result.conf_int().loc[names, "lower"], lower) < TOL
    assert relative_error(result.log_likelihood, fitter.log_likelihood_) < 1e-9
    assert result.converged


def test_cox_equals_lifelines_stratified_by_site_on_rossi(rossi_sites: list[pd.DataFrame]) -> None:
    params = {"formula": ROSSI_FORMULA, "duration": "week", "event": "arrest"}
    run = run_federated(Cox(), rossi_sites, params)
    assert isinstance(run.result, CoxResult)
    assert_matches(run.result, stratified_fit(rossi_sites, "week", "arrest", ROSSI_FORMULA))
    assert run.result.n == 432 and run.result.events == 114
    assert run.rounds < 10
    assert "log partial likelihood" in run.notes[0]


@pytest.mark.shared_data
def test_cox_equals_lifelines_on_datashield_survival(
    survival_sites: list[pd.DataFrame],
) -> None:
    params = {"formula": "~ age + female + bmi", "duration": "time", "event": "event"}
    run = run_federated(Cox(), survival_sites, params, categorical=["female"])
    assert isinstance(run.result, CoxResult)
    assert "female[T.1]" in run.result.terms
    sites = [s.assign(female=pd.Categorical(s["female"].astype(str))) for s in survival_sites]
    assert_matches(run.result, stratified_fit(sites, "time", "event", "age + female + bmi"))


def test_cox_is_not_the_unstratified_fit(rossi_sites: list[pd.DataFrame]) -> None:
    params = {"formula": "fin + age + prio", "duration": "week", "event": "arrest"}
    result = run_federated(Cox(), rossi_sites, params).result
    assert isinstance(result, CoxResult)
    pooled = CoxPHFitter().fit(
        pd.concat(rossi_sites)[["week", "arrest", "fin", "age", "prio"]], "week", "arrest"
    )
    assert relative_error(result.coef[pooled.params_.index], pooled.params_) > 1e-4


def test_cox_refuses_a_site_with_too_few_events(rossi_sites: list[pd.DataFrame]) -> None:
    first = rossi_sites[0]
    small = pd.concat([first[first.arrest == 0], first[first.arrest == 1].iloc[:5]])
    params = {"formula": "fin + age", "duration": "week", "event": "arrest"}
    with pytest.raises(DisclosureRefused, match=r"events|support falls below"):
        run_federated(Cox(), [small, rossi_sites[1]], params, gate=suppress_below(10))


def test_cox_rejects_bad_input(rossi_sites: list[pd.DataFrame]) -> None:
    with pytest.raises(InvalidRequest, match="unknown column"):
        run_federated(Cox(), rossi_sites, {"formula": "x", "duration": "week", "event": "arrest"})
    with pytest.raises(InvalidRequest, match="right-hand side"):
        run_federated(
            Cox(), rossi_sites, {"formula": "week ~ age", "duration": "week", "event": "arrest"}
        )
    bad = [s.assign(arrest=s["arrest"] * 2) for s in rossi_sites]
    with pytest.raises(ModelError, match="must be 0/1"):
        run_federated(Cox(), bad, {"formula": "age", "duration": "week", "event": "arrest"})
    with pytest.raises(ModelError, match="aliased"):
        aliased = [s.assign(age2=2 * s["age"]) for s in rossi_sites]
        run_federated(
            Cox(), aliased, {"formula": "age + age2", "duration": "week", "event": "arrest"}
        )


def test_cox_that_does_not_converge_says_so() -> None:
    rng = np.random.default_rng(5)
    time = rng.exponential(size=80)
    group = (np.arange(80) % 2).astype(float)
    event = np.where(group == 1, 1.0, 0.0)  # monotone likelihood: group 0 never has an event
    frame = pd.DataFrame({"t": time, "e": event, "g": group})
    params = {"formula": "g", "duration": "t", "event": "e", "max_iter": 8}
    result = run_federated(Cox(), split(frame, [40, 40]), params).result
    assert isinstance(result, CoxResult)
    assert not result.converged and "did not converge" in str(result)


ROSSI = load_rossi().astype(float)
ROSSI_FIT = stratified_fit([ROSSI], "week", "arrest", "fin + age + prio")


@settings(max_examples=8 if os.environ.get("CI") else 15, deadline=None)
@given(st.lists(st.integers(min_value=30, max_value=400), min_size=1, max_size=5, unique=True))
def test_cox_gives_the_pooled_stratified_answer_for_any_split(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), len(ROSSI)]
    sites = split(ROSSI, [b - a for a, b in itertools.pairwise(edges)])
    params = {"formula": "fin + age + prio", "duration": "week", "event": "arrest"}
    result = run_federated(Cox(), sites, params).result
    assert isinstance(result, CoxResult)
    assert_matches(result, stratified_fit(sites, "week", "arrest", "fin + age + prio"))
    if len(sites) > 1:  # stratification matters: not the one-stratum answer
        assert relative_error(result.coef[ROSSI_FIT.params_.index], ROSSI_FIT.params_) > 1e-9


def test_cox_round_zero_shortcuts_give_the_plain_computations() -> None:
    """The node's first round sorts by time through the times' ranks, finds ties on the sorted
    times, counts supports column by column and sums the risk-set means per distinct time:
    each gives what the plain NumPy computation gives (the order exactly)."""
    from causeway.algorithms import cox, design

    rng = np.random.default_rng(5)
    n = 20_000
    time = np.ceil(rng.exponential(300.0, n))
    time[:50] = 0.0
    time[50:60] = -0.0
    event = (rng.uniform(size=n) < 0.6).astype(float)
    x = np.column_stack(
        [rng.normal(size=n), rng.integers(0, 2, n).astype(float), rng.integers(0, 4, n)]
    )
    order = cox._time_order(time)
    assert np.array_equal(order, np.argsort(time, kind="stable"))
    many = rng.uniform(size=70_000)  # more distinct times than 16-bit ranks hold
    assert np.array_equal(cox._time_order(many), np.argsort(many, kind="stable"))
    x, time, event = x[order] - x.mean(axis=0), time[order], event[order]
    stratum = cox._stratum(x, time, event, "efron")
    _, starts, group = np.unique(time, return_index=True, return_inverse=True)
    d = np.bincount(group, weights=event).astype(np.int64)
    assert np.array_equal(stratum.starts, starts) and np.array_equal(stratum.group, group)
    assert np.array_equal(stratum.pair_time, np.repeat(np.arange(len(starts)), d))
    assert np.array_equal(stratum.pair_frac, np.concatenate([np.arange(k) / k for k in d if k]))
    raw = x + 3.0
    columns = [np.ascontiguousarray(raw[:, j]) for j in range(raw.shape[1])]
    expected = np.concatenate([design.support(raw), design.outcome_support(raw, event)])
    assert np.array_equal(design.column_support(columns, event), expected)
    beta = np.array([0.4, -0.3, 0.2])
    eta = x @ beta
    r = np.exp(eta - eta.max())
    s0 = np.add.reduceat(r, stratum.starts)[::-1].cumsum()[::-1]
    s1 = np.add.reduceat(r[:, None] * x, stratum.starts, axis=0)[::-1].cumsum(axis=0)[::-1]
    a0 = np.add.reduceat(r * event, stratum.starts)
    a1 = np.add.reduceat((r * event)[:, None] * x, stratum.starts, axis=0)
    j, frac = stratum.pair_time, stratum.pair_frac
    phi = s0[j] - frac * a0[j]
    mean = (s1[j] - frac[:, None] * a1[j]) / phi[:, None]
    got = cox._risk_means(s0, s1, a1, j, frac, 1 / phi)
    assert np.allclose(got, mean.T @ mean, rtol=1e-12, atol=0)
