"""Issue #19: one-way ANOVA equals scipy's ``f_oneway`` and statsmodels' ``anova_lm`` on the
pooled rows, at any split and however far the data lie from the dictionary's centre."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from harness import relative_error, run_federated, split, suppress_below
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines.datasets import load_gbsg2
from scipy import stats
from test_precision import bounded

from causeway.algorithms.anova import Anova, AnovaResult
from causeway.model.errors import DisclosureRefused, InvalidRequest, ModelError

TOL = 1e-9


def fair() -> pd.DataFrame:
    return sm.datasets.fair.load_pandas().data


CASES = {
    # data, site sizes (one unbalanced), column, by
    "gbsg2": (load_gbsg2(), [80, 300, 306], "age", "tgrade"),
    "fair": (fair(), [500, 4000, 1866], "affairs", "occupation"),
}


def assert_equals_pooled(result: AnovaResult, data: pd.DataFrame, column: str, by: str) -> None:
    groups = [g[column].to_numpy() for _, g in data.groupby(by, sort=True)]
    reference = stats.f_oneway(*groups)
    assert relative_error(result.f, reference.statistic) < TOL
    assert relative_error(result.p_value, reference.pvalue) < 1e-7
    table = sm.stats.anova_lm(smf.ols(f"{column} ~ C({by})", data=data).fit())
    assert relative_error(result.ss_between, table["sum_sq"].iloc[0]) < TOL
    assert relative_error(result.ss_within, table["sum_sq"].iloc[1]) < TOL
    assert (result.df_between, result.df_within) == tuple(table["df"])
    frame = result.groups()
    means = data.groupby(by, sort=True)[column].agg(["mean", "std", "size"])
    assert relative_error(frame["mean"], means["mean"]) < TOL
    assert relative_error(frame["sd"], means["std"]) < TOL
    assert frame["n"].tolist() == means["size"].tolist()


@pytest.mark.parametrize("case", sorted(CASES))
def test_anova_equals_scipy_and_statsmodels(case: str) -> None:
    data, sizes, column, by = CASES[case]
    sites = split(data, sizes)
    run = run_federated(Anova(), sites, {"column": column, "by": by}, categorical=[by])
    assert isinstance(run.result, AnovaResult) and run.rounds <= 2
    assert_equals_pooled(run.result, data, column, by)
    assert "One-way ANOVA" in run.result.summary()
    table = run.result.to_frame()
    assert list(table["term"]) == [by, "Residual"]
    assert (
        table.loc[0, "statistic"] == run.result.f and table.loc[0, "p_value"] == run.result.p_value
    )


def test_anova_is_exact_far_from_the_centre() -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {"x": 1e9 + rng.normal(size=300) + np.repeat([0.0, 0.3, 0.5], 100), "g": [0, 1, 2] * 100}
    )
    sites = split(frame, [30, 150, 120])
    dictionary = bounded(sites, {"x": (0.0, 1e9 + 10.0)})
    run = run_federated(Anova(), sites, {"column": "x", "by": "g"}, dictionary=dictionary)
    assert run.rounds == 2  # the second round about each group's pooled mean
    # F is shift invariant, and x - 1e9 is exact in float64 here: the reference loses nothing
    shifted = [(g["x"] - 1e9).to_numpy() for _, g in frame.groupby("g")]
    assert relative_error(run.result.f, stats.f_oneway(*shifted).statistic) < 1e-10


def test_anova_refusals() -> None:
    data, sizes, column, by = CASES["gbsg2"]
    sites = split(data, sizes)
    with pytest.raises(InvalidRequest, match="categorical or boolean"):
        run_federated(Anova(), sites, {"column": column, "by": "pnodes"})
    with pytest.raises(InvalidRequest, match="not numeric"):
        run_federated(Anova(), sites, {"column": by, "by": by}, categorical=[by])
    one = [s.assign(g="a") for s in sites]
    with pytest.raises(ModelError, match="two groups"):
        run_federated(Anova(), one, {"column": column, "by": "g"}, categorical=["g"])
    tiny = [sites[0].iloc[:4], sites[1]]
    with pytest.raises(DisclosureRefused):
        run_federated(
            Anova(), tiny, {"column": column, "by": by}, categorical=[by], gate=suppress_below(5)
        )


GBSG2 = load_gbsg2()


@settings(max_examples=8 if os.environ.get("CI") else 15, deadline=None)
@given(st.lists(st.integers(min_value=20, max_value=660), min_size=1, max_size=4, unique=True))
def test_anova_gives_the_pooled_answer_for_any_split(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), len(GBSG2)]
    sites = split(GBSG2, [b - a for a, b in itertools.pairwise(edges)])
    result = run_federated(
        Anova(), sites, {"column": "tsize", "by": "tgrade"}, categorical=["tgrade"]
    ).result
    assert_equals_pooled(result, GBSG2, "tsize", "tgrade")
