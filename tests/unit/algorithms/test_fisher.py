"""Issue #19: Fisher's exact test on the pooled 2 x 2 table equals scipy's ``fisher_exact``
(two-sided p and the sample odds ratio), and is refused when a site's gate withheld a cell."""

from __future__ import annotations

import itertools
import os

import pandas as pd
import pytest
from harness import relative_error, run_federated, split, suppress_below
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines.datasets import load_gbsg2, load_lung
from scipy import stats

from causeway.algorithms.crosstab import Crosstab, CrosstabResult
from causeway.algorithms.fisher import Fisher, FisherResult
from causeway.model.errors import DisclosureRefused, InvalidRequest


def lung() -> pd.DataFrame:
    data = load_lung()
    data.columns = [c.replace(".", "_") for c in data.columns]
    return data


CASES = {
    # data, site sizes (one unbalanced), row, col
    "gbsg2": (load_gbsg2(), [60, 300, 326], "horTh", "menostat"),
    "lung": (lung(), [30, 120, 78], "sex", "status"),
}


def pooled_table(data: pd.DataFrame, row: str, col: str) -> list[list[int]]:
    return pd.crosstab(data[row], data[col]).to_numpy().tolist()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_fisher_equals_scipy(case: str, alternative: str) -> None:
    data, sizes, row, col = CASES[case]
    sites = split(data, sizes)
    params = {"row": row, "col": col, "alternative": alternative}
    result = run_federated(Fisher(), sites, params, categorical=[row, col]).result
    assert isinstance(result, FisherResult)
    table = pooled_table(data, row, col)
    expected = stats.fisher_exact(table, alternative=alternative)
    assert [list(r) for r in result.counts] == table
    assert relative_error(result.p_value, expected.pvalue) < 1e-12
    assert relative_error(result.odds_ratio, expected.statistic) < 1e-12
    (a, b), (c, d) = table
    assert result.odds_ratio == pytest.approx(a * d / (b * c), rel=1e-12)  # the sample odds ratio
    assert result.to_frame().loc[0, "p_value"] == result.p_value
    assert "Fisher's exact test" in result.summary()
    # the same test from the crosstab's released table
    crosstab = run_federated(Crosstab(), sites, {"row": row, "col": col}, categorical=[row, col])
    assert isinstance(crosstab.result, CrosstabResult)
    assert crosstab.result.fisher(alternative) == result  # type: ignore[arg-type]


def test_fisher_is_refused_when_a_cell_was_suppressed() -> None:
    data, _sizes, row, col = CASES["lung"]
    # a small site whose cells fall below the minimum: its gate suppresses them
    sites = split(data, [14, 214])
    params = {"row": row, "col": col}
    with pytest.raises(DisclosureRefused, match="suppressed a cell"):
        run_federated(Fisher(), sites, params, categorical=[row, col], gate=suppress_below(5))
    crosstab = run_federated(
        Crosstab(), sites, params, categorical=[row, col], gate=suppress_below(5)
    ).result
    assert isinstance(crosstab, CrosstabResult) and crosstab.chi2 is None
    with pytest.raises(DisclosureRefused, match="suppressed a cell"):
        crosstab.fisher()
    # where every cell passes the same gate, the test stands
    big = split(data, [128, 100])
    passed = run_federated(Fisher(), big, params, categorical=[row, col], gate=suppress_below(5))
    expected = stats.fisher_exact(pooled_table(data, row, col))
    assert relative_error(passed.result.p_value, expected.pvalue) < 1e-12


def test_fisher_needs_two_by_two() -> None:
    data, sizes, _row, col = CASES["gbsg2"]
    sites = split(data, sizes)
    with pytest.raises(InvalidRequest, match="3 levels"):
        run_federated(Fisher(), sites, {"row": "tgrade", "col": col}, categorical=["tgrade", col])
    with pytest.raises(InvalidRequest, match="different columns"):
        run_federated(Fisher(), sites, {"row": col, "col": col}, categorical=[col])
    crosstab = run_federated(
        Crosstab(), sites, {"row": "tgrade", "col": col}, categorical=["tgrade", col]
    ).result
    with pytest.raises(InvalidRequest, match="2 x 2"):
        crosstab.fisher()


GBSG2 = load_gbsg2()


@settings(max_examples=8 if os.environ.get("CI") else 15, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=685), min_size=1, max_size=5, unique=True))
def test_fisher_gives_the_pooled_answer_for_any_split(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), len(GBSG2)]
    sites = split(GBSG2, [b - a for a, b in itertools.pairwise(edges)])
    params = {"row": "horTh", "col": "menostat"}
    result = run_federated(Fisher(), sites, params, categorical=["horTh", "menostat"]).result
    expected = stats.fisher_exact(pooled_table(GBSG2, "horTh", "menostat"))
    assert relative_error(result.p_value, expected.pvalue) < 1e-12
