from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from harness import relative_error, run_federated, split, suppress_below
from hypothesis import given, settings
from hypothesis import strategies as st

from causeway.algorithms.glm import GLM
from causeway.algorithms.glm_result import GLMResult
from causeway.algorithms.meta import GLMMeta
from causeway.model.errors import DisclosureRefused, InvalidRequest, ModelError

FAMILIES = {
    "gaussian": sm.families.Gaussian(),
    "binomial": sm.families.Binomial(),
    "poisson": sm.families.Poisson(),
}
TOL = 1e-6


def pooled_fit(
    frames: Sequence[pd.DataFrame],
    formula: str,
    family: str,
    categorical: Sequence[str] = (),
    **kwargs: Any,
) -> Any:
    data = pd.concat(list(frames), ignore_index=True)
    for name in categorical:
        levels = sorted({str(int(v)) for v in data[name].dropna()})
        text = data[name].map(lambda v: str(int(v)) if pd.notna(v) else None)
        data[name] = pd.Categorical(text, categories=levels)
    extra = {}
    for key in ("offset", "var_weights"):
        if key in kwargs:
            extra[key] = data[kwargs.pop(key)]
    columns = [c for c in data.columns if c in formula or c in extra]
    data = data.dropna(subset=columns)
    extra = {k: data[v.name] for k, v in extra.items()}
    model = smf.glm(formula, data, family=FAMILIES[family], **extra)
    return model.fit(tol=1e-13, maxiter=100)


def assert_matches(result: GLMResult, fit: Any) -> None:
    names = list(fit.params.index)
    assert sorted(result.terms) == sorted(names)
    assert relative_error(result.coef[names], fit.params) < TOL
    assert relative_error(result.se[names], fit.bse) < TOL
    assert relative_error(result.pvalues[names], fit.pvalues) < 1e-4
    ci = result.conf_int()
    assert relative_error(ci.loc[names, "lower"], fit.conf_int()[0]) < TOL
    assert relative_error(result.deviance, fit.deviance) < 1e-9
    assert relative_error(result.null_deviance, fit.null_deviance) < 1e-9
    assert relative_error(result.llf, fit.llf) < 1e-9
    assert relative_error(result.aic, fit.aic) < 1e-9
    assert relative_error(result.scale, fit.scale) < 1e-9
    assert result.df_resid == fit.df_resid
    assert result.n == fit.nobs
    assert result.converged


CNSIM_MODELS = [
    (
        "gaussian",
        "LAB_TSC ~ LAB_HDL + PM_BMI_CONTINUOUS + GENDER + PM_BMI_CATEGORICAL",
        ["PM_BMI_CATEGORICAL"],
    ),
    ("binomial", "DIS_DIAB ~ LAB_TSC + LAB_HDL + PM_BMI_CONTINUOUS + GENDER", []),
    ("binomial", "MEDI_LPD ~ LAB_TSC * GENDER + PM_BMI_CATEGORICAL", ["PM_BMI_CATEGORICAL"]),
    ("poisson", "DIS_CVA ~ LAB_TSC + GENDER + PM_BMI_CATEGORICAL", ["PM_BMI_CATEGORICAL"]),
]


@pytest.mark.shared_data
@pytest.mark.parametrize(("family", "formula", "categorical"), CNSIM_MODELS)
def test_glm_equals_statsmodels_on_pooled_cnsim(
    cnsim: list[pd.DataFrame], family: str, formula: str, categorical: list[str]
) -> None:
    run = run_federated(
        GLM(), cnsim, {"formula": formula, "family": family}, categorical=categorical
    )
    result = run.result
    assert isinstance(result, GLMResult)
    fit = pooled_fit(cnsim, formula, family, categorical)
    assert_matches(result, fit)
    complete = [len(f.dropna(subset=[c for c in f.columns if c in formula])) for f in cnsim]
    assert result.n_per_site == tuple(complete)
    assert run.notes[0].startswith("iteration 1, deviance")


@pytest.fixture(scope="module")
def randhie() -> list[pd.DataFrame]:
    data = sm.datasets.randhie.load_pandas().data.astype(float)
    data["any_visit"] = (data["mdvis"] > 0).astype(float)
    data["exposure"] = np.log1p(data["physlm"] + data["hlthp"])
    return split(data.sample(frac=1.0, random_state=3).reset_index(drop=True), [6000, 9000, 5190])


RANDHIE = "lncoins + idp + lpi + fmde + physlm + disea + hlthg + hlthf + hlthp"


@pytest.mark.parametrize(
    ("family", "response"), [("gaussian", "lpi"), ("binomial", "any_visit"), ("poisson", "mdvis")]
)
def test_glm_equals_statsmodels_on_randhie_split_in_three(
    randhie: list[pd.DataFrame], family: str, response: str
) -> None:
    rhs = RANDHIE.replace("lpi + ", "") if response == "lpi" else RANDHIE
    formula = f"{response} ~ {rhs}"
    result = run_federated(GLM(), randhie, {"formula": formula, "family": family}).result
    assert isinstance(result, GLMResult)
    assert_matches(result, pooled_fit(randhie, formula, family))


def test_glm_poisson_offset_and_binomial_weights_equal_statsmodels(
    randhie: list[pd.DataFrame],
) -> None:
    formula = "mdvis ~ lncoins + idp + disea"
    params = {"formula": formula, "family": "poisson", "offset": "exposure"}
    result = run_federated(GLM(), randhie, params).result
    assert isinstance(result, GLMResult)
    assert_matches(result, pooled_fit(randhie, formula, "poisson", offset="exposure"))

    formula = "any_visit ~ lncoins + idp + hlthg"
    params = {"formula": formula, "family": "binomial", "weights": "disea"}
    result = run_federated(GLM(), randhie, params).result
    assert isinstance(result, GLMResult)
    assert_matches(result, pooled_fit(randhie, formula, "binomial", var_weights="disea"))


@pytest.mark.shared_data
def test_glm_encodes_a_level_absent_at_one_site_like_the_others(
    cnsim: list[pd.DataFrame],
) -> None:
    sites = [cnsim[0][cnsim[0]["PM_BMI_CATEGORICAL"] != 3], cnsim[1], cnsim[2]]
    formula = "LAB_TSC ~ PM_BMI_CATEGORICAL + GENDER"
    categorical = ["PM_BMI_CATEGORICAL"]
    run = run_federated(GLM(), sites, {"formula": formula}, categorical=categorical)
    assert isinstance(run.result, GLMResult)
    assert "PM_BMI_CATEGORICAL[T.3]" in run.result.terms
    assert_matches(run.result, pooled_fit(sites, formula, "gaussian", categorical))


@pytest.mark.shared_data
@pytest.mark.parametrize("categorical", [[], ["GENDER", "DIS_DIAB"]])
def test_glm_reports_quasi_separation_in_cnsim_study_1(
    cnsim: list[pd.DataFrame], categorical: list[str]
) -> None:
    params = {"formula": "MEDI_LPD ~ GENDER*DIS_DIAB", "family": "binomial"}
    with pytest.raises(ModelError, match="quasi-complete separation suspected") as caught:
        run_federated(GLM(), cnsim[:1], params, categorical=categorical)
    # the diverging term is named, and only that one
    assert "GENDER" in caught.value.detail and ":DIS_DIAB" in caught.value.detail
    assert "Intercept" not in caught.value.detail


def test_glm_reports_complete_separation_and_a_constant_response() -> None:
    x = np.arange(40, dtype=float)
    frame = pd.DataFrame({"y": (x > 19).astype(float), "x": x})
    with pytest.raises(ModelError, match="separation"):
        run_federated(GLM(), split(frame, [20, 20]), {"formula": "y ~ x", "family": "binomial"})
    frame = pd.DataFrame({"y": np.zeros(40), "x": x})
    with pytest.raises(ModelError, match="separation"):
        run_federated(GLM(), split(frame, [20, 20]), {"formula": "y ~ x", "family": "poisson"})


def test_glm_names_aliased_terms_of_a_singular_design() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"y": rng.normal(size=60), "a": rng.normal(size=60)})
    frame["b"] = 2 * frame["a"]
    frame["c"] = rng.normal(size=60)
    frame["d"] = 3 - frame["c"]
    sites = split(frame, [30, 30])
    with pytest.raises(ModelError, match=r"singular design: terms a and b are aliased"):
        run_federated(GLM(), sites, {"formula": "y ~ a + b + c"})
    with pytest.raises(ModelError, match=r"singular design: terms Intercept, c and d are aliased"):
        run_federated(GLM(), sites, {"formula": "y ~ a + c + d"})


def test_glm_that_does_not_converge_says_so() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": x, "y": (rng.random(200) < 1 / (1 + np.exp(-2 * x))) * 1.0})
    params = {"formula": "y ~ x", "family": "binomial", "max_iter": 2}
    result = run_federated(GLM(), split(frame, [100, 100]), params).result
    assert isinstance(result, GLMResult)
    assert not result.converged and result.iterations == 2
    assert "did not converge" in str(result)
    assert result.table().attrs["warnings"] == list(result.warnings)


def test_glm_refuses_when_a_site_count_is_suppressed() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"y": rng.normal(size=300), "x": rng.uniform(size=300)})
    with pytest.raises(DisclosureRefused, match="below its disclosure threshold"):
        run_federated(GLM(), split(frame, [295, 5]), {"formula": "y ~ x"}, gate=suppress_below(10))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"formula": "y ~ x", "family": "tweedie"}, "family: unknown value 'tweedie'"),
        ({"formula": "y ~ nope"}, "unknown column 'nope'"),
        ({"formula": "y ~ center(x)"}, "center"),
        ({"formula": "x"}, "needs a response"),
        ({"formula": "y ~ x", "max_iter": 0}, "max_iter"),
        ({"formula": "y ~ x", "colour": "red"}, "does not take colour"),
        ({"formula": "y ~ x", "offset": "g"}, "not numeric"),
        ({"formula": "y ~ x", "per_site": True}, "does not take per_site"),
        ({"formula": "y ~ x", "tol": "tiny"}, "tol: expected a number, got the string 'tiny'"),
        ({"formula": "y ~ x", "max_iter": 2.5}, "max_iter: expected a whole number"),
        ({"formula": "y ~ x", "version": 99}, "wire version 99 is newer"),
        ({"formula": 3}, "formula: expected a string"),
        ({}, "formula: is required"),
    ],
)
def test_glm_rejects_bad_parameters(params: dict[str, Any], message: str) -> None:
    frame = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [1.0, 0, 2, 5], "g": ["a", "b", "a", "b"]})
    with pytest.raises(InvalidRequest, match=message):
        run_federated(GLM(), [frame], params)


@pytest.mark.shared_data
def test_glm_per_site_meta_analysis_equals_hand_computation(cnsim: list[pd.DataFrame]) -> None:
    formula = "DIS_DIAB ~ LAB_TSC + PM_BMI_CONTINUOUS + GENDER"
    params = {"formula": formula, "family": "binomial"}
    result = run_federated(GLMMeta(), cnsim, params).result
    fits = [pooled_fit([site], formula, "binomial") for site in cnsim]
    beta = np.array([f.params.to_numpy() for f in fits])
    var = np.array([f.bse.to_numpy() ** 2 for f in fits])
    w = 1 / var
    fixed = (w * beta).sum(0) / w.sum(0)
    q = (w * (beta - fixed) ** 2).sum(0)
    tau2 = np.maximum((q - 2) / (w.sum(0) - (w**2).sum(0) / w.sum(0)), 0)
    wr = 1 / (var + tau2)
    random = (wr * beta).sum(0) / wr.sum(0)
    names = list(fits[0].params.index)
    assert relative_error(result.fixed_coef[names], fixed) < TOL  # type: ignore[attr-defined]
    assert relative_error(result.fixed_se[names], 1 / np.sqrt(w.sum(0))) < TOL  # type: ignore[attr-defined]
    assert relative_error(result.Q[names], q) < TOL  # type: ignore[attr-defined]
    assert relative_error(result.tau2[names] + 1, tau2 + 1) < TOL  # type: ignore[attr-defined]
    assert relative_error(result.random_coef[names], random) < TOL  # type: ignore[attr-defined]
    assert relative_error(result.random_se[names], 1 / np.sqrt(wr.sum(0))) < TOL  # type: ignore[attr-defined]
    i2 = np.where(q > 0, np.maximum((q - 2) / q, 0), 0)
    assert relative_error(result.I2[names] + 1, i2 + 1) < TOL  # type: ignore[attr-defined]
    assert "random_coef" in str(result)


SPLIT_DATA = sm.datasets.randhie.load_pandas().data.astype(float).iloc[:1200]
SPLIT_FORMULA = "mdvis ~ lncoins + idp + lpi + physlm"
SPLIT_FIT = pooled_fit([SPLIT_DATA], SPLIT_FORMULA, "poisson")
cut_points = st.lists(
    st.integers(min_value=40, max_value=1160), min_size=1, max_size=5, unique=True
)


@settings(max_examples=10 if os.environ.get("CI") else 25, deadline=None)
@given(cut_points)
def test_glm_gives_the_pooled_answer_for_any_split_into_sites(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), len(SPLIT_DATA)]
    sites = split(SPLIT_DATA, [b - a for a, b in itertools.pairwise(edges)])
    params = {"formula": SPLIT_FORMULA, "family": "poisson"}
    result = run_federated(GLM(), sites, params).result
    assert isinstance(result, GLMResult)
    assert_matches(result, SPLIT_FIT)


@pytest.mark.parametrize(
    ("family", "link"),
    [
        ("binomial", None),
        ("poisson", None),
        ("gaussian", None),
        ("gamma", "log"),
        ("binomial", "probit"),
        ("negative_binomial", None),
    ],
)
def test_round_zero_null_model_sums_are_the_full_models_over_a_column_of_ones(
    family: str, link: str | None
) -> None:
    """Round 0 takes the intercept-only model's sums from the full model's first step (both
    start from each row's own mean): they equal the sums taken over the rows, with an offset,
    prior weights and a shifted design."""
    from causeway.algorithms import glm as glm_module
    from causeway.algorithms.family import Family, Link, Model
    from causeway.algorithms.glm_spec import SiteData

    rng = np.random.default_rng(7)
    n = 5_000
    x = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    y = {
        "binomial": rng.integers(0, 2, n).astype(float),
        "poisson": rng.poisson(2.0, n).astype(float),
        "negative_binomial": rng.poisson(3.0, n).astype(float),
        "gaussian": rng.normal(5.0, 2.0, n),
        "gamma": rng.gamma(2.0, 1.5, n),
    }[family]
    var, freq = rng.uniform(0.5, 2.0, n), rng.integers(1, 3, n).astype(float)
    offset = rng.normal(0.0, 0.1, n) if family != "binomial" else np.zeros(n)
    data = SiteData(x=x, y=y, w=var * freq, offset=offset, freq=freq, var=var)
    model = Model.of(Family(family), None if link is None else Link(link))
    shift = np.array([0.0, 0.5, -1.0, 2.0])
    eta, _, full = glm_module._step(model, data, None, 1.0, shift)
    fast = glm_module._null_working(model, data, None, {}, glm_module._start(None, eta, full))
    slow = glm_module._null_working(model, data, None, {})
    assert fast.xtwx.shape == slow.xtwx.shape == (1, 1)
    np.testing.assert_allclose(fast.xtwx, slow.xtwx, rtol=1e-12)
    np.testing.assert_allclose(fast.xtwz, slow.xtwz, rtol=1e-12)
    assert fast.deviance == pytest.approx(slow.deviance, rel=1e-12)
    assert glm_module._start([0.1, 0.2, 0.3, 0.4], eta, full) is None  # later rounds: the rows


def test_the_log_weight_sum_is_zero_without_variance_weights_and_exact_with_them() -> None:
    from causeway.algorithms import glm as glm_module
    from causeway.algorithms.glm_spec import SiteData

    n = 1_000
    rng = np.random.default_rng(3)
    x, y = np.ones((n, 1)), rng.normal(size=n)
    freq = rng.integers(0, 3, n).astype(float)
    plain = SiteData(x=x, y=y, w=freq, offset=np.zeros(n), freq=freq, var=np.ones(n))
    assert glm_module._sum_log_w(plain) == 0.0
    var = rng.uniform(0.0, 3.0, n)
    var[:5] = 0.0  # rows of weight zero do not count
    weighted = SiteData(x=x, y=y, w=var * freq, offset=np.zeros(n), freq=freq, var=var)
    kept = (var > 0) & (freq > 0)
    expected = float(np.sum(freq[kept] * np.log(var[kept])))
    assert glm_module._sum_log_w(weighted) == pytest.approx(expected, rel=1e-12)
    assert expected != 0.0
