"""Issue #19, a results section: effect sizes with intervals, statsmodels' names, AIC/BIC and the
likelihood-ratio test, each equal to the pooled statsmodels / lifelines answer on the synthetic
hospitals (three sites, unrestricted policy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from harness import relative_error, run_federated
from lifelines import CoxPHFitter
from scipy import stats
from test_glm import FAMILIES

import causeway
from causeway.algorithms.cox import Cox, CoxResult
from causeway.algorithms.glm import GLM
from causeway.algorithms.glm_result import GLMResult
from causeway.model.errors import InvalidRequest
from causeway.synthetic import hospitals as synthetic_hospitals

TOL = 1e-6


@pytest.fixture(scope="module")
def hospitals() -> list[pd.DataFrame]:
    frames = []
    for frame in synthetic_hospitals().values():
        flags = ["smoker", "diabetes", "readmitted_30d", "died"]
        frames.append(frame.assign(**{c: frame[c].astype(float) for c in flags}))
    return frames


def _glm(frames: list[pd.DataFrame], formula: str, family: str) -> GLMResult:
    result = run_federated(GLM(), frames, {"formula": formula, "family": family}).result
    assert isinstance(result, GLMResult) and result.converged
    return result


def _pooled(frames: list[pd.DataFrame], formula: str, family: str) -> object:
    pooled = pd.concat(frames, ignore_index=True)
    return smf.glm(formula, pooled, family=FAMILIES[family]).fit(tol=1e-13, maxiter=100)


MODELS = [
    ("binomial", "readmitted_30d ~ age + diabetes + smoker + sbp", "odds_ratios", "odds_ratio"),
    ("poisson", "died ~ age + diabetes + smoker", "rate_ratios", "rate_ratio"),
]


@pytest.mark.parametrize("level", [0.95, 0.90])
@pytest.mark.parametrize(("family", "formula", "method", "column"), MODELS)
def test_odds_and_rate_ratios_equal_statsmodels(
    hospitals: list[pd.DataFrame], family: str, formula: str, method: str, column: str, level: float
) -> None:
    result = _glm(hospitals, formula, family)
    fit = _pooled(hospitals, formula, family)
    names = list(fit.params.index)  # type: ignore[attr-defined]
    ratios = getattr(result, method)(level=level).loc[names]
    ci = np.exp(fit.conf_int(alpha=1 - level))  # type: ignore[attr-defined]
    assert list(ratios.columns) == [column, "lower", "upper"] and ratios.attrs["level"] == level
    assert relative_error(ratios[column], np.exp(fit.params)) < TOL  # type: ignore[attr-defined]
    assert relative_error(ratios["lower"], ci[0]) < TOL
    assert relative_error(ratios["upper"], ci[1]) < TOL
    assert relative_error(result.exp_params(level)["exp_coef"][names], ratios[column]) < 1e-12
    # statsmodels' names, aliases of the fields that were there
    assert relative_error(result.params[names], fit.params) < TOL  # type: ignore[attr-defined]
    assert relative_error(result.bse[names], fit.bse) < TOL  # type: ignore[attr-defined]
    assert relative_error(result.pvalues[names], fit.pvalues) < TOL  # type: ignore[attr-defined]
    interval = result.conf_int(alpha=1 - level).loc[names]
    assert relative_error(interval["lower"], fit.conf_int(alpha=1 - level)[0]) < TOL  # type: ignore[attr-defined]
    other = "rate_ratios" if method == "odds_ratios" else "odds_ratios"
    with pytest.raises(InvalidRequest, match="need a"):
        getattr(result, other)()
    with pytest.raises(InvalidRequest, match="level must be"):
        getattr(result, method)(level=95)


FITS = [
    ("gaussian", "sbp ~ age + diabetes"),
    ("binomial", "readmitted_30d ~ age + diabetes + smoker + sbp"),
    ("poisson", "died ~ age + diabetes + smoker"),
]


@pytest.mark.parametrize(("family", "formula"), FITS)
def test_aic_and_bic_equal_statsmodels_bic_llf(
    hospitals: list[pd.DataFrame], family: str, formula: str
) -> None:
    result = _glm(hospitals, formula, family)
    fit = _pooled(hospitals, formula, family)
    assert relative_error(result.aic, fit.aic) < 1e-9  # type: ignore[attr-defined]
    assert relative_error(result.bic, fit.bic_llf) < 1e-9  # type: ignore[attr-defined]
    assert f"BIC = {result.bic:.6g}" in result.summary()


NESTED = [
    ("gaussian", "sbp ~ age", "sbp ~ age + diabetes + smoker"),
    ("binomial", "readmitted_30d ~ age", "readmitted_30d ~ age + diabetes + smoker + sbp"),
    ("poisson", "died ~ age + smoker", "died ~ age + diabetes + smoker"),
    ("binomial", "readmitted_30d ~ age", "readmitted_30d ~ age + C(diagnosis)"),
]


@pytest.mark.parametrize(("family", "small", "large"), NESTED)
def test_lr_test_equals_statsmodels_llf_difference(
    hospitals: list[pd.DataFrame], family: str, small: str, large: str
) -> None:
    test = causeway.lr_test(_glm(hospitals, small, family), _glm(hospitals, large, family))
    fit0, fit1 = _pooled(hospitals, small, family), _pooled(hospitals, large, family)
    expected = 2 * (fit1.llf - fit0.llf)  # type: ignore[attr-defined]
    df = fit1.df_model - fit0.df_model  # type: ignore[attr-defined]
    assert test.df == df
    assert relative_error(test.statistic, expected) < TOL
    assert relative_error(test.p_value, stats.chi2.sf(expected, df)) < TOL
    assert "likelihood-ratio test" in str(test)
    # it reads as every result does: one tidy row, and the same numbers in Jupyter's HTML
    row = test.to_frame().iloc[0]
    assert (row["statistic"], row["df"], row["p_value"]) == (test.statistic, df, test.p_value)
    assert f"{test.statistic:.6g}"[:6] in test._repr_html_()


def test_lr_test_refuses_models_not_nested_on_the_same_rows(
    hospitals: list[pd.DataFrame],
) -> None:
    base = _glm(hospitals, "readmitted_30d ~ age", "binomial")
    with pytest.raises(InvalidRequest, match="different n"):  # bmi has missing values
        causeway.lr_test(base, _glm(hospitals, "readmitted_30d ~ age + bmi", "binomial"))
    with pytest.raises(InvalidRequest, match="different family"):
        causeway.lr_test(base, _glm(hospitals, "readmitted_30d ~ age + sbp", "poisson"))
    with pytest.raises(InvalidRequest, match="different response"):
        causeway.lr_test(base, _glm(hospitals, "died ~ age + sbp", "binomial"))
    other = _glm(hospitals, "readmitted_30d ~ sbp + smoker", "binomial")
    with pytest.raises(InvalidRequest, match=r"term\(s\) age are not in the larger"):
        causeway.lr_test(base, other)
    larger = _glm(hospitals, "readmitted_30d ~ age + sbp", "binomial")
    with pytest.raises(InvalidRequest, match=r"term\(s\) sbp are not in the larger"):
        causeway.lr_test(larger, base)  # the wrong way round
    with pytest.raises(InvalidRequest, match="adds no term"):
        causeway.lr_test(base, base)
    cox = _cox(hospitals, "age")
    with pytest.raises(InvalidRequest, match="both GLM or both Cox"):
        causeway.lr_test(base, cox)  # type: ignore[arg-type]


def _cox(frames: list[pd.DataFrame], formula: str) -> CoxResult:
    params = {"formula": formula, "duration": "follow_up_days", "event": "died"}
    result = run_federated(Cox(), frames, params).result
    assert isinstance(result, CoxResult)
    return result


def _lifelines(frames: list[pd.DataFrame], formula: str, alpha: float = 0.05) -> CoxPHFitter:
    stacked = pd.concat([f.assign(site=i) for i, f in enumerate(frames)], ignore_index=True)
    columns = ["follow_up_days", "died", "site", *formula.replace(" ", "").split("+")]
    return CoxPHFitter(alpha=alpha).fit(
        stacked[columns],
        "follow_up_days",
        "died",
        strata=["site"],
        fit_options={"precision": 1e-12, "max_steps": 200},
    )


@pytest.mark.parametrize("level", [0.95, 0.90])
def test_hazard_ratios_equal_lifelines(hospitals: list[pd.DataFrame], level: float) -> None:
    formula = "age + diabetes + smoker"
    result = _cox(hospitals, formula)
    fitter = _lifelines(hospitals, formula, alpha=1 - level)
    names = list(fitter.params_.index)
    ratios = result.hazard_ratios(level=level).loc[names]
    assert relative_error(ratios["hazard_ratio"], fitter.hazard_ratios_) < TOL
    bands = np.exp(fitter.confidence_intervals_)
    assert relative_error(ratios["lower"], bands.iloc[:, 0]) < TOL
    assert relative_error(ratios["upper"], bands.iloc[:, 1]) < TOL
    assert relative_error(result.params[names], fitter.params_) < TOL
    assert relative_error(result.bse[names], fitter.standard_errors_) < TOL
    assert relative_error(result.pvalues[names], fitter.summary["p"]) < TOL
    ci = result.conf_int(alpha=1 - level).loc[names]
    assert relative_error(ci["lower"], fitter.confidence_intervals_.iloc[:, 0]) < TOL


def test_hazard_ratios_on_rossi(rossi_sites: list[pd.DataFrame]) -> None:
    params = {"formula": "fin + age + prio", "duration": "week", "event": "arrest"}
    result = run_federated(Cox(), rossi_sites, params).result
    assert isinstance(result, CoxResult)
    stacked = pd.concat([s.assign(site=i) for i, s in enumerate(rossi_sites)], ignore_index=True)
    fitter = CoxPHFitter(alpha=0.1).fit(
        stacked[["week", "arrest", "fin", "age", "prio", "site"]], "week", "arrest", strata=["site"]
    )
    ratios = result.hazard_ratios(0.90).loc[list(fitter.params_.index)]
    assert relative_error(ratios["hazard_ratio"], fitter.hazard_ratios_) < TOL
    assert relative_error(ratios["lower"], np.exp(fitter.confidence_intervals_.iloc[:, 0])) < TOL


def test_cox_lr_test_equals_lifelines(hospitals: list[pd.DataFrame]) -> None:
    small, large = "age", "age + diabetes + smoker"
    test = causeway.lr_test(_cox(hospitals, small), _cox(hospitals, large))
    fit0, fit1 = _lifelines(hospitals, small), _lifelines(hospitals, large)
    expected = 2 * (fit1.log_likelihood_ - fit0.log_likelihood_)
    assert test.df == 2
    assert relative_error(test.statistic, expected) < TOL
    assert relative_error(test.p_value, stats.chi2.sf(expected, 2)) < TOL
