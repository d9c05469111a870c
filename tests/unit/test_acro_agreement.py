"""Our release gate agrees with ACRO, SACRO's output checker, wherever both judge the same output.

ACRO 1.0.2 is set to the thresholds of our default :class:`Policy` and run on the same DataSHIELD
CNSIM rows (study 1 alone, or all three studies stacked as one site) that our algorithms count
and fit before their results pass our real release gate:

* crosstabs: the non-empty cells ACRO fails on its minimum threshold are exactly the cells our
  gate suppresses as primary (counts 1 to 9); our complementary suppression may add more;
* logistic regression: ACRO's residual degrees-of-freedom check and ours accept and refuse the
  same models, to the exact threshold.

Empty cells are where the two differ, on purpose. ACRO's MinimumThresholdCheck is ``count <
safe_threshold``, so a cell of 0 fails it whatever ``zeros_are_disclosive`` says; that setting
only adds a PresenceOfZeroCheck (class disclosure) on top. Our policy suppresses counts strictly
between 0 and the minimum and releases an empty cell as 0: it holds no one to single out. So we
set ``zeros_are_disclosive`` to false, the setting closest to our policy, compare on non-empty
cells, and pin ACRO's treatment of empty cells in a test of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from acro import ACRO, add_constant

from causeway.algorithms.base import Algorithm, LocalResult
from causeway.algorithms.crosstab import Crosstab
from causeway.algorithms.glm import GLM
from causeway.model.contribution import Contribution
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary, infer_dictionary, level_text
from causeway.model.disclosure import Check, Outcome
from causeway.model.errors import DisclosureRefused
from causeway.model.policy import Policy
from causeway.node.store import NodeStore
from causeway.privacy import tables
from causeway.privacy.gate import ReleaseGate
from causeway.privacy.isolation import design_facts

pytestmark = pytest.mark.shared_data

# tests/conftest.py's SHARED_DATA: `from tests.conftest import ...` fails under pytest's default
# import mode (the repository root is not on sys.path), so the path is spelled here as well.
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
POLICY = Policy()
CATEGORICAL = ("DIS_CVA", "MEDI_LPD", "DIS_DIAB", "DIS_AMI", "GENDER", "PM_BMI_CATEGORICAL")
COVARIATES = ("LAB_TSC", "LAB_HDL", "PM_BMI_CONTINUOUS", "GENDER")
RESPONSE = "DIS_DIAB"
GLM_PARAMS = {"formula": f"{RESPONSE} ~ {' + '.join(COVARIATES)}", "family": "binomial"}
# The checks ACRO's ontology runs on a frequency table: no dominance (NKCheck, PPercentCheck),
# like our gate, which applies the N-k and p% rules to sums only.
FREQUENCY_CHECKS = {
    "MinimumThresholdCheck",
    "PresenceOfZeroCheck",
    "RequiredZeroCheck",
    "PresenceOfLinkedTableCheck",
}

BoolArray = npt.NDArray[np.bool_]


@pytest.fixture(scope="module")
def sites() -> dict[str, pd.DataFrame]:
    folder = SHARED_DATA / "datashield-cnsim"
    if not folder.is_dir():
        pytest.skip(f"needs {folder} (the shared test data, absent in a user's clone)")
    frames = []
    for i in (1, 2, 3):
        frame = pd.read_csv(folder / f"CNSIM{i}.csv", index_col=0)
        frame.columns = [c.strip() for c in frame.columns]
        frames.append(frame.reset_index(drop=True))
    pooled = pd.concat(frames, ignore_index=True)
    return {"study1": frames[0], "study3": frames[2], "pooled": pooled}


@pytest.fixture(scope="module")
def dictionary(sites: dict[str, pd.DataFrame]) -> Dictionary:
    return infer_dictionary(sites["pooled"], categorical=CATEGORICAL)


@pytest.fixture
def acro() -> ACRO:
    """An ACRO session with our default policy's thresholds and no automatic suppression."""
    session = ACRO(suppress=False)
    # ACRO reads its risk appetite from a YAML file beside its own module (a name, not a path),
    # and its checks keep a reference to that same dict: set our policy on it.
    assert session.sdc_checks.risk_appetite is session.config
    session.config.update(
        safe_threshold=POLICY.min_cell_count,
        safe_dof_threshold=POLICY.min_residual_df,
        safe_nk_n=POLICY.dominance_n,
        safe_nk_k=POLICY.dominance_k,
        safe_pratio_p=POLICY.dominance_p,
        zeros_are_disclosive=False,
        check_missing_values=False,
    )
    return session


def view_of(frame: pd.DataFrame, dictionary: Dictionary) -> DataView:
    store = NodeStore(":memory:")
    store.add_dataset("data", frame.reset_index(drop=True), dictionary=dictionary)
    return store.view("data", None, dictionary)


def release(
    alg: Algorithm, view: DataView, local: LocalResult, cache: dict[str, Any]
) -> Contribution:
    return ReleaseGate(POLICY).release(
        local,
        alg.profile,
        task_id="acro",
        round=0,
        dataset="cnsim",
        algorithm=alg.name,
        cohort=view.count(),
        memo=cache,
    )


def levels_of(dictionary: Dictionary, name: str) -> tuple[str, ...]:
    column = dictionary.get(name)
    assert column is not None and column.levels
    return column.levels


def on_levels(series: pd.Series, levels: Sequence[str]) -> pd.Series:
    """The column as a categorical over the dictionary's levels, so ACRO's table has our grid
    (pandas keeps empty categories because ACRO forces ``dropna=False``)."""
    text = series.map(level_text, na_action="ignore")
    return pd.Series(pd.Categorical(text, categories=list(levels)), name=series.name)


def acro_crosstab(
    session: ACRO, frame: pd.DataFrame, row: str, col: str, dictionary: Dictionary
) -> tuple[pd.DataFrame, BoolArray]:
    """ACRO's table and, per cell, whether it fails ACRO's minimum threshold."""
    # ACRO forces pandas' dropna=False, which makes a missing value a row or column of its own;
    # our crosstab counts the complete cases of the pair. Give ACRO the same rows.
    complete = frame.dropna(subset=[row, col])
    rows, cols = levels_of(dictionary, row), levels_of(dictionary, col)
    table = session.crosstab(on_levels(complete[row], rows), on_levels(complete[col], cols))
    record = session.results.get_index(-1)
    assert set(record.sdc["summary"]) == FREQUENCY_CHECKS
    assert [str(v) for v in record.outcome.index] == list(rows)
    assert [str(v) for v in record.outcome.columns] == list(cols)
    failed = record.outcome.map(lambda outcome: "MinimumThresholdCheck" in outcome)
    return table, failed.to_numpy(dtype=bool)


def crosstab_through_gate(
    frame: pd.DataFrame, dictionary: Dictionary, row: str, col: str
) -> tuple[npt.NDArray[np.int64], Contribution]:
    """Our crosstab at a site holding ``frame``: its counts, and what the gate released."""
    view, params = view_of(frame, dictionary), {"row": row, "col": col}
    cache: dict[str, Any] = {}
    local = Crosstab().local(view, Crosstab().prepare(params, dictionary), {}, cache)
    return local.parts["counts"].values, release(Crosstab(), view, local, cache)


def min_cell_count_check(contribution: Contribution) -> Check:
    (check,) = [c for c in contribution.report if c.check == "min_cell_count"]
    assert check.part == "counts"
    return check


# (site, row, column, non-empty cells below the minimum)
CROSSTABS = [
    ("study1", "GENDER", "DIS_DIAB", 1),
    ("study1", "PM_BMI_CATEGORICAL", "DIS_AMI", 2),  # also an empty cell and missing BMI
    ("study3", "DIS_CVA", "MEDI_LPD", 1),  # a 1 beside a 10, which is not small
    ("study3", "MEDI_LPD", "DIS_DIAB", 0),  # a cell of exactly 10 and none smaller
    ("pooled", "PM_BMI_CATEGORICAL", "DIS_CVA", 3),
]


@pytest.mark.parametrize(("site", "row", "col", "small"), CROSSTABS)
def test_gate_suppresses_exactly_the_nonempty_cells_acro_fails_on_its_threshold(
    acro: ACRO,
    sites: dict[str, pd.DataFrame],
    dictionary: Dictionary,
    site: str,
    row: str,
    col: str,
    small: int,
) -> None:
    frame = sites[site]
    acro_table, acro_failed = acro_crosstab(acro, frame, row, col, dictionary)
    counts, released = crosstab_through_gate(frame, dictionary, row, col)
    assert np.array_equal(acro_table.to_numpy(), counts)  # the same table, cell for cell
    part = released.parts["counts"]
    nonempty = counts > 0
    acro_small = acro_failed & nonempty
    primary = part.mask & nonempty & (counts < POLICY.min_cell_count)
    assert int(acro_small.sum()) == small
    # every cell ACRO fails (empty cells aside: see the module's docstring) is suppressed by us,
    assert not np.any(acro_small & ~part.mask)
    # and our primary suppression is exactly ACRO's threshold failures; the rest is complementary
    assert np.array_equal(primary, acro_small)
    assert not tables.determined(counts.shape, part.mask).any()
    assert np.array_equal(part.values[~part.mask], counts[~part.mask])
    assert not part.values[part.mask].any()

    check = min_cell_count_check(released)
    if small:
        complementary = int(part.mask.sum() - primary.sum())
        assert check.outcome is Outcome.SUPPRESSED
        assert check.cells == int(part.mask.sum())
        assert check.detail == (f"{complementary} complementary" if complementary else "")
        assert released.meta == {}
    else:
        assert check.outcome is Outcome.PASS
        assert not part.mask.any()


def test_acro_fails_empty_cells_that_our_gate_releases_as_zero(
    acro: ACRO, sites: dict[str, pd.DataFrame], dictionary: Dictionary
) -> None:
    """Pooled DIS_CVA x DIS_DIAB: no count between 1 and 9, one empty cell (no one with both)."""
    frame = sites["pooled"]
    _, acro_failed = acro_crosstab(acro, frame, "DIS_CVA", "DIS_DIAB", dictionary)
    counts, released = crosstab_through_gate(frame, dictionary, "DIS_CVA", "DIS_DIAB")
    empty = counts == 0
    assert int(empty.sum()) == 1
    # ACRO: an empty cell fails the threshold (0 < 10) even with zeros_are_disclosive false
    assert np.array_equal(acro_failed, empty)
    assert min_cell_count_check(released).outcome is Outcome.PASS
    assert not released.parts["counts"].mask.any()
    assert np.array_equal(released.parts["counts"].values, counts)


def complete_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.dropna(subset=[RESPONSE, *COVARIATES]).reset_index(drop=True)


def acro_logit_dof(session: ACRO, rows: pd.DataFrame) -> tuple[str, int]:
    """ACRO's logit on ``rows``: its status and the residual degrees of freedom it checked."""
    session.logit(rows[RESPONSE], add_constant(rows[list(COVARIATES)]))
    record = session.results.get_index(-1)
    assert re.search(r"MinimumDoFCheck: (pass|fail) dof=", record.summary)
    return record.status, int(record.properties["dof"])


def glm_round_0(rows: pd.DataFrame, dictionary: Dictionary) -> tuple[Contribution, int]:
    """Our GLM's first round at a site holding ``rows``, through the gate; and the residual
    degrees of freedom of the design the node built."""
    view, glm = view_of(rows, dictionary), GLM()
    cache: dict[str, Any] = {}
    spec = glm.prepare(GLM_PARAMS, dictionary)
    local = glm.local(view, spec, glm.initial_state(spec, dictionary), cache)
    residual_df = design_facts(local.evidence.designs["design"]).residual_df
    return release(glm, view, local, cache), residual_df


def test_logit_that_acro_passes_passes_our_residual_df_check(
    acro: ACRO, sites: dict[str, pd.DataFrame], dictionary: Dictionary
) -> None:
    rows = complete_rows(sites["study3"])
    status, acro_dof = acro_logit_dof(acro, rows)
    assert status == "pass"
    released, residual_df = glm_round_0(rows, dictionary)
    assert residual_df == acro_dof == len(rows) - len(COVARIATES) - 1
    assert Check("design", "residual_df", Outcome.PASS) in released.report
    assert Check("design", "leverage", Outcome.PASS) in released.report
    # Stricter than ACRO's logit check: the outcome counts behind each 0/1 term must pass the
    # minimum too. Study 1 has 9 diabetic men: ACRO passes the model, our gate refuses it.
    small = complete_rows(sites["study1"])
    assert acro_logit_dof(acro, small)[0] == "pass"
    with pytest.raises(DisclosureRefused, match="support falls below"):
        glm_round_0(small, dictionary)


def balanced_subset(frame: pd.DataFrame, size: int) -> pd.DataFrame:
    """The first ``size`` complete rows, half with diabetes, so a logit can be fitted."""
    rows = complete_rows(frame)
    cases = rows[rows[RESPONSE] == 1].head(size // 2)
    controls = rows[rows[RESPONSE] == 0].head(size - size // 2)
    return pd.concat([cases, controls], ignore_index=True)


def test_logit_with_too_few_residual_df_fails_acro_and_is_refused_by_our_gate(
    acro: ACRO, sites: dict[str, pd.DataFrame], dictionary: Dictionary
) -> None:
    df = POLICY.min_residual_df - 1
    rows = balanced_subset(sites["study1"], df + len(COVARIATES) + 1)
    assert len(rows) >= POLICY.min_cell_count  # a cohort the gate judges, not withholds
    status, acro_dof = acro_logit_dof(acro, rows)
    assert (status, acro_dof) == ("fail", df)
    with pytest.raises(DisclosureRefused, match="fewer than 10 residual degrees of freedom"):
        glm_round_0(rows, dictionary)


def test_at_exactly_the_minimum_residual_df_neither_refuses_for_degrees_of_freedom(
    acro: ACRO, sites: dict[str, pd.DataFrame], dictionary: Dictionary
) -> None:
    """One row more: ACRO passes; our gate accepts the degrees of freedom and refuses the design
    for leverage instead (15 rows for 5 terms: every row weighs about a third of the fit)."""
    df = POLICY.min_residual_df
    rows = balanced_subset(sites["study1"], df + len(COVARIATES) + 1)
    status, acro_dof = acro_logit_dof(acro, rows)
    assert (status, acro_dof) == ("pass", df)
    with pytest.raises(DisclosureRefused) as refused:
        glm_round_0(rows, dictionary)
    assert "residual degrees of freedom" not in refused.value.detail
    assert "singles out fewer than 10 rows" in refused.value.detail
