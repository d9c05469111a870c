"""Issue #19.1: variance, t-test and correlation are exact however far the data's mean lies from
the centre the sums are taken about (the midpoint of the dictionary's bounds).

References are computed in exact rational arithmetic (``fractions.Fraction``) on the very float64
values the sites hold, so the only error allowed is the rounding of the final quotients.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from harness import dictionary_for, run_federated, split
from scipy import stats

from causeway.algorithms.corr import Correlation, CorrResult
from causeway.algorithms.summary import NumericSummary, SummaryAlgorithm
from causeway.algorithms.ttest import TTestResult, TwoSampleTTest
from causeway.model.dictionary import Dictionary
from causeway.model.errors import DisclosureRefused

# (level of the data, the dictionary's bounds): the data around 1e9 with sd about 1, and the
# centre 5e8 (ratio 5e8: today's variance is garbage) or 1e9 - 5e6 (ratio 5e6: error 1e-4)
OFFSETS = [(1e9, (0.0, 1e9 + 10.0)), (1e9, (1e9 - 1e7, 1e9 + 10.0)), (-1e9, (-1e9 - 10.0, 0.0))]
EXACT = 1e-12  # relative, against the rational reference


def bounded(frames: Sequence[pd.DataFrame], bounds: dict[str, tuple[float, float]]) -> Dictionary:
    base = dictionary_for(frames, categorical=["g"] if "g" in frames[0] else ())
    return Dictionary(
        tuple(
            dataclasses.replace(c, minimum=bounds[c.name][0], maximum=bounds[c.name][1])
            if c.name in bounds
            else c
            for c in base.columns
        )
    )


def exact_mean_var(values: np.ndarray) -> tuple[Fraction, Fraction]:
    xs = [Fraction(float(v)) for v in values]
    n = len(xs)
    mean = sum(xs, Fraction(0)) / n
    return mean, sum(((x - mean) ** 2 for x in xs), Fraction(0)) / (n - 1)


def rel(a: float, b: Fraction | float) -> float:
    return abs(Fraction(a) - Fraction(b)) / abs(Fraction(b))


@pytest.mark.parametrize(("level", "bounds"), OFFSETS)
def test_summary_variance_is_exact_far_from_the_centre(
    level: float, bounds: tuple[float, float]
) -> None:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"x": level + rng.normal(0.0, 1.0, size=300)})
    sites = split(frame, [100, 120, 80])
    run = run_federated(
        SummaryAlgorithm(), sites, {"column": "x"}, dictionary=bounded(sites, {"x": bounds})
    )
    result = run.result
    assert isinstance(result, NumericSummary) and result.variance is not None
    mean, var = exact_mean_var(frame["x"].to_numpy())
    assert result.n == 300
    assert rel(result.variance, var) < EXACT
    assert rel(result.mean, mean) < 1e-15
    assert run.rounds == 2  # round 1 is about the pooled mean


def test_summary_near_its_centre_takes_one_round() -> None:
    rng = np.random.default_rng(12)
    frame = pd.DataFrame({"x": 1e9 + rng.normal(0.0, 1.0, size=200)})
    sites = split(frame, [100, 100])
    run = run_federated(SummaryAlgorithm(), sites, {"column": "x"})  # inferred, tight bounds
    assert isinstance(run.result, NumericSummary) and run.result.variance is not None
    assert run.rounds == 1
    assert rel(run.result.variance, exact_mean_var(frame["x"].to_numpy())[1]) < EXACT


def test_summary_refuses_a_centre_that_is_not_a_number() -> None:
    alg = SummaryAlgorithm()
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    dictionary = dictionary_for([frame])
    spec = alg.prepare({"column": "x"}, dictionary)
    with pytest.raises(DisclosureRefused, match="centres"):
        alg.check_state(spec, {"centre": [math.inf]}, dictionary)
    with pytest.raises(DisclosureRefused, match="centres"):
        alg.check_state(spec, {"centre": [1.0, 2.0]}, dictionary)


def _two_groups(level: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = level + rng.normal(0.0, 1.0, size=150)
    b = level + 0.4 + rng.normal(0.0, 1.7, size=130)
    return (
        pd.DataFrame({"x": np.concatenate([a, b]), "g": ["a"] * 150 + ["b"] * 130})
        .sample(frac=1.0, random_state=seed)
        .reset_index(drop=True)
    )


@pytest.mark.parametrize(("level", "bounds"), OFFSETS)
def test_ttest_is_exact_far_from_the_centre(level: float, bounds: tuple[float, float]) -> None:
    frame = _two_groups(level, 13)
    sites = split(frame, [90, 100, 90])
    dictionary = bounded(sites, {"x": bounds})
    run = run_federated(TwoSampleTTest(), sites, {"column": "x", "by": "g"}, dictionary=dictionary)
    result = run.result
    assert isinstance(result, TTestResult) and run.rounds == 2
    a = frame.loc[frame.g == "a", "x"].to_numpy()
    b = frame.loc[frame.g == "b", "x"].to_numpy()
    (ma, va), (mb, vb) = exact_mean_var(a), exact_mean_var(b)
    assert rel(result.variances[0], va) < EXACT and rel(result.variances[1], vb) < EXACT
    assert rel(result.mean_difference, ma - mb) < 1e-7  # the difference of two floats near 1e9
    na, nb = len(a), len(b)
    diff = float(ma - mb)
    welch_se2 = va / na + vb / nb
    welch_df = welch_se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    pooled_se2 = ((na - 1) * va + (nb - 1) * vb) / (na + nb - 2) * Fraction(na + nb, na * nb)
    for test, se2, df in (
        (result.welch, welch_se2, float(welch_df)),
        (result.pooled, pooled_se2, float(na + nb - 2)),
    ):
        t = diff / math.sqrt(float(se2))
        assert rel(test.df, df) < EXACT
        assert rel(test.t, t) < 1e-7
        assert rel(test.p_value, 2 * stats.t.sf(abs(t), df)) < 1e-6
        half = stats.t.ppf(0.975, df) * math.sqrt(float(se2))
        assert abs(test.ci_upper - test.ci_lower - 2 * half) < 1e-9 * half
    # and scipy on the stacked rows agrees
    expected = stats.ttest_ind(a, b, equal_var=False)
    assert rel(result.welch.t, expected.statistic) < 1e-6


@pytest.mark.parametrize(("level", "bounds"), OFFSETS)
@pytest.mark.parametrize("method", ["pairwise", "complete"])
def test_correlation_is_exact_far_from_the_centre(
    level: float, bounds: tuple[float, float], method: str
) -> None:
    rng = np.random.default_rng(14)
    n = 320
    u = rng.normal(size=n)
    x = level + u
    y = -level + 0.6 * u + rng.normal(0.0, 0.8, size=n)
    z = rng.normal(size=n)  # near its centre
    frame = pd.DataFrame({"x": x, "y": y, "z": z})
    frame.loc[rng.choice(n, 20, replace=False), "y"] = np.nan
    sites = split(frame, [100, 110, 110])
    low, high = bounds
    dictionary = bounded(sites, {"x": bounds, "y": (-high, -low)})
    params = {"columns": ["x", "y", "z"], "method": method}
    run = run_federated(Correlation(), sites, params, dictionary=dictionary)
    result = run.result
    assert isinstance(result, CorrResult) and run.rounds == 2
    rows = frame.dropna() if method == "complete" else frame
    for i, j in (("x", "y"), ("x", "z"), ("y", "z")):
        both = rows[[i, j]].dropna()
        xs = [Fraction(float(v)) for v in both[i]]
        ys = [Fraction(float(v)) for v in both[j]]
        mx, my = sum(xs, Fraction(0)) / len(xs), sum(ys, Fraction(0)) / len(ys)
        sxy = sum(((a - mx) * (b - my) for a, b in zip(xs, ys, strict=True)), Fraction(0))
        sxx = sum(((a - mx) ** 2 for a in xs), Fraction(0))
        syy = sum(((b - my) ** 2 for b in ys), Fraction(0))
        r = math.copysign(math.sqrt(float(sxy * sxy / (sxx * syy))), float(sxy))
        assert abs(result.matrix.loc[i, j] - r) < 1e-12, (i, j)
