"""Differencing against the groups, cells, strata and intervals a release counts.

Tried as an attacker on the landed code: a crosstab gave the 746 female COPD patients; a count
with the filter ``diagnosis == copd & sex == female & age != v`` gave 745, so the one female COPD
patient aged v was singled out, and with ``summary(sbp)`` instead of the count, and a t-test by
sex instead of the crosstab, her blood pressure. The node remembered only each query's cohort
(here: everyone, then the 745), which lie far apart; the released *groups* were nobody's cohort.
The class: any set of rows whose count or sums a result gives — a level of ``by``, a table's
cell, a Cox stratum, a factor's level in a model, an interval of an agreed grid — differenced
against a filtered query, in either order, or against the same set released for another cohort.

One federation of the three synthetic hospitals, default policy (minimum cell count 10); each
attack has its own project (its own differencing memory at every node).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from projects import fresh_project

import causeway
from causeway.model.errors import DisclosureRefused
from causeway.query import col
from causeway.synthetic import hospitals

FRAMES = hospitals()
POOLED = pd.concat(FRAMES.values(), ignore_index=True)
NORTH = FRAMES["north"]
REFUSED = "fewer than 10 rows"


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(
        FRAMES, dataset="cohort", categorical=["diagnosis", "sex"]
    ) as federation:
        yield federation


def project(fed: causeway.LocalFederation) -> str:
    return fresh_project(fed, "groups")


# columns no patient lacks: a filter `column != value` keeps every row but one
IDENTIFYING = ("hba1c", "follow_up_days", "sbp", "age")


def singled_out(north: pd.DataFrame, pooled: pd.DataFrame) -> tuple[str, float]:
    """A column and a value held by exactly one patient of ``pooled`` (a group, all sites),
    who is at north (in ``north``): a filter ``column != value`` removes that patient alone."""
    for column in IDENTIFYING:
        counts = pooled[column].value_counts()
        once = north.loc[north[column].isin(counts[counts == 1].index), column]
        if len(once):
            return column, float(once.iloc[0])
    raise AssertionError("no patient of this group is singled out by one value")


def group(frame: pd.DataFrame, values: dict[str, object]) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in values.items():
        mask &= (frame[column] == value).to_numpy()
    return frame[mask]


def minus_one(**values: object) -> tuple[object, tuple[str, float]]:
    """The filter for a group without one of its north patients, and what singles them out."""
    column, value = singled_out(group(NORTH, values), group(POOLED, values))
    where = col(column) != value
    for name, level in values.items():
        where = where & (col(name) == level)
    return where, (column, value)


# -- the reported attack and its variants ---------------------------------------------------------


def test_a_crosstab_cell_minus_one_patient_is_refused(fed: causeway.LocalFederation) -> None:
    name = project(fed)
    table = fed.client.crosstab("cohort", "diagnosis", "sex", project=name)
    assert table.table.loc["copd", "female"] == 746  # the cell the attacker starts from
    where, _ = minus_one(diagnosis="copd", sex="female")
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.count("cohort", where=where, project=name)


def test_a_group_mean_minus_one_patient_is_refused(fed: causeway.LocalFederation) -> None:
    """The value attack: a t-test's female mean and n, then the females but one."""
    name = project(fed)
    fed.client.ttest("cohort", "sbp", "sex", project=name)
    where, _ = minus_one(sex="female")
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.summary("cohort", "sbp", where=where, project=name)


def test_the_same_attack_in_the_other_order_is_refused(fed: causeway.LocalFederation) -> None:
    """The filtered query first, then the analysis whose group it differences against."""
    name = project(fed)
    where, _ = minus_one(sex="female")
    fed.client.summary("cohort", "sbp", where=where, project=name)
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.anova("cohort", "sbp", "sex", project=name)


def test_a_group_plus_one_patient_is_refused(fed: causeway.LocalFederation) -> None:
    """``sex == female | age == v`` adds one man to the females: his value by difference."""
    name = project(fed)
    fed.client.table_one("cohort", ["sbp", "diagnosis"], by="sex", project=name)
    column, value = singled_out(group(NORTH, {"sex": "male"}), POOLED)
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.summary(
            "cohort", "sbp", where=(col("sex") == "female") | (col(column) == value), project=name
        )


def test_a_cell_released_for_a_cohort_one_patient_short_is_refused(
    fed: causeway.LocalFederation,
) -> None:
    """Two crosstabs whose cohorts differ by many rows (so neither cohort is near the other),
    one of them without one female COPD patient: the same cell, released twice, differs by
    her alone."""
    name = project(fed)
    fed.client.crosstab("cohort", "diagnosis", "sex", project=name)
    _, (column, value) = minus_one(diagnosis="copd", sex="female")
    # drop her and every stroke patient (hundreds of rows outside her cell)
    where = (col(column) != value) & (col("diagnosis") != "stroke")
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.crosstab("cohort", "sex", "diagnosis", where=where, project=name)


def test_a_model_factor_level_minus_one_patient_is_refused(
    fed: causeway.LocalFederation,
) -> None:
    """X'X of ``sbp ~ C(sex)`` gives the females' count and X'y their sum."""
    name = project(fed)
    fed.client.glm("cohort", "sbp ~ age + C(sex)", project=name)
    where, _ = minus_one(sex="female")
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.summary("cohort", "sbp", where=where, project=name)


def test_a_binomial_models_events_within_a_level_are_remembered(
    fed: causeway.LocalFederation,
) -> None:
    """X'y of a logistic model gives the deaths among smokers: the smokers who died, but one."""
    name = project(fed)
    fed.client.glm("cohort", "died ~ age + smoker", family="binomial", project=name)
    where, _ = minus_one(smoker=True, died=True)
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.count("cohort", where=where, project=name)


def test_a_cox_stratum_minus_one_patient_is_refused(fed: causeway.LocalFederation) -> None:
    name = project(fed)
    fed.client.cox("cohort", "age + bmi", "follow_up_days", "died", strata=["sex"], project=name)
    where, _ = minus_one(sex="male", died=True)
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.count("cohort", where=where, project=name)


def test_an_agreed_interval_minus_one_patient_is_refused(fed: causeway.LocalFederation) -> None:
    """The quantiles' agreed histogram gives the rows in each interval; a filter on the same
    interval without one patient differs from it by that patient."""
    name = project(fed)
    result = fed.client.quantiles("cohort", "hba1c", probs=[0.5], project=name)
    edges, counts = np.asarray(result.edges), np.asarray(result.counts)
    j = int(np.argmax(counts))  # a wide, populated interval
    low, high = float(edges[j]), float(edges[j + 1])
    inside = NORTH[(NORTH["hba1c"] > low) & (NORTH["hba1c"] <= high)]
    pooled = POOLED[(POOLED["hba1c"] > low) & (POOLED["hba1c"] <= high)]
    column, value = singled_out(inside, pooled)
    where = (col("hba1c") > low) & (col("hba1c") <= high) & (col(column) != value)
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.summary("cohort", "sbp", where=where, project=name)


def test_a_survival_interval_minus_one_patient_is_refused(fed: causeway.LocalFederation) -> None:
    """KM gives the deaths per group and interval of its agreed time grid."""
    name = project(fed)
    curve = fed.client.km("cohort", "follow_up_days", "died", by="sex", project=name)
    edges = np.asarray(curve.grid)
    low, high = float(edges[0]), float(edges[1])
    died = NORTH[
        NORTH["died"]
        & (NORTH["sex"] == "female")
        & (NORTH["follow_up_days"] >= low)
        & (NORTH["follow_up_days"] <= high)
    ]
    assert len(died) >= 10  # the interval passed north's minimum
    column, value = singled_out(died, died)  # one of them at north; elsewhere, any number
    where = (
        (col("died") == True)  # noqa: E712 (a filter, not a comparison)
        & (col("sex") == "female")
        & (col("follow_up_days") <= high)
        & (col(column) != value)
    )
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.count("cohort", where=where, project=name)


def test_mann_whitney_groups_are_remembered(fed: causeway.LocalFederation) -> None:
    name = project(fed)
    fed.client.mannwhitney("cohort", "sbp", "sex", bins=64, project=name)
    where, _ = minus_one(sex="male")
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.summary("cohort", "hba1c", where=where, project=name)


def test_a_fisher_tables_cell_minus_one_patient_is_refused(fed: causeway.LocalFederation) -> None:
    name = project(fed)
    fed.client.fisher("cohort", "smoker", "diabetes", project=name)
    where, _ = minus_one(smoker=True, diabetes=True)
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.summary("cohort", "sbp", where=where, project=name)


def test_a_spearman_cell_minus_one_patient_is_refused(fed: causeway.LocalFederation) -> None:
    """Spearman's agreed 2-D grid gives the rows in each cell of (age, sbp)."""
    name = project(fed)
    result = fed.client.spearman("cohort", "age", "sbp", bins=8, project=name)
    counts = np.asarray(result.counts)
    i, j = np.unravel_index(int(np.argmax(counts)), counts.shape)
    x, y = np.asarray(result.x_grid), np.asarray(result.y_grid)
    cell = (
        (NORTH["age"] > x[i] if i else NORTH["age"] >= x[0])
        & (NORTH["age"] <= x[i + 1])
        & (NORTH["sbp"] > y[j] if j else NORTH["sbp"] >= y[0])
        & (NORTH["sbp"] <= y[j + 1])
    )
    column, value = singled_out(NORTH[cell], NORTH[cell])
    where = (
        (col("age") > float(x[i]) if i else col("age") >= float(x[0]))
        & (col("age") <= float(x[i + 1]))
        & (col("sbp") > float(y[j]) if j else col("sbp") >= float(y[0]))
        & (col("sbp") <= float(y[j + 1]))
        & (col(column) != value)
    )
    with pytest.raises(DisclosureRefused, match=REFUSED):
        fed.client.count("cohort", where=where, project=name)


# -- and what an honest analyst does still works ---------------------------------------------------


def test_subgroup_analyses_and_repeats_are_still_answered(fed: causeway.LocalFederation) -> None:
    """Groups far from every filtered cohort, repeats of the same question, and tables of other
    columns (linked tables are the gate's) pass; the answers are the pooled ones."""
    name = project(fed)
    adults = col("age") >= 40
    fed.client.glm("cohort", "sbp ~ age + C(sex)", where=adults, project=name)
    fed.client.km("cohort", "follow_up_days", "died", by="sex", project=name)
    fed.client.km("cohort", "follow_up_days", "died", by="sex", project=name)  # a repeat
    table = fed.client.crosstab("cohort", "diagnosis", "sex", project=name)
    fed.client.crosstab("cohort", "smoker", "diabetes", project=name)
    fed.client.ttest("cohort", "sbp", "sex", where=col("diabetes") == True, project=name)  # noqa: E712
    women = fed.client.count("cohort", where=col("sex") == "female", project=name)
    assert women.total == int((POOLED["sex"] == "female").sum())
    assert table.table.loc["copd", "female"] == int(
        ((POOLED["diagnosis"] == "copd") & (POOLED["sex"] == "female")).sum()
    )


def test_released_groups_survive_a_node_restart(fed: causeway.LocalFederation) -> None:
    """The node's store keeps each released set with its kind; a fresh memory built from the
    store refuses the same attack."""
    from causeway.privacy.differencing import CohortMemory, cohort_from_ids, deserialize

    name = project(fed)
    fed.client.ttest("cohort", "sbp", "sex", project=name)
    store = fed.stores["north"]
    kept = store.released_sets(name, "cohort")
    assert {kind for kind, _ in kept} == {"sex"}
    assert sorted(len(deserialize(b)) for _, b in kept) == sorted(
        NORTH["sex"].value_counts().tolist()
    )
    memory = CohortMemory(
        10,
        (deserialize(b) for b in store.cohorts(name, "cohort")),
        ((kind, deserialize(b)) for kind, b in kept),
    )
    women = np.flatnonzero((NORTH["sex"] == "female").to_numpy())
    with pytest.raises(DisclosureRefused):
        memory.check(cohort_from_ids(women[1:]))
