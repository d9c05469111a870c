"""Issue #19, GLM: separation at any n, covariates far from zero, per-site fits without a level,
and the stated conventions (z or t inference, variance or frequency weights)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from harness import dictionary_for, relative_error, run_federated, split
from scipy import stats
from scipy.special import expit
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning
from test_glm import FAMILIES, assert_matches

from causeway.algorithms.glm import GLM
from causeway.algorithms.glm_result import GLMResult
from causeway.algorithms.meta import GLMMeta, MetaResult
from causeway.model.dictionary import Dictionary
from causeway.model.errors import InvalidRequest, ModelError


def _separated(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, x2, z = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame({"y": (x + 0.5 * x2 > 0).astype(float), "x": x, "x2": x2, "z": z})


@pytest.mark.parametrize(("n", "seed"), [(400, 4), (1000, 0), (5000, 1), (40, 2)])
def test_complete_separation_is_refused_at_any_n(n: int, seed: int) -> None:
    frame = _separated(n, seed)
    # y = [x + x2 / 2 > 0]: separated by construction. statsmodels on the pooled rows warns of
    # perfect separation, or (at n = 5000, where its 1e-8 test is not reached) returns a fit with
    # diverged coefficients
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = sm.GLM(frame.y, sm.add_constant(frame[["x", "x2", "z"]]), sm.families.Binomial())
        fit = model.fit()
    warned = any(issubclass(w.category, PerfectSeparationWarning) for w in caught)
    assert warned or abs(fit.params["x"]) > 100
    params = {"formula": "y ~ x + x2 + z", "family": "binomial"}
    with pytest.raises(ModelError, match="glm: complete separation") as refused:
        run_federated(GLM(), split(frame, [n // 2, n - n // 2]), params)
    named = refused.value.detail.split("term(s) ")[1].split(" classifies")[0]
    assert "x" in named.split(", ") and "x2" in named.split(", ")
    if n >= 400:  # (with 40 rows the noise column helps to separate them)
        assert "z" not in named.split(", ")


def test_complete_separation_on_a_categorical_term_and_through_weights() -> None:
    rng = np.random.default_rng(5)
    n = 600
    g = rng.choice(["a", "b"], size=n)
    frame = pd.DataFrame({"y": (g == "b").astype(float), "g": g, "w": rng.integers(1, 4, n) * 1.0})
    sites = split(frame, [300, 300])
    with pytest.raises(ModelError, match=r"glm: complete separation.*g\[T\.b\]"):
        run_federated(GLM(), sites, {"formula": "y ~ g", "family": "binomial"}, categorical=["g"])
    with pytest.raises(ModelError, match="complete separation"):
        run_federated(
            GLM(),
            sites,
            {"formula": "y ~ g", "family": "binomial", "weights": "w"},
            categorical=["g"],
        )


@pytest.mark.parametrize("n", [400, 20000])
def test_a_strong_effect_that_does_not_separate_is_fitted(n: int) -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"x": x, "y": (rng.random(n) < 1 / (1 + np.exp(-6 * x))) * 1.0})
    result = run_federated(
        GLM(), split(frame, [n // 3, n - n // 3]), {"formula": "y ~ x", "family": "binomial"}
    ).result
    assert isinstance(result, GLMResult) and result.converged
    fit = sm.GLM(frame.y, sm.add_constant(frame[["x"]]), sm.families.Binomial()).fit(tol=1e-13)
    assert relative_error(result.coef[["const", "x"][1:]].to_numpy(), fit.params["x"]) < 1e-6


def _far(n: int, seed: int, level: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, z = level + rng.normal(size=n), rng.normal(size=n)
    u = x - level
    return pd.DataFrame(
        {
            "x": x,
            "z": z,
            "y": 2 + 0.5 * u + z + rng.normal(size=n),
            "b": (rng.random(n) < 1 / (1 + np.exp(-u))).astype(float),
            "k": rng.poisson(np.exp(0.3 + 0.4 * u)).astype(float),
        }
    )


def _with_bounds(frames: list[pd.DataFrame], name: str, low: float, high: float) -> Dictionary:
    base = dictionary_for(frames)
    return Dictionary(
        tuple(
            dataclasses.replace(c, minimum=low, maximum=high) if c.name == name else c
            for c in base.columns
        )
    )


FAR = [("gaussian", "y ~ x + z"), ("binomial", "b ~ x + z"), ("poisson", "k ~ x + z")]


def _far_dictionary(sites: list[pd.DataFrame], level: float, wide: bool) -> Dictionary:
    # the inferred dictionary's bounds hug the data; wide ones put its centre far from the mean
    if not wide:
        return dictionary_for(sites)
    return _with_bounds(sites, "x", min(0.0, 2 * level), max(0.0, 2 * level) + 10.0)


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize(("family", "formula"), FAR)
def test_a_covariate_far_from_zero_is_fitted_as_statsmodels_fits_it(
    wide: bool, family: str, formula: str
) -> None:
    # |mean| / sd = 2e5, beyond the 7e4 where the rank check used to call it aliased, and where
    # statsmodels' own fit on the raw columns is still accurate
    level = 2e5
    frame = _far(900, 7, level)
    sites = split(frame, [300, 250, 350])
    params = {"formula": formula, "family": family}
    result = run_federated(GLM(), sites, params, dictionary=_far_dictionary(sites, level, wide))
    assert isinstance(result.result, GLMResult)
    fit = smf.glm(formula, frame, family=FAMILIES[family]).fit(tol=1e-13, maxiter=100)
    assert_matches(result.result, fit)


@pytest.mark.parametrize("level", [1e6, -3e7, 1e9])
@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize(("family", "formula"), FAR)
def test_a_covariate_very_far_from_zero_equals_the_centred_fit(
    level: float, wide: bool, family: str, formula: str
) -> None:
    """Beyond |mean| / sd ~ 1e6 statsmodels on the raw columns loses digits itself (at 1e9 it
    misjudges the rank); the exact reference is statsmodels on x - level, transformed back
    (b0 = b0~ - level bx, the covariance by the same linear map)."""
    frame = _far(900, 7, level)
    sites = split(frame, [300, 250, 350])
    params = {"formula": formula, "family": family}
    result = run_federated(GLM(), sites, params, dictionary=_far_dictionary(sites, level, wide))
    got = result.result
    assert isinstance(got, GLMResult) and got.converged
    centred = frame.assign(x=frame["x"] - level)
    fit = smf.glm(formula, centred, family=FAMILIES[family]).fit(tol=1e-13, maxiter=100)
    names = list(fit.params.index)
    transform = np.eye(3)
    transform[0, names.index("x")] = -level
    coef = transform @ fit.params.to_numpy()
    se = np.sqrt(np.diag(transform @ fit.cov_params().to_numpy() @ transform.T))
    assert relative_error(got.coef[names].to_numpy(), coef) < 1e-6
    assert relative_error(got.se[names].to_numpy(), se) < 1e-6
    for mine, theirs in ((got.deviance, fit.deviance), (got.llf, fit.llf), (got.aic, fit.aic)):
        assert relative_error(mine, theirs) < 1e-9
    assert relative_error(got.null_deviance, fit.null_deviance) < 1e-9


def test_a_truly_aliased_covariate_far_from_zero_is_still_refused() -> None:
    frame = _far(400, 8, 1e6)
    frame["x2"] = 2 * frame["x"] - 5.0
    with pytest.raises(ModelError, match=r"singular design: terms Intercept, x and x2 are aliased"):
        run_federated(GLM(), split(frame, [200, 200]), {"formula": "y ~ x + x2"})


@pytest.mark.parametrize("family", ["gaussian", "binomial"])
def test_per_site_fit_leaves_out_a_level_a_site_does_not_have(family: str) -> None:
    rng = np.random.default_rng(9)
    frames = []
    for site, levels in enumerate((["a", "b"], ["a", "b", "c"], ["a", "b", "c"])):
        n = 400
        g = rng.choice(levels, size=n)
        x = rng.normal(size=n) + site * 1e5  # a site far from zero too
        eta = 0.3 + 0.5 * (x - site * 1e5) + np.select([g == "b", g == "c"], [0.4, -0.6], 0.0)
        y = eta + rng.normal(size=n) if family == "gaussian" else rng.random(n) < expit(eta)
        frames.append(pd.DataFrame({"y": np.asarray(y, dtype=float), "x": x, "g": g}))
    for frame in frames:
        frame["g"] = pd.Categorical(frame["g"], categories=["a", "b", "c"])
    formula = "y ~ x + g"
    result = run_federated(GLMMeta(), frames, {"formula": formula, "family": family}).result
    assert isinstance(result, MetaResult)
    assert result.table()["sites"].to_dict() == {"Intercept": 3, "x": 3, "g[T.b]": 3, "g[T.c]": 2}
    assert "sites" in str(result)
    # the hand computation from each site's own statsmodels fit (site 0 without g[T.c])
    names = list(result.terms)
    fits = [
        smf.glm(
            "y ~ x + C(g, levels=['a', 'b'])" if i == 0 else "y ~ x + C(g, levels=['a', 'b', 'c'])",
            frame.assign(g=frame["g"].astype(str)),
            family=FAMILIES[family],
        ).fit(tol=1e-13)
        for i, frame in enumerate(frames)
    ]
    beta = np.full((3, 4), np.nan)
    var = np.full((3, 4), np.inf)
    for i, fit in enumerate(fits):
        rename = {
            t: "g[T." + t.rsplit("[T.", 1)[1] if t.startswith("C(g") else t
            for t in fit.params.index
        }
        params, se = fit.params.rename(index=rename), fit.bse.rename(index=rename)
        for j, name in enumerate(names):
            if name in params:
                beta[i, j], var[i, j] = params[name], se[name] ** 2
    w = np.where(np.isfinite(var), 1 / var, 0.0)
    b = np.nan_to_num(beta)
    fixed = (w * b).sum(0) / w.sum(0)
    q = (w * (b - fixed) ** 2).sum(0)
    sites = np.array([3, 3, 3, 2])
    tau2 = np.maximum((q - (sites - 1)) / (w.sum(0) - (w**2).sum(0) / w.sum(0)), 0)
    wr = np.where(np.isfinite(var), 1 / (var + tau2), 0.0)
    random = (wr * b).sum(0) / wr.sum(0)
    assert relative_error(result.fixed_coef[names].to_numpy(), fixed) < 1e-6
    assert relative_error(result.fixed_se[names].to_numpy(), 1 / np.sqrt(w.sum(0))) < 1e-6
    assert relative_error(result.Q[names].to_numpy(), q) < 1e-6
    assert relative_error(result.tau2[names].to_numpy() + 1, tau2 + 1) < 1e-6
    assert relative_error(result.random_coef[names].to_numpy(), random) < 1e-6
    p = result.Q_p_value.to_numpy()
    assert relative_error(p[3], stats.chi2.sf(q[3], 1)) < 1e-9  # one degree of freedom there


@pytest.fixture(scope="module")
def weighted() -> pd.DataFrame:
    rng = np.random.default_rng(10)
    n = 600
    x, z = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "z": z,
            "y": 1 + 0.5 * x - 0.3 * z + rng.normal(size=n),
            "b": (rng.random(n) < expit(0.2 + 0.8 * x)).astype(float),
            "k": rng.poisson(np.exp(0.1 + 0.3 * x)).astype(float),
            "vw": rng.uniform(0.5, 3.0, size=n),
            "fw": rng.integers(1, 5, size=n).astype(float),
        }
    )


@pytest.mark.parametrize(
    ("family", "formula"), [("gaussian", "y ~ x + z"), ("binomial", "b ~ x"), ("poisson", "k ~ x")]
)
@pytest.mark.parametrize("kind", ["var_weights", "freq_weights", "weights"])
def test_variance_and_frequency_weights_equal_statsmodels(
    weighted: pd.DataFrame, family: str, formula: str, kind: str
) -> None:
    column = "fw" if kind == "freq_weights" else "vw"
    params = {"formula": formula, "family": family, kind: column}
    result = run_federated(GLM(), split(weighted, [200, 250, 150]), params).result
    assert isinstance(result, GLMResult)
    sm_kind = "var_weights" if kind == "weights" else kind
    fit = smf.glm(formula, weighted, family=FAMILIES[family], **{sm_kind: weighted[column]}).fit(
        tol=1e-13
    )
    assert_matches(result, fit)
    expected = "frequency" if kind == "freq_weights" else "variance"
    assert f"inference: z (normal); weights: {expected}" in result.summary()


def test_frequency_weights_are_not_variance_weights(weighted: pd.DataFrame) -> None:
    sites = split(weighted, [300, 300])
    as_freq = run_federated(GLM(), sites, {"formula": "y ~ x + z", "freq_weights": "fw"}).result
    as_var = run_federated(GLM(), sites, {"formula": "y ~ x + z", "var_weights": "fw"}).result
    assert isinstance(as_freq, GLMResult) and isinstance(as_var, GLMResult)
    assert relative_error(as_freq.coef, as_var.coef) < 1e-9  # the same point estimates
    assert relative_error(as_freq.se, as_var.se) > 0.2  # but not the same standard errors
    assert as_freq.nobs == weighted["fw"].sum() and as_var.nobs == len(weighted)


def test_both_weights_names_at_once_are_refused() -> None:
    frame = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [1.0, 0, 2, 5], "w": [1.0, 2, 1, 2]})
    with pytest.raises(InvalidRequest, match="var_weights only"):
        run_federated(GLM(), [frame], {"formula": "y ~ x", "weights": "w", "var_weights": "w"})
    with pytest.raises(InvalidRequest, match="inference"):
        run_federated(GLM(), [frame], {"formula": "y ~ x", "inference": "normal"})


@pytest.mark.parametrize("weights", [None, "vw"])
def test_t_inference_equals_ols(weighted: pd.DataFrame, weights: str | None) -> None:
    params: dict[str, object] = {"formula": "y ~ x + z", "inference": "t"}
    if weights:
        params["var_weights"] = weights
    result = run_federated(GLM(), split(weighted, [300, 300]), params).result
    assert isinstance(result, GLMResult)
    if weights:
        ols = smf.wls("y ~ x + z", weighted, weights=weighted[weights]).fit()
    else:
        ols = smf.ols("y ~ x + z", weighted).fit()
    names = list(ols.params.index)
    assert relative_error(result.coef[names], ols.params) < 1e-9
    assert relative_error(result.se[names], ols.bse) < 1e-9
    assert relative_error(result.pvalues[names], ols.pvalues) < 1e-7
    ci = result.conf_int()
    assert relative_error(ci.loc[names, "lower"], ols.conf_int()[0]) < 1e-9
    assert relative_error(ci.loc[names, "upper"], ols.conf_int()[1]) < 1e-9
    glm_t = smf.glm(
        "y ~ x + z", weighted, **({"var_weights": weighted[weights]} if weights else {})
    )
    with_t = glm_t.fit(use_t=True)
    assert relative_error(result.pvalues[names], with_t.pvalues) < 1e-7
    assert "inference: t (df 597)" in result.summary()
    assert "t" in result.table().columns
