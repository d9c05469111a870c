"""Issue #19's GLM models through the real federation: a probit fit with robust errors, the
cluster-robust fit by site (glm_cluster) from the client and the CLI, and a negative binomial
with alpha estimated, over statsmodels' fair data as three nodes, equal to statsmodels on the
stacked rows; and glm_cluster refused where the policy forbids per-site releases."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from typer.testing import CliRunner

import causeway
from causeway.cli import app
from causeway.model.errors import DisclosureRefused

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FORMULA = "had ~ rate_marriage + age + yrs_married + children + religious + educ"
SIZES = {"north": 1000, "south": 4000, "east": 1366}


def _fair() -> dict[str, pd.DataFrame]:
    data = sm.datasets.fair.load_pandas().data.astype(float)
    data = data.assign(had=(data["affairs"] > 0).astype(float), visits=np.round(data["affairs"]))
    data = data.sample(frac=1.0, random_state=19).reset_index(drop=True)  # it is sorted
    frames, start = {}, 0
    for name, size in SIZES.items():
        frames[name] = data.iloc[start : start + size].reset_index(drop=True)
        start += size
    return frames


@pytest.fixture(scope="module")
def fair() -> Iterator[tuple[causeway.LocalFederation, pd.DataFrame]]:
    frames = _fair()
    with causeway.LocalFederation(
        frames, dataset="fair", policy=causeway.Policy.unrestricted()
    ) as fed:
        yield fed, pd.concat(frames.values(), ignore_index=True)


def _reference(pooled: pd.DataFrame, **fit: object) -> object:
    family = sm.families.Binomial(sm.families.links.Probit())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.glm(FORMULA, pooled, family=family).fit(
            tol=1e-12, tol_criterion="params", maxiter=1000, **fit
        )


def test_probit_with_robust_and_site_clustered_errors_equals_statsmodels(fair: tuple) -> None:
    fed, pooled = fair
    robust = fed.client.glm("fair", FORMULA, family="binomial", link="probit", cov_type="HC0")
    expected = _reference(pooled, cov_type="HC0")
    names = list(expected.params.index)  # type: ignore[attr-defined]
    np.testing.assert_allclose(robust.coef[names], expected.params, rtol=1e-6)  # type: ignore[attr-defined]
    np.testing.assert_allclose(robust.se[names], expected.bse, rtol=1e-6)  # type: ignore[attr-defined]
    assert robust.link == "probit" and "covariance: HC0" in robust.summary()

    clustered = fed.client.glm(
        "fair", FORMULA, family="binomial", link="probit", cov_type="cluster", inference="t"
    )
    groups = np.repeat(np.arange(3), list(SIZES.values()))
    expected = _reference(pooled, cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    np.testing.assert_allclose(clustered.se[names], expected.bse, rtol=1e-6)  # type: ignore[attr-defined]
    np.testing.assert_allclose(clustered.pvalues[names], expected.pvalues, rtol=1e-6)  # type: ignore[attr-defined]
    assert clustered.n_clusters == 3 and clustered.df_inference == 2

    options = ["--family", "binomial", "--link", "probit", "--cov-type", "cluster"]
    hub = ["--hub", fed.url, "--token", fed.researcher_token]
    out = CliRunner().invoke(
        app, ["run", "glm", "fair", FORMULA, *options, *hub], env={"COLUMNS": "200"}
    )
    assert out.exit_code == 0, out.output
    assert "covariance: cluster (by site, 3 clusters)" in out.output
    assert "(probit link)" in out.output
    assert f"{clustered.se['educ']:.6g}" in out.output


def test_negative_binomial_alpha_estimated_over_the_federation(fair: tuple) -> None:
    fed, pooled = fair
    formula = "visits ~ rate_marriage + age + religious"
    result = fed.client.glm("fair", formula, family="negative_binomial")
    model = smf.negativebinomial(formula, pooled, loglike_method="nb2")
    start = model.fit(maxiter=1000, disp=0).params
    expected = model.fit(start_params=start, method="newton", maxiter=200, disp=0)
    names = [n for n in expected.params.index if n != "alpha"]
    np.testing.assert_allclose(result.coef[names], expected.params[names], rtol=1e-6)
    np.testing.assert_allclose(result.se[names], expected.bse[names], rtol=1e-6)
    assert result.alpha == pytest.approx(expected.params["alpha"], rel=1e-6)
    assert result.alpha_se == pytest.approx(expected.bse["alpha"], rel=1e-6)


def test_site_clustered_errors_are_refused_where_per_site_releases_are() -> None:
    policy = causeway.Policy(per_site_estimates=False)
    frames = {name: frame.iloc[:400] for name, frame in _fair().items()}
    with (
        causeway.LocalFederation(frames, dataset="fair", policy=policy) as federation,
        pytest.raises(DisclosureRefused, match=r"forbids per-site estimates \(glm_cluster"),
    ):
        federation.client.glm("fair", "had ~ age + educ", family="binomial", cov_type="cluster")
