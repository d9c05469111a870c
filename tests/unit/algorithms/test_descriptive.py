"""crosstab, ttest, corr and quantiles against scipy, pandas and numpy on the pooled rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from harness import relative_error, run_federated, split, suppress_below
from scipy import stats

from causeway.algorithms.corr import Correlation, CorrResult
from causeway.algorithms.crosstab import Crosstab, CrosstabResult
from causeway.algorithms.quantiles import Quantiles, QuantilesResult
from causeway.algorithms.ttest import TTestResult, TwoSampleTTest
from causeway.model.dictionary import widen
from causeway.model.errors import DisclosureRefused, InvalidRequest, ModelError

CATEGORICAL = ["GENDER", "DIS_DIAB", "PM_BMI_CATEGORICAL", "MEDI_LPD"]


@pytest.mark.shared_data
def test_crosstab_and_chi_square_equal_scipy_on_cnsim(cnsim: list[pd.DataFrame]) -> None:
    params = {"row": "PM_BMI_CATEGORICAL", "col": "DIS_DIAB"}
    result = run_federated(Crosstab(), cnsim, params, categorical=CATEGORICAL).result
    assert isinstance(result, CrosstabResult)
    pooled = pd.concat(cnsim)
    expected = pd.crosstab(pooled["PM_BMI_CATEGORICAL"], pooled["DIS_DIAB"])
    assert (result.table.to_numpy() == expected.to_numpy()).all()
    assert list(result.table.index) == ["1", "2", "3"]
    test = stats.chi2_contingency(expected.to_numpy(), correction=False)
    assert relative_error(result.chi2, test.statistic) < 1e-12
    assert relative_error(result.p_value, test.pvalue) < 1e-10
    assert result.dof == test.dof == 2


def test_crosstab_boolean_levels_zero_rows_and_suppressed_cells() -> None:
    frame = pd.DataFrame(
        {
            "a": [True] * 30 + [False] * 30,
            "g": ["x"] * 20 + ["y"] * 10 + ["x"] * 5 + ["y"] * 25,
        }
    )
    frame["g"] = pd.Categorical(frame["g"], categories=["x", "y", "z"])  # z never seen
    sites = split(frame, [30, 30])
    result = run_federated(Crosstab(), sites, {"row": "g", "col": "a"}).result
    assert isinstance(result, CrosstabResult)
    assert list(result.table.columns) == ["False", "True"]
    assert result.table.loc["z"].tolist() == [0, 0]
    test = stats.chi2_contingency([[5, 20], [25, 10]], correction=False)
    assert relative_error(result.chi2, test.statistic) < 1e-12
    hidden = run_federated(Crosstab(), sites, {"row": "g", "col": "a"}, gate=suppress_below(6))
    assert isinstance(hidden.result, CrosstabResult)
    assert pd.isna(hidden.result.table.loc["x", "False"])
    assert hidden.result.chi2 is None and hidden.result.p_value is None
    assert "suppressed" in str(hidden.result)


@pytest.mark.shared_data
@pytest.mark.parametrize("by", ["GENDER", "DIS_DIAB"])
def test_ttest_equals_scipy_on_cnsim(cnsim: list[pd.DataFrame], by: str) -> None:
    params = {"column": "LAB_HDL", "by": by}
    result = run_federated(TwoSampleTTest(), cnsim, params, categorical=CATEGORICAL).result
    assert isinstance(result, TTestResult)
    pooled = pd.concat(cnsim).dropna(subset=["LAB_HDL"])
    a = pooled.loc[pooled[by] == 0, "LAB_HDL"]
    b = pooled.loc[pooled[by] == 1, "LAB_HDL"]
    assert result.n == (len(a), len(b))
    assert relative_error(result.means, [a.mean(), b.mean()]) < 1e-12
    for test, equal_var in ((result.welch, False), (result.pooled, True)):
        expected = stats.ttest_ind(a, b, equal_var=equal_var)
        ci = expected.confidence_interval()
        assert relative_error(test.t, expected.statistic) < 1e-9
        assert relative_error(test.df, expected.df) < 1e-9
        assert relative_error(test.p_value, expected.pvalue) < 1e-7
        assert relative_error([test.ci_lower, test.ci_upper], [ci.low, ci.high]) < 1e-9
    assert relative_error(result.mean_difference, a.mean() - b.mean()) < 1e-9


@pytest.mark.shared_data
def test_ttest_needs_exactly_two_groups(cnsim: list[pd.DataFrame]) -> None:
    params = {"column": "LAB_HDL", "by": "PM_BMI_CATEGORICAL"}
    with pytest.raises(ModelError, match="exactly two levels"):
        run_federated(TwoSampleTTest(), cnsim, params, categorical=CATEGORICAL)
    with pytest.raises(InvalidRequest, match="categorical or boolean"):
        run_federated(TwoSampleTTest(), cnsim, {"column": "LAB_HDL", "by": "LAB_TSC"})


@pytest.mark.shared_data
@pytest.mark.parametrize("method", ["pairwise", "complete"])
def test_corr_equals_pandas_on_cnsim(cnsim: list[pd.DataFrame], method: str) -> None:
    columns = ["LAB_TSC", "LAB_TRIG", "LAB_HDL", "LAB_GLUC_ADJUSTED", "PM_BMI_CONTINUOUS"]
    params = {"columns": columns, "method": method}
    result = run_federated(Correlation(), cnsim, params).result
    assert isinstance(result, CorrResult)
    pooled = pd.concat(cnsim)[columns]
    if method == "complete":
        pooled = pooled.dropna()
        assert result.n == len(pooled)
    else:
        present = pooled.notna().astype(int)
        assert isinstance(result.n, pd.DataFrame)
        assert (result.n.to_numpy() == (present.T @ present).to_numpy()).all()
    assert np.abs(result.matrix.to_numpy() - pooled.corr().to_numpy()).max() < 1e-12
    assert np.abs(result.matrix.to_numpy() - np.eye(5)).max() > 0.05


def test_corr_suppressed_pair_is_missing() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=40), "y": rng.normal(size=40)})
    frame.loc[3:, "y"] = np.nan  # 3 rows with both present at site 0
    result = run_federated(
        Correlation(), split(frame, [20, 20]), {"columns": ["x", "y"]}, gate=suppress_below(5)
    ).result
    assert isinstance(result, CorrResult)
    assert np.isnan(result.matrix.loc["x", "y"])
    # the site's sums are guarded by its counts: one small pair withholds all of them
    assert result.matrix.isna().all().all()
    assert isinstance(result.n, pd.DataFrame) and pd.isna(result.n.loc["x", "y"])


@pytest.mark.shared_data
def test_quantiles_within_their_bin_width_of_numpy(cnsim: list[pd.DataFrame]) -> None:
    probs = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    params = {"column": "LAB_TSC", "probs": probs, "bins": 2048}
    result = run_federated(Quantiles(), cnsim, params).result
    assert isinstance(result, QuantilesResult)
    values = pd.concat(cnsim)["LAB_TSC"].dropna().to_numpy()
    assert result.n == len(values)
    low, high = widen(values.min(), values.max())  # the inferred dictionary's bounds
    assert result.error_bound == pytest.approx((high - low) / 2048)
    for method in ("linear", "inverted_cdf"):
        exact = np.quantile(values, probs, method=method)
        assert np.abs(np.array(result.values) - exact).max() <= result.error_bound
    coarse = run_federated(Quantiles(), cnsim, {**params, "bins": 8}).result
    assert isinstance(coarse, QuantilesResult)
    assert np.abs(np.array(coarse.values) - np.quantile(values, probs)).max() > result.error_bound


def test_quantiles_merge_sparse_bins_instead_of_refusing() -> None:
    frame = pd.DataFrame({"x": np.concatenate([[0.0, 0.5], np.linspace(1, 10, 98)])})
    sites = split(frame, [50, 50])
    params = {"column": "x", "probs": [0.01, 0.5], "bins": 8}
    # Bin 0 holds 2 patients at site 0: it is merged with its neighbours, never released alone,
    # and the request is answered rather than refused.
    result = run_federated(Quantiles(), sites, params, gate=suppress_below(5)).result
    assert isinstance(result, QuantilesResult)
    assert result.intervals < 8
    low, high = widen(frame["x"].min(), frame["x"].max())
    assert result.error_bounds[0] >= 2 * (high - low) / 8  # the first rank's interval was merged
    exact = np.quantile(frame["x"], [0.01, 0.5], method="inverted_cdf")
    for value, bound, truth in zip(result.values, result.error_bounds, exact, strict=True):
        assert value is not None and bound is not None and abs(value - truth) <= bound
    unrestricted = run_federated(Quantiles(), sites, params).result
    assert isinstance(unrestricted, QuantilesResult) and unrestricted.intervals == 8
    with pytest.raises(DisclosureRefused):
        run_federated(Quantiles(), split(frame, [97, 3]), params, gate=suppress_below(5))
    with pytest.raises(InvalidRequest, match="probs"):
        run_federated(Quantiles(), sites, {"column": "x", "probs": [1.5]})
