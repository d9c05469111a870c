"""A real hub and three real nodes on loopback: federated count and summary equal pandas on the
stacked frames, for many filters, including nulls and categorical columns."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pytest

import causeway
from causeway import col
from causeway.algorithms.summary import CategoricalSummary, NumericSummary
from causeway.model.catalog import round_count
from causeway.synthetic import hospitals

FRAMES = hospitals(seed=7)
POOLED = pd.concat(FRAMES.values(), ignore_index=True)


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort", level="L1") as federation:
        yield federation


Case = tuple[str, causeway.Filter | None, Callable[[pd.DataFrame], pd.Series]]
CASES: list[Case] = [
    ("no filter", None, lambda d: pd.Series(True, index=d.index)),
    ("age >= 65", col("age") >= 65, lambda d: d.age >= 65),
    ("women", col("sex") == "female", lambda d: d.sex == "female"),
    (
        "diabetic smokers",
        (col("diabetes") == True) & (col("smoker") == True),  # noqa: E712
        lambda d: d.diabetes & d.smoker,
    ),
    ("bmi between", col("bmi").between(25, 30), lambda d: d.bmi.between(25, 30)),
    ("ldl missing", col("ldl").is_null(), lambda d: d.ldl.isna()),
    ("ldl present and high", ~col("ldl").is_null() & (col("ldl") > 4), lambda d: d.ldl > 4),
    (
        "diagnosis isin",
        col("diagnosis").isin(["stroke", "copd"]),
        lambda d: d.diagnosis.isin(["stroke", "copd"]),
    ),
    (
        "or",
        (col("age") < 40) | (col("diagnosis") == "pneumonia"),
        lambda d: (d.age < 40) | (d.diagnosis == "pneumonia"),
    ),
    ("not over nulls", ~(col("bmi") >= 30), lambda d: d.bmi < 30),
    (
        "nested",
        (col("sex") == "male") & ~((col("age") >= 70) | (col("died") == True)),  # noqa: E712
        lambda d: (d.sex == "male") & ~((d.age >= 70) | d.died),
    ),
    (
        "dict wire form",
        {"op": "in", "column": "sbp", "values": [120, 130, 140]},  # type: ignore[list-item]
        lambda d: d.sbp.isin([120, 130, 140]),
    ),
]


@pytest.mark.parametrize(("name", "where", "expected"), CASES, ids=[c[0] for c in CASES])
def test_count_equals_pandas(
    fed: causeway.LocalFederation,
    name: str,
    where: causeway.Filter | None,
    expected: Callable[[pd.DataFrame], pd.Series],
) -> None:
    result = fed.client.count("cohort", where=where)
    assert result.total == int(expected(POOLED).sum())
    assert result.sites == 3


@pytest.mark.parametrize("column", ["age", "bmi", "ldl", "sbp"])
@pytest.mark.parametrize(("name", "where", "expected"), CASES[:8], ids=[c[0] for c in CASES[:8]])
def test_numeric_summary_equals_pandas(
    fed: causeway.LocalFederation,
    column: str,
    name: str,
    where: causeway.Filter | None,
    expected: Callable[[pd.DataFrame], pd.Series],
) -> None:
    values = POOLED.loc[expected(POOLED), column].dropna()
    result = fed.client.summary("cohort", column, where=where)
    assert isinstance(result, NumericSummary)
    if len(values) == 0:
        assert result.n == 0
        return
    assert result.n == len(values)
    assert result.mean == pytest.approx(values.mean(), rel=1e-12)
    assert result.variance == pytest.approx(values.var(ddof=1), rel=1e-10)
    assert result.sd == pytest.approx(values.std(ddof=1), rel=1e-10)


@pytest.mark.parametrize("column", ["diagnosis", "sex", "smoker"])
def test_categorical_summary_equals_pandas(fed: causeway.LocalFederation, column: str) -> None:
    result = fed.client.summary("cohort", column, where=col("age") >= 50)
    assert isinstance(result, CategoricalSummary)
    expected = POOLED.loc[POOLED.age >= 50, column].astype(str).value_counts()
    assert result.counts.to_dict() == expected.to_dict()
    assert result.counts.index.name == column


def test_catalog_lists_the_dataset_over_three_sites(fed: causeway.LocalFederation) -> None:
    catalog = fed.client.datasets()
    row = catalog.set_index("name").loc["cohort"]
    assert (row["sites"], row["rows"], row["level"]) == (3, round_count(len(POOLED)), "L1")
    assert "diagnosis" in row["columns"] and isinstance(row["columns"], list)


def test_small_counts_are_suppressed_not_returned(fed: causeway.LocalFederation) -> None:
    result = fed.client.count("cohort", where=col("age") >= 99)
    per_site = [int((frame.age >= 99).sum()) for frame in FRAMES.values()]
    assert any(0 < n < 10 for n in per_site)  # at least one site is below the threshold
    assert result.total is None and result.suppressed
    summary = fed.client.summary("cohort", "bmi", where=col("age") >= 99)
    assert isinstance(summary, NumericSummary) and summary.mean is None


def test_unknown_column_is_a_clear_error(fed: causeway.LocalFederation) -> None:
    with pytest.raises(
        causeway.QueryError, match="unknown column 'weight'; valid columns are: age, sex"
    ):
        fed.client.count("cohort", where=col("weight") > 80)


def test_injection_string_is_only_data(fed: causeway.LocalFederation) -> None:
    evil = "x'; DROP TABLE ds_cohort; --"
    with pytest.raises(causeway.QueryError, match="not a level of 'diagnosis'"):
        fed.client.count("cohort", where=col("diagnosis") == evil)
    with pytest.raises(causeway.QueryError):
        fed.client.count(
            "cohort", where={"op": "==", "column": "age; DROP TABLE ds_cohort", "value": 1}
        )
    assert fed.client.count("cohort").total == len(POOLED)
    for store in fed.stores.values():
        assert store.view("cohort", None).count() > 0


def test_unknown_dataset_and_algorithm_are_clear_errors(fed: causeway.LocalFederation) -> None:
    with pytest.raises(causeway.PermissionDenied, match="does not cover dataset 'genomes'"):
        fed.client.count("genomes")
    body = {"algorithm": "dump_rows", "dataset": "cohort", "project": fed.project, "params": {}}
    with pytest.raises(causeway.InvalidRequest, match="unknown algorithm 'dump_rows'"):
        fed.client._request("POST", "/api/tasks", json=body)


def test_summary_of_a_mean_matches_even_with_a_large_offset() -> None:
    # Values far from zero with a small spread: raw sums of squares would lose the variance.
    rng = np.random.default_rng(3)
    frames = {s: pd.DataFrame({"x": 1e6 + rng.normal(0, 1e-3, 50)}) for s in ("a", "b")}
    stacked = pd.concat(frames.values())
    with causeway.LocalFederation(frames, dataset="d") as federation:
        result = federation.client.summary("d", "x")
    assert isinstance(result, NumericSummary)
    assert result.variance == pytest.approx(stacked.x.var(), rel=1e-6)
    assert math.isclose(result.mean or 0, stacked.x.mean(), rel_tol=1e-14)


def test_nodes_as_their_own_processes_give_the_same_answer() -> None:
    frames = {s: f.head(300) for s, f in FRAMES.items()}
    pooled = pd.concat(frames.values(), ignore_index=True)
    with causeway.LocalFederation(frames, dataset="cohort", processes=True) as federation:
        assert len(federation.node_pids) == 3
        assert federation.client.count("cohort", where=col("age") >= 50).total == int(
            (pooled.age >= 50).sum()
        )
    with pytest.raises(causeway.InvalidRequest, match="refuse a simulation-only policy"):
        causeway.LocalFederation(
            frames, processes=True, policy=causeway.Policy.unrestricted()
        ).start()
