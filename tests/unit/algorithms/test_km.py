from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from harness import relative_error, run_federated, suppress_below
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from causeway.algorithms.km import KaplanMeier, KMResult
from causeway.model.errors import DisclosureRefused, InvalidRequest

TOL = 1e-9


def coarsen(durations: pd.Series, grid: tuple[float, ...]) -> pd.Series:
    """Each time rounded up to the end of its interval of the released grid, as the sites do."""
    edges = np.asarray(grid)
    index = np.clip(np.searchsorted(edges, durations.to_numpy(), side="left"), 1, len(edges) - 1)
    return pd.Series(edges[index], index=durations.index)


def assert_curve_matches(
    table: pd.DataFrame, durations: pd.Series, events: pd.Series, grid: tuple[float, ...]
) -> None:
    """The federated curve is lifelines' curve on the pooled times rounded to the grid."""
    kmf = KaplanMeierFitter().fit(coarsen(durations, grid), events)
    times = table["time"].to_numpy()
    expected = kmf.survival_function_.loc[times].iloc[:, 0]
    ci = kmf.confidence_interval_.loc[times]
    assert relative_error(table["survival"], expected) < TOL
    assert relative_error(table["lower"], ci.iloc[:, 0]) < TOL
    assert relative_error(table["upper"], ci.iloc[:, 1]) < TOL
    at_risk = kmf.event_table.loc[times]
    assert (table["at_risk"].to_numpy() == at_risk["at_risk"].to_numpy()).all()
    assert (table["events"].to_numpy() == at_risk["observed"].to_numpy()).all()
    # every time lifelines steps at (after 0) is in our table
    assert set(kmf.survival_function_.index[1:]) == set(times)


def median_of(durations: pd.Series, events: pd.Series, grid: tuple[float, ...]) -> float:
    fit = KaplanMeierFitter().fit(coarsen(durations, grid), events)
    return float(fit.median_survival_time_)


def test_km_equals_lifelines_on_rossi(rossi_sites: list[pd.DataFrame]) -> None:
    run = run_federated(KaplanMeier(), rossi_sites, {"duration": "week", "event": "arrest"})
    result = run.result
    assert isinstance(result, KMResult) and run.rounds == 2
    pooled = pd.concat(rossi_sites)
    assert_curve_matches(result.table, pooled["week"], pooled["arrest"], result.grid)
    # inf: never reaches 0.5
    assert result.median == median_of(pooled["week"], pooled["arrest"], result.grid)
    # without a minimum cell count every fine bin is its own interval, and each distinct week
    # keeps its own step
    assert len(result.grid) == 1025
    assert len(result.table) == pooled["week"].nunique()
    assert result.logrank is None


def test_km_by_group_and_logrank_equal_lifelines(rossi_sites: list[pd.DataFrame]) -> None:
    params = {"duration": "week", "event": "arrest", "by": "prio_group"}
    sites = [s.assign(prio_group=np.minimum(s["prio"], 3)) for s in rossi_sites]
    result = run_federated(KaplanMeier(), sites, params, categorical=["prio_group"]).result
    assert isinstance(result, KMResult)
    pooled = pd.concat(sites)
    for level, rows in result.table.groupby("group"):
        data = pooled[pooled["prio_group"] == float(level)]
        assert_curve_matches(rows, data["week"], data["arrest"], result.grid)
        expected = median_of(data["week"], data["arrest"], result.grid)
        assert result.median[level] == expected  # type: ignore[index]
    weeks = coarsen(pooled["week"], result.grid)
    test = multivariate_logrank_test(weeks, pooled["prio_group"], pooled["arrest"])
    assert result.logrank is not None
    assert relative_error(result.logrank.statistic, test.test_statistic) < TOL
    assert relative_error(result.logrank.p_value, test.p_value) < 1e-7
    assert result.logrank.dof == test.degrees_of_freedom == 3


@pytest.mark.shared_data
def test_km_equals_lifelines_on_datashield_survival(survival_sites: list[pd.DataFrame]) -> None:
    params = {"duration": "time", "event": "event", "by": "female"}
    result = run_federated(KaplanMeier(), survival_sites, params, categorical=["female"]).result
    assert isinstance(result, KMResult)
    pooled = pd.concat(survival_sites)
    medians = result.median
    assert isinstance(medians, pd.Series)
    for level in ("0", "1"):
        data = pooled[pooled["female"] == int(level)]
        rows = result.table[result.table["group"] == level]
        assert_curve_matches(rows, data["time"], data["event"], result.grid)
        expected = median_of(data["time"], data["event"], result.grid)
        assert medians[level] == expected or (math.isinf(expected) and math.isinf(medians[level]))
    times = coarsen(pooled["time"], result.grid)
    test = multivariate_logrank_test(times, pooled["female"], pooled["event"])
    assert result.logrank is not None
    assert relative_error(result.logrank.statistic, test.test_statistic) < TOL
    assert "log-rank" in str(result)


def test_km_median_is_the_first_time_survival_reaches_one_half() -> None:
    frame = pd.DataFrame({"t": [1.0, 2, 3, 4, 5, 6], "e": [1, 1, 0, 1, 1, 1]})
    result = run_federated(
        KaplanMeier(), [frame.iloc[:3], frame.iloc[3:]], {"duration": "t", "event": "e"}
    ).result
    assert isinstance(result, KMResult)
    # S(4) = 5/6 * 4/5 * 1 * 2/3 = 0.444: the median is 4, rounded up to the end of its bin
    assert 4.0 < result.median < 4.0 + 6 / 1024 + 1e-12
    assert result.median == median_of(frame["t"], frame["e"], result.grid)


def test_km_refuses_a_suppressed_group_and_bad_params(rossi_sites: list[pd.DataFrame]) -> None:
    small = rossi_sites[0].iloc[:5]
    with pytest.raises(DisclosureRefused):
        run_federated(
            KaplanMeier(),
            [small, rossi_sites[1]],
            {"duration": "week", "event": "arrest"},
            gate=suppress_below(10),
        )
    with pytest.raises(InvalidRequest, match="categorical or boolean"):
        run_federated(
            KaplanMeier(), rossi_sites, {"duration": "week", "event": "arrest", "by": "age"}
        )
