"""Issue #19: Mann–Whitney U and Spearman's rho from histograms on grids every site supports.

With fine bins over integer data (each interval one distinct value) they equal scipy's
``mannwhitneyu(..., method="asymptotic")`` and ``spearmanr`` on the pooled rows; on the coarser
grids a minimum cell count forces, scipy's values lie inside the bounds the result states, and
the bounds hold for any data behind any binned table (a property test of the pure functions).
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pandas as pd
import pytest
from harness import dictionary_for, relative_error, run_federated, split, suppress_below
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines.datasets import load_gbsg2, load_kidney_transplant, load_lung
from scipy import stats

from causeway.algorithms.mannwhitney import MannWhitney, MannWhitneyResult, u_from_bins
from causeway.algorithms.spearman import Spearman, SpearmanResult, rho_from_table
from causeway.model.errors import InvalidRequest, ModelError

EXACT = 1e-9
EXAMPLES = 8 if os.environ.get("CI") else 15


def lung() -> pd.DataFrame:
    data = load_lung()
    data.columns = [c.replace(".", "_") for c in data.columns]
    return data


GBSG2 = load_gbsg2()
LUNG = lung()
KIDNEY = load_kidney_transplant()

MWU_CASES = {
    # data, site sizes (one unbalanced), column (integer-valued), by
    "gbsg2": (GBSG2, [60, 300, 326], "age", "horTh"),
    "lung": (LUNG, [30, 120, 78], "age", "sex"),
}
SPEARMAN_CASES = {
    # data, site sizes, x, y (integer-valued; 64 bins hold one value each)
    "gbsg2": (GBSG2, [60, 300, 326], "age", "pnodes"),
    "lung": (LUNG, [30, 120, 78], "age", "ph_karno"),
}


def scipy_mwu(data: pd.DataFrame, column: str, by: str, continuity: bool = True) -> object:
    first, second = sorted(data[by].unique())
    return stats.mannwhitneyu(
        data.loc[data[by] == first, column],
        data.loc[data[by] == second, column],
        use_continuity=continuity,
        method="asymptotic",
    )


@pytest.mark.parametrize("case", sorted(MWU_CASES))
@pytest.mark.parametrize("continuity", [True, False])
def test_mannwhitney_equals_scipy_on_fine_bins(case: str, continuity: bool) -> None:
    data, sizes, column, by = MWU_CASES[case]
    params = {"column": column, "by": by, "continuity": continuity}
    run = run_federated(MannWhitney(), split(data, sizes), params, categorical=[by])
    result = run.result
    assert isinstance(result, MannWhitneyResult) and run.rounds == 2
    expected = scipy_mwu(data, column, by, continuity)
    assert relative_error(result.u, expected.statistic) < EXACT  # type: ignore[attr-defined]
    assert relative_error(result.p_value, expected.pvalue) < EXACT  # type: ignore[attr-defined]
    assert result.u_min <= result.u <= result.u_max
    assert result.p_min <= result.p_value <= result.p_max
    assert result.intervals == 1024
    frame = result.to_frame()
    assert frame.loc[0, "statistic"] == result.u and frame.loc[0, "estimate"] == pytest.approx(
        result.u / (result.n[0] * result.n[1])
    )
    assert "Mann-Whitney U" in result.summary()


@pytest.mark.parametrize("case", sorted(SPEARMAN_CASES))
def test_spearman_equals_scipy_on_fine_bins(case: str) -> None:
    data, sizes, x, y = SPEARMAN_CASES[case]
    run = run_federated(Spearman(), split(data, sizes), {"x": x, "y": y})
    result = run.result
    assert isinstance(result, SpearmanResult) and run.rounds == 2
    pairs = data[[x, y]].dropna()
    expected = stats.spearmanr(pairs[x], pairs[y]).statistic
    assert relative_error(result.rho, expected) < EXACT
    assert result.rho_min <= expected <= result.rho_max
    assert result.n == len(pairs) and int(result.table.to_numpy().sum()) == len(pairs)
    assert result.to_frame().loc[0, "estimate"] == result.rho
    assert "Spearman's rho" in result.summary()


def test_bounds_hold_on_the_grids_a_minimum_cell_count_forces() -> None:
    sites = split(KIDNEY, [100, 400, 363])
    gate = suppress_below(3)
    params = {"column": "age", "by": "black_male"}
    mwu = run_federated(MannWhitney(), sites, params, categorical=["black_male"], gate=gate)
    result = mwu.result
    assert isinstance(result, MannWhitneyResult)
    assert 1 < result.intervals < 64  # merged: single values would be small cells
    expected = scipy_mwu(KIDNEY, "age", "black_male")
    assert result.u_min <= expected.statistic <= result.u_max  # type: ignore[attr-defined]
    assert result.p_min <= expected.pvalue <= result.p_max  # type: ignore[attr-defined]
    assert result.u != expected.statistic  # type: ignore[attr-defined]  # binned: not exact
    # the bounds follow from the released histograms alone
    hist = result.histogram
    assert len(hist) == result.intervals and hist["upper"].iloc[-1] == result.grid[-1]
    again = u_from_bins(*(hist[level].to_numpy(float) for level in result.levels), True)
    assert again[2:4] == (result.u_min, result.u_max)
    sp = run_federated(Spearman(), sites, {"x": "age", "y": "time"}, gate=gate).result
    assert isinstance(sp, SpearmanResult)
    # a uniform grid per column, coarsened until every cell passes at every site
    assert (len(sp.x_grid) - 1, len(sp.y_grid) - 1) == (2, 8)
    assert len(set(np.round(np.diff(sp.x_grid), 9))) == 1
    rho = stats.spearmanr(KIDNEY["age"], KIDNEY["time"]).statistic
    assert sp.rho_min <= rho <= sp.rho_max < 1.0
    # every released cell holds zero or at least the minimum at every site
    for site in sites:
        cells = pd.crosstab(
            pd.cut(site["age"], sp.x_grid, include_lowest=True),
            pd.cut(site["time"], sp.y_grid, include_lowest=True),
        )
        assert ((cells.to_numpy() == 0) | (cells.to_numpy() >= 3)).all()


def test_spearman_refuses_a_grid_with_a_single_interval_and_a_tampered_grid() -> None:
    sites = split(GBSG2, [100, 300, 286])
    with pytest.raises(ModelError, match="single interval for pnodes"):
        run_federated(Spearman(), sites, {"x": "age", "y": "pnodes"}, gate=suppress_below(3))
    spec = Spearman().prepare({"x": "age", "y": "pnodes"}, dictionary_for(sites))
    for levels in ([0, 7], [-1, 2], [1], [True, 1], "3,3"):
        with pytest.raises(InvalidRequest, match="tree levels"):
            Spearman().check_state(spec, {"levels": levels}, dictionary_for(sites))
    with pytest.raises(InvalidRequest, match="differentially private"):
        Spearman().check_private(spec, dictionary_for(sites))


def test_rank_tests_refuse_bad_input() -> None:
    data, sizes, column, by = MWU_CASES["gbsg2"]
    sites = split(data, sizes)
    with pytest.raises(InvalidRequest, match="power of two"):
        run_federated(MannWhitney(), sites, {"column": column, "by": by, "bins": 1000})
    with pytest.raises(ModelError, match="exactly two levels"):
        run_federated(
            MannWhitney(), sites, {"column": column, "by": "tgrade"}, categorical=["tgrade"]
        )
    with pytest.raises(InvalidRequest, match=r"power of two up to|whole number"):
        run_federated(Spearman(), sites, {"x": "age", "y": "pnodes", "bins": 512})
    with pytest.raises(InvalidRequest, match="different columns"):
        run_federated(Spearman(), sites, {"x": "age", "y": "age"})
    with pytest.raises(InvalidRequest, match="not numeric"):
        run_federated(Spearman(), sites, {"x": "age", "y": "horTh"}, categorical=["horTh"])


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=685), min_size=1, max_size=4, unique=True))
def test_rank_tests_give_the_pooled_answer_for_any_split(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), len(GBSG2)]
    sites = split(GBSG2, [b - a for a, b in itertools.pairwise(edges)])
    mwu = run_federated(
        MannWhitney(), sites, {"column": "pnodes", "by": "horTh"}, categorical=["horTh"]
    ).result
    expected = scipy_mwu(GBSG2, "pnodes", "horTh")
    assert relative_error(mwu.u, expected.statistic) < EXACT  # type: ignore[attr-defined]
    sp = run_federated(Spearman(), sites, {"x": "age", "y": "pnodes"}).result
    assert relative_error(sp.rho, stats.spearmanr(GBSG2["age"], GBSG2["pnodes"])[0]) < EXACT


@settings(max_examples=4 * EXAMPLES, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=4, max_value=80),
    st.integers(min_value=1, max_value=7),
    st.integers(min_value=1, max_value=7),
    st.sampled_from(["continuous", "tied"]),
)
def test_bounds_hold_for_any_data_behind_a_binned_table(
    seed: int, n: int, x_bins: int, y_bins: int, kind: str
) -> None:
    rng = np.random.default_rng(seed)
    if kind == "continuous":
        x = rng.normal(size=n)
        y = rng.uniform(-2, 2) * x + rng.normal(size=n)
    else:
        x = rng.integers(0, 5, n).astype(float)
        y = rng.integers(0, 4, n) + rng.uniform(-1, 1) * x
    ix = np.digitize(x, np.quantile(x, np.linspace(0, 1, x_bins + 1))[1:-1])
    iy = np.digitize(y, np.quantile(y, np.linspace(0, 1, y_bins + 1))[1:-1])
    table = np.zeros((ix.max() + 1, iy.max() + 1))
    np.add.at(table, (ix, iy), 1.0)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    rho = stats.spearmanr(x, y).statistic
    if np.isfinite(rho):
        _, low, high = rho_from_table(table)
        assert low - 1e-12 <= rho <= high + 1e-12
    group = rng.random(n) < 0.5
    if group.all() or not group.any():
        return
    width = ix.max() + 1
    a = np.bincount(ix[group], minlength=width).astype(float)
    b = np.bincount(ix[~group], minlength=width).astype(float)
    _u, _p, u_min, u_max, p_min, p_max = u_from_bins(a, b, True)
    found = stats.mannwhitneyu(x[group], x[~group], method="asymptotic")
    assert u_min <= found.statistic <= u_max
    assert p_min - 1e-12 <= found.pvalue <= p_max + 1e-12
