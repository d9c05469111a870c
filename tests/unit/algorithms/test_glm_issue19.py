"""Issue #19, GLM: separation at any n, covariates far from zero, per-site fits without a level,
and the stated conventions (z or t inference, variance or frequency weights)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from harness import relative_error, run_federated, split
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from causeway.algorithms.glm import GLM
from causeway.algorithms.glm_result import GLMResult
from causeway.model.errors import ModelError


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
