"""The algorithms on a dataset in the hospital's PostgreSQL (a warehouse source) give exactly the
results they give on the same rows in the node's DuckDB: the same counts, tables and fits.

Each site's frame goes into its own table of a test schema (keyed by row number, the DuckDB
store's row ids) and is registered in a node store as a warehouse dataset; the harness then runs
the algorithm's rounds over those views, and over DuckDB views of the same frames.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pytest
from harness import SiteView, run_federated

from causeway.algorithms.base import Algorithm
from causeway.algorithms.count import Count
from causeway.algorithms.cox import Cox
from causeway.algorithms.crosstab import Crosstab
from causeway.algorithms.glm import GLM
from causeway.algorithms.km import KaplanMeier
from causeway.algorithms.summary import SummaryAlgorithm
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.node.postgres_view import PostgresView
from causeway.node.store import NodeStore
from causeway.node.warehouse import register
from causeway.query import col

CNSIM_CATEGORICAL = ["GENDER", "PM_BMI_CATEGORICAL", "DIS_DIAB"]
_tables = itertools.count()


def views(warehouse: Any, where: Any = None) -> tuple[SiteView, SiteView]:
    """Site views over DuckDB and over PostgreSQL, both filtered by ``where``."""

    def duck(site: int, frame: pd.DataFrame, dictionary: Dictionary) -> DataView:
        store = NodeStore(":memory:")
        store.add_dataset("data", frame, dictionary=dictionary)
        return store.view("data", where, dictionary)

    def postgres(site: int, frame: pd.DataFrame, dictionary: Dictionary) -> DataView:
        source = warehouse.load(f"site_{next(_tables)}", frame, dictionary)
        store = NodeStore(":memory:")
        register(store, "data", source, dictionary=dictionary)
        view = store.view("data", where, dictionary)
        assert isinstance(view, PostgresView)  # the rows really are read from PostgreSQL
        return view

    return duck, postgres


def both(
    warehouse: Any,
    alg: Algorithm[Any, Any, Any],
    frames: Sequence[pd.DataFrame],
    params: dict[str, Any],
    *,
    where: Any = None,
    categorical: Sequence[str] = (),
) -> tuple[Any, Any]:
    duck, postgres = views(warehouse, where)
    a = run_federated(alg, frames, params, categorical=categorical, site_view=duck)
    b = run_federated(alg, frames, params, categorical=categorical, site_view=postgres)
    assert a.rounds == b.rounds
    return (
        json.loads(json.dumps(alg.encode_result(a.result))),
        json.loads(json.dumps(alg.encode_result(b.result))),
    )


@pytest.mark.shared_data
def test_count_and_crosstab_are_identical_in_postgresql(
    warehouse: Any, cnsim: list[pd.DataFrame]
) -> None:
    where = ((col("LAB_HDL") > 1.2) & (col("GENDER") == 1)).node
    duck, pg = both(warehouse, Count(), cnsim, {}, where=where, categorical=CNSIM_CATEGORICAL)
    assert duck == pg and pg["total"] > 100
    params = {"row": "PM_BMI_CATEGORICAL", "col": "DIS_DIAB"}
    duck, pg = both(warehouse, Crosstab(), cnsim, params, categorical=CNSIM_CATEGORICAL)
    assert duck == pg


@pytest.mark.shared_data
@pytest.mark.parametrize("column", ["LAB_TSC", "PM_BMI_CATEGORICAL"])
def test_summary_is_identical_in_postgresql(
    warehouse: Any, cnsim: list[pd.DataFrame], column: str
) -> None:
    duck, pg = both(
        warehouse,
        SummaryAlgorithm(),
        cnsim,
        {"column": column},
        where=(col("LAB_HDL") >= 1.0).node,
        categorical=CNSIM_CATEGORICAL,
    )
    assert duck == pg


@pytest.mark.shared_data
@pytest.mark.parametrize("family", ["gaussian", "binomial"])
def test_glm_is_identical_in_postgresql(
    warehouse: Any, cnsim: list[pd.DataFrame], family: str
) -> None:
    formula = (
        "LAB_TSC ~ LAB_HDL + GENDER + PM_BMI_CATEGORICAL"
        if family == "gaussian"
        else "DIS_DIAB ~ LAB_HDL + GENDER"
    )
    duck, pg = both(
        warehouse,
        GLM(),
        cnsim,
        {"formula": formula, "family": family},
        categorical=CNSIM_CATEGORICAL,
    )
    assert duck == pg and len(pg["coefficients"]) >= 3


def test_cox_and_km_are_identical_in_postgresql(
    warehouse: Any, rossi_sites: list[pd.DataFrame]
) -> None:
    params = {"formula": "fin + age + prio", "duration": "week", "event": "arrest"}
    duck, pg = both(warehouse, Cox(), rossi_sites, params, where=(col("age") >= 18).node)
    assert duck == pg
    duck, pg = both(warehouse, KaplanMeier(), rossi_sites, {"duration": "week", "event": "arrest"})
    assert duck == pg
