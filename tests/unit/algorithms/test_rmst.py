"""Issue #19: restricted mean survival time from the released Kaplan–Meier curve equals
lifelines' ``restricted_mean_survival_time`` on the pooled times rounded to the released grid;
its Greenwood standard error equals the same sum built from lifelines' own curve and event
table (A_k from lifelines' RMST between t_k and tau)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from harness import relative_error, run_federated, split
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_rossi, load_waltons
from lifelines.utils import restricted_mean_survival_time
from scipy import stats
from test_km import coarsen

from causeway.algorithms.km import KaplanMeier, KMResult
from causeway.algorithms.rmst import RMSTResult
from causeway.model.errors import InvalidRequest

TOL = 1e-9


def lifelines_rmst(durations: pd.Series, events: pd.Series, tau: float) -> tuple[float, float]:
    """RMST by lifelines, and the Greenwood variance sum over lifelines' event table."""
    kmf = KaplanMeierFitter().fit(durations, events)
    mean = float(restricted_mean_survival_time(kmf, t=tau))
    table = kmf.event_table
    table = table[(table.index > 0) & (table.index <= tau) & (table["observed"] > 0)]
    variance = 0.0
    for time, row in table.iterrows():
        area = mean - float(restricted_mean_survival_time(kmf, t=float(time)))
        n, d = float(row["at_risk"]), float(row["observed"])
        if n > d:
            variance += area * area * d / (n * (n - d))
    return mean, variance


def label(value: object) -> str:
    """A group's level as the dictionary names it (whole floats without their ".0")."""
    return str(int(value)) if isinstance(value, float) else str(value)


def waltons() -> list[pd.DataFrame]:
    data = load_waltons().rename(columns={"T": "t", "E": "e"})
    data = data.sample(frac=1.0, random_state=3).reset_index(drop=True)
    return split(data, [20, 100, len(data) - 120])


CASES = {
    # sites, duration, event, by, tau
    "rossi": (split(load_rossi().astype(float), [60, 250, 122]), "week", "arrest", "fin", 40.0),
    "waltons": (waltons(), "t", "e", "group", 50.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rmst_per_group_and_difference_equal_lifelines(case: str) -> None:
    sites, duration, event, by, tau = CASES[case]
    params = {"duration": duration, "event": event, "by": by}
    result = run_federated(KaplanMeier(), sites, params, categorical=[by]).result
    assert isinstance(result, KMResult)
    rmst = result.rmst(tau)
    assert isinstance(rmst, RMSTResult) and rmst.tau == tau
    pooled = pd.concat(sites, ignore_index=True)
    expected = {}
    for group in rmst.groups:
        rows = pooled[pooled[by].map(label) == group.group]
        mean, variance = lifelines_rmst(coarsen(rows[duration], result.grid), rows[event], tau)
        expected[group.group] = (mean, variance)
        assert relative_error(group.rmst, mean) < TOL
        assert relative_error(group.se, math.sqrt(variance)) < TOL
        z = stats.norm.ppf(0.975)
        assert relative_error(group.lower, mean - z * math.sqrt(variance)) < TOL
    assert rmst.difference is not None
    first, second = rmst.difference.first, rmst.difference.second
    diff = expected[first][0] - expected[second][0]
    se = math.sqrt(expected[first][1] + expected[second][1])
    assert relative_error(rmst.difference.difference, diff) < TOL
    assert relative_error(rmst.difference.se, se) < TOL
    assert relative_error(rmst.difference.p_value, 2 * stats.norm.sf(abs(diff / se))) < 1e-9
    frame = rmst.to_frame()
    assert list(frame["term"]) == [g.group for g in rmst.groups] + [f"{first} - {second}"]
    assert "Restricted mean survival time up to" in rmst.summary()


def test_rmst_without_groups_at_level_and_beyond_follow_up() -> None:
    sites, duration, event, _by, _tau = CASES["rossi"]
    result = run_federated(KaplanMeier(), sites, {"duration": duration, "event": event}).result
    assert isinstance(result, KMResult)
    pooled = pd.concat(sites, ignore_index=True)
    weeks = coarsen(pooled[duration], result.grid)
    narrow = result.rmst(30.0, level=0.8)
    mean, variance = lifelines_rmst(weeks, pooled[event], 30.0)
    (group,) = narrow.groups
    assert relative_error(group.rmst, mean) < TOL
    half = stats.norm.ppf(0.9) * math.sqrt(variance)
    assert relative_error(group.upper, mean + half) < TOL
    assert narrow.difference is None and not narrow.warnings
    # beyond the last follow-up (52 weeks) the curve is carried flat, as lifelines does, and said
    far = result.rmst(80.0)
    assert relative_error(far.groups[0].rmst, lifelines_rmst(weeks, pooled[event], 80.0)[0]) < TOL
    assert far.warnings and "carried flat" in far.summary()


def test_rmst_rejects_bad_tau_and_groups() -> None:
    sites, duration, event, by, _tau = CASES["rossi"]
    params = {"duration": duration, "event": event, "by": by}
    result = run_federated(KaplanMeier(), sites, params, categorical=[by]).result
    assert isinstance(result, KMResult)
    for tau in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(InvalidRequest, match="tau"):
            result.rmst(tau)
    with pytest.raises(InvalidRequest, match="compare two different groups"):
        result.rmst(20.0, compare=("0", "nope"))
    swapped = result.rmst(20.0, compare=(result.groups[1], result.groups[0]))
    straight = result.rmst(20.0)
    assert swapped.difference is not None and straight.difference is not None
    assert np.isclose(swapped.difference.difference, -straight.difference.difference)
