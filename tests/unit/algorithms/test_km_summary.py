"""Issue #19, Kaplan–Meier for a results section: survival at chosen times with intervals, the
median with its interval, and a readable summary; each equal to lifelines on the pooled times
rounded to the released grid (exponential Greenwood, log(-log), lifelines' default)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from harness import relative_error, run_federated
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from test_km import coarsen

from causeway.algorithms.km import KaplanMeier, KMResult
from causeway.model.errors import InvalidRequest
from causeway.synthetic import hospitals as synthetic_hospitals

TOL = 1e-9


@pytest.fixture(scope="module")
def hospitals() -> list[pd.DataFrame]:
    return [
        f.assign(died=f["died"].astype(float), diabetes=f["diabetes"].astype(float))
        for f in synthetic_hospitals().values()
    ]


def _km(frames: list[pd.DataFrame], by: str | None = None, **extra: str) -> KMResult:
    params = {"duration": "follow_up_days", "event": "died", **extra}
    categorical = []
    if by:
        params["by"] = by
        categorical = [by]
    result = run_federated(KaplanMeier(), frames, params, categorical=categorical).result
    assert isinstance(result, KMResult)
    return result


def _fit(frame: pd.DataFrame, grid: tuple[float, ...], level: float, time: str, event: str):
    return KaplanMeierFitter(alpha=1 - level).fit(coarsen(frame[time], grid), frame[event])


def _check(
    result: KMResult,
    frame: pd.DataFrame,
    group: str | None,
    level: float,
    time: str = "follow_up_days",
    event: str = "died",
) -> None:
    kmf = _fit(frame, result.grid, level, time, event)
    times = [0.0, 1.0, 45.5, 200.0, 365.0, 730.0, 1000.0, 1500.0, 1824.0, 5000.0]
    if time == "week":
        times = [0.0, 0.5, 10.0, 25.0, 26.0, 40.0, 52.0, 60.0]
    got = result.survival_at(times, level=level)
    if group is not None:
        got = got[got["group"] == group]
    expected = kmf.survival_function_at_times(times).to_numpy()
    assert relative_error(got["survival"], expected) < TOL
    # the bands as of each time (lifelines' confidence_interval_ on its timeline, carried forward)
    bands = kmf.confidence_interval_.reindex(times, method="ffill").fillna(1.0)
    assert relative_error(got["lower"], bands.iloc[:, 0]) < TOL
    assert relative_error(got["upper"], bands.iloc[:, 1]) < TOL
    medians = result.median_interval(level=level).loc[group or "all"]
    assert medians["median"] == kmf.median_survival_time_
    ci = median_survival_times(kmf.confidence_interval_)
    assert medians["lower"] == ci.iloc[0, 0] and medians["upper"] == ci.iloc[0, 1]
    assert medians["n"] == len(frame) and medians["events"] == frame[event].sum()


@pytest.mark.parametrize("level", [0.95, 0.90])
def test_survival_at_times_and_median_interval_equal_lifelines(
    hospitals: list[pd.DataFrame], level: float
) -> None:
    result = _km(hospitals)
    _check(result, pd.concat(hospitals, ignore_index=True), None, level)


@pytest.mark.parametrize("level", [0.95, 0.80])
def test_by_group_equals_lifelines_per_group(hospitals: list[pd.DataFrame], level: float) -> None:
    result = _km(hospitals, by="diabetes")
    pooled = pd.concat(hospitals, ignore_index=True)
    for group in result.groups:
        _check(result, pooled[pooled["diabetes"] == float(group)], group, level)


def test_median_interval_on_rossi(rossi_sites: list[pd.DataFrame]) -> None:
    # rossi never reaches one half: median and interval ends inf, as lifelines says
    params = {"duration": "week", "event": "arrest"}
    result = run_federated(KaplanMeier(), rossi_sites, params).result
    assert isinstance(result, KMResult)
    pooled = pd.concat(rossi_sites, ignore_index=True)
    _check(result, pooled, None, 0.95, time="week", event="arrest")
    assert math.isinf(result.median_interval()["median"].iloc[0])


def test_median_interval_reached(rossi_sites: list[pd.DataFrame]) -> None:
    # a cohort whose curve does cross one half: rossi's arrested plus a few censored
    sites = [s[(s["arrest"] == 1) | (s.index % 5 == 0)] for s in rossi_sites]
    result = run_federated(KaplanMeier(), sites, {"duration": "week", "event": "arrest"}).result
    assert isinstance(result, KMResult)
    pooled = pd.concat(sites, ignore_index=True)
    _check(result, pooled, None, 0.95, time="week", event="arrest")
    row = result.median_interval().iloc[0]
    assert row["lower"] <= row["median"] <= row["upper"] and np.isfinite(row["median"])


def test_summary_is_short_and_says_what_a_paper_needs(hospitals: list[pd.DataFrame]) -> None:
    result = _km(hospitals, by="diabetes")
    text = str(result)
    assert text == result.summary()
    assert len(text.splitlines()) < 15 < len(result.table)
    medians = result.median_interval()
    for group in result.groups:
        assert f"diabetes = {group}: n = {int(medians.loc[group, 'n'])}" in text
    assert "95% CI" in text and "log-rank: chi2 = " in text and "log(-log)" in text
    times = result.default_times()
    assert len(times) == 3 and f"survival at {times[1]:.6g}: " in text
    at = result.summary(at=[365.0], level=0.9)
    assert "survival at 365: " in at and "90% CI" in at and "survival at 730" not in at
    with pytest.raises(InvalidRequest, match="level must be"):
        result.survival_at([1.0], level=1.5)
    with pytest.raises(InvalidRequest, match="non-negative"):
        result.survival_at([-1.0])
