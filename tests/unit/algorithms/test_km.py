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


def assert_curve_matches(table: pd.DataFrame, durations: pd.Series, events: pd.Series) -> None:
    kmf = KaplanMeierFitter().fit(durations, events)
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


def median_of(durations: pd.Series, events: pd.Series) -> float:
    return float(KaplanMeierFitter().fit(durations, events).median_survival_time_)


def test_km_equals_lifelines_on_rossi(rossi_sites: list[pd.DataFrame]) -> None:
    run = run_federated(KaplanMeier(), rossi_sites, {"duration": "week", "event": "arrest"})
    result = run.result
    assert isinstance(result, KMResult) and run.rounds == 2
    pooled = pd.concat(rossi_sites)
    assert_curve_matches(result.table, pooled["week"], pooled["arrest"])
    assert result.median == median_of(pooled["week"], pooled["arrest"])  # inf: never reaches 0.5
    assert result.logrank is None


def test_km_by_group_and_logrank_equal_lifelines(rossi_sites: list[pd.DataFrame]) -> None:
    params = {"duration": "week", "event": "arrest", "by": "prio_group"}
    sites = [s.assign(prio_group=np.minimum(s["prio"], 3)) for s in rossi_sites]
    result = run_federated(KaplanMeier(), sites, params, categorical=["prio_group"]).result
    assert isinstance(result, KMResult)
    pooled = pd.concat(sites)
    for level, rows in result.table.groupby("group"):
        data = pooled[pooled["prio_group"] == float(level)]
        assert_curve_matches(rows, data["week"], data["arrest"])
        assert result.median[level] == median_of(data["week"], data["arrest"])  # type: ignore[index]
    test = multivariate_logrank_test(pooled["week"], pooled["prio_group"], pooled["arrest"])
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
        assert_curve_matches(rows, data["time"], data["event"])
        expected = median_of(data["time"], data["event"])
        assert medians[level] == expected or (math.isinf(expected) and math.isinf(medians[level]))
    test = multivariate_logrank_test(pooled["time"], pooled["female"], pooled["event"])
    assert result.logrank is not None
    assert relative_error(result.logrank.statistic, test.test_statistic) < TOL
    assert "log-rank" in str(result)


def test_km_median_is_the_first_time_survival_reaches_one_half() -> None:
    frame = pd.DataFrame({"t": [1.0, 2, 3, 4, 5, 6], "e": [1, 1, 0, 1, 1, 1]})
    result = run_federated(
        KaplanMeier(), [frame.iloc[:3], frame.iloc[3:]], {"duration": "t", "event": "e"}
    ).result
    assert isinstance(result, KMResult)
    assert result.median == 4.0  # S(4) = 5/6 * 4/5 * 1 * 2/3 = 0.444
    assert result.median == median_of(frame["t"], frame["e"])


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
