"""Spec tests for the filter language: a tiny table, one filter, the rows it keeps.

Each case runs on every engine (the in-memory reference, DuckDB, SQLite, and PostgreSQL where a server
runs) and the engines must agree with the expected rows. They also run through a node's store, on a
dataset kept in its DuckDB and on one kept in the hospital's PostgreSQL (a warehouse source): the
view an algorithm reads keeps the same rows either way.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator

import duckdb
import pandas as pd
import pytest

from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.node.store import NodeStore
from causeway.node.warehouse import register
from causeway.query import Filter, check, col, compile_condition, evaluate, quote

DICTIONARY = Dictionary(
    (
        Column("id", ColumnType.INTEGER),
        Column("age", ColumnType.NUMERIC, minimum=0, maximum=120),
        Column("sex", ColumnType.CATEGORICAL, levels=("F", "M")),
        Column("smoker", ColumnType.BOOLEAN),
        Column("admitted", ColumnType.DATE),
        Column("note", ColumnType.CATEGORICAL, levels=("a", "b", "c", "x'; DROP TABLE t; --")),
    )
)
ROWS = pd.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6],
        "age": [34.0, 65.0, None, 80.0, 40.0, 18.0],
        "sex": ["F", "M", "F", None, "M", "F"],
        "smoker": [True, False, None, True, False, False],
        "admitted": [
            dt.date(2020, 1, 5),
            dt.date(2021, 3, 1),
            None,
            dt.date(2019, 12, 31),
            dt.date(2021, 3, 2),
            dt.date(2022, 7, 7),
        ],
        "note": ["a", "x'; DROP TABLE t; --", None, "b", "a", "c"],
    }
)

CASES: list[tuple[str, Filter, list[int]]] = [
    ("compare", col("age") >= 40, [2, 4, 5]),
    ("equal categorical", col("sex") == "F", [1, 3, 6]),
    ("not equal drops nulls", col("sex") != "F", [2, 5]),
    ("and", (col("age") >= 30) & (col("sex") == "M"), [2, 5]),
    ("or with null", (col("age") > 70) | (col("sex") == "M"), [2, 4, 5]),
    ("not of unknown is unknown", ~(col("age") >= 40), [1, 6]),
    ("isin", col("id").isin([1, 3, 99]), [1, 3]),
    ("between is inclusive", col("age").between(18, 40), [1, 5, 6]),
    ("is null", col("age").is_null(), [3]),
    ("not null", col("sex").not_null(), [1, 2, 3, 5, 6]),
    ("boolean", col("smoker") == True, [1, 4]),  # noqa: E712
    ("date", col("admitted") >= dt.date(2021, 3, 1), [2, 5, 6]),
    ("date as ISO text", col("admitted") < "2020-01-06", [1, 4]),
    ("injection is data", col("note") == "x'; DROP TABLE t; --", [2]),
    ("nested", ~((col("sex") == "F") | col("age").is_null()) & (col("id") > 1), [2, 5]),
]


def run_memory(where: Filter) -> list[int]:
    mask = evaluate(check(where.node, DICTIONARY), ROWS)
    return sorted(int(i) for i in ROWS["id"][mask])


def run_duckdb(where: Filter) -> list[int]:
    conn = duckdb.connect()
    conn.execute(
        "CREATE TABLE t (id BIGINT, age DOUBLE, sex VARCHAR, smoker BOOLEAN, admitted DATE, note VARCHAR)"
    )
    conn.register("rows", ROWS)
    conn.execute("INSERT INTO t SELECT * FROM rows")
    cond = compile_condition(check(where.node, DICTIONARY))
    found = conn.execute(f"SELECT id FROM t WHERE {cond.sql}", list(cond.params)).fetchall()
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (6,)
    return sorted(r[0] for r in found)


def run_sqlite(where: Filter) -> list[int]:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE t (id INTEGER, age REAL, sex TEXT, smoker BOOLEAN, admitted DATE, note TEXT)"
    )
    for row in ROWS.itertuples(index=False):
        values = [None if pd.isna(v) else v for v in row]
        values[4] = values[4].isoformat() if values[4] is not None else None
        conn.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", values)
    cond = compile_condition(check(where.node, DICTIONARY))
    params = [v.isoformat() if isinstance(v, dt.date) else v for v in cond.params]
    found = conn.execute(f"SELECT id FROM t WHERE {cond.sql}", params).fetchall()
    return sorted(r[0] for r in found)


ENGINES: dict[str, Callable[[Filter], list[int]]] = {
    "memory": run_memory,
    "duckdb": run_duckdb,
    "sqlite": run_sqlite,
}


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize(("name", "where", "expected"), CASES, ids=[c[0] for c in CASES])
def test_filter_keeps_expected_rows(
    engine: str, name: str, where: Filter, expected: list[int]
) -> None:
    assert ENGINES[engine](where) == expected


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[NodeStore]:
    """A node's store holding ROWS as dataset "t": in its DuckDB, or in PostgreSQL (keyed by id)."""
    with NodeStore(":memory:") as node:
        if request.param == "duckdb":
            node.add_dataset("t", ROWS, dictionary=DICTIONARY)
        else:
            schema = request.getfixturevalue("warehouse")
            source = schema.load("t", ROWS, DICTIONARY, key="id")
            register(node, "t", source, dictionary=DICTIONARY)
        yield node


@pytest.mark.parametrize(("name", "where", "expected"), CASES, ids=[c[0] for c in CASES])
def test_store_view_keeps_expected_rows(
    store: NodeStore, name: str, where: Filter, expected: list[int]
) -> None:
    view = store.view("t", where.node)
    assert sorted(int(i) for i in view.frame(["id"])["id"]) == expected
    assert view.count() == len(expected)
    ids = view.row_ids()
    assert len(ids) == len(expected)
    if store.source("t") is not None:  # the warehouse's row ids are its key's values
        assert sorted(int(i) for i in ids) == expected


def test_filters_agree_on_postgresql(postgres_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    ROWS.to_sql("t", engine, index=False)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for _name, where, expected in CASES:
            cond = compile_condition(check(where.node, DICTIONARY), paramstyle="format")
            cursor.execute(f"SELECT id FROM t WHERE {cond.sql}", cond.params)
            assert sorted(r[0] for r in cursor.fetchall()) == expected, _name
    finally:
        raw.close()
        engine.dispose()


def test_column_names_are_quoted() -> None:
    assert quote('a"b') == '"a""b"'
