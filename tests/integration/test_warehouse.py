"""A dataset in the hospital's own PostgreSQL (a warehouse source), end to end.

A real LocalFederation where one site's rows stay in PostgreSQL, read by a role granted only
SELECT, answers as pooled; a table that breaks its dictionary is refused before a value of it is
read; every failure is a typed error that stores nothing; the password reaches neither the node's
DuckDB file nor its output. Each module gets a schema and a role of its own, dropped after.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import causeway
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import (
    AuthenticationError,
    Conflict,
    DataError,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from causeway.node.config import STORE_FILE
from causeway.node.postgres_view import PostgresView
from causeway.node.store import NodeStore
from causeway.node.warehouse import WarehouseSource, connect, register

DICTIONARY = Dictionary(
    (
        Column("age", ColumnType.NUMERIC, minimum=0, maximum=120),
        Column("sex", ColumnType.CATEGORICAL, levels=("F", "M")),
        Column("bmi", ColumnType.NUMERIC, minimum=10, maximum=60),
        Column("y", ColumnType.NUMERIC),
    )
)
SECRET = "s3cret-" + uuid.uuid4().hex


def site_frame(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 90, n).round(1)
    sex = rng.choice(["F", "M"], n)
    bmi = rng.normal(27, 4, n).clip(15, 50).round(2)
    y = 2.0 + 0.05 * age + 0.8 * (sex == "M") + 0.1 * bmi + rng.normal(0, 1, n)
    return pd.DataFrame({"age": age, "sex": sex, "bmi": bmi, "y": y})


NORTH, SOUTH = site_frame(1, 240), site_frame(2, 310)


@pytest.fixture(scope="module")
def reader(warehouse: Any) -> Iterator[str]:
    """A login role granted USAGE on the schema and SELECT on its tables, nothing else."""
    role = f"causeway_ro_{uuid.uuid4().hex[:10]}"
    warehouse.execute(f'CREATE ROLE "{role}" LOGIN')
    warehouse.execute(f'GRANT USAGE ON SCHEMA "{warehouse.schema}" TO "{role}"')
    try:
        yield role
    finally:
        warehouse.execute(f'DROP SCHEMA IF EXISTS "{warehouse.schema}" CASCADE')
        warehouse.execute(f'DROP ROLE IF EXISTS "{role}"')


def as_role(url: str, role: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)


@pytest.fixture(scope="module")
def south_source(warehouse: Any, reader: str) -> WarehouseSource:
    source = warehouse.load("south", SOUTH, DICTIONARY)
    warehouse.execute(f'GRANT SELECT ON "{warehouse.schema}"."south" TO "{reader}"')
    return WarehouseSource(as_role(warehouse.url, reader), source.table, password_env="CW_PW")


@pytest.fixture(scope="module")
def fed(south_source: WarehouseSource) -> Iterator[causeway.LocalFederation]:
    os.environ["CW_PW"] = SECRET  # read by the node at each connection (trust auth ignores it)
    try:
        with causeway.LocalFederation(
            {"north": NORTH, "south": south_source}, dataset="cohort", dictionary=DICTIONARY
        ) as federation:
            yield federation
    finally:
        os.environ.pop("CW_PW", None)


def test_federation_with_a_warehouse_site_answers_as_pooled(
    fed: causeway.LocalFederation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pooled = pd.concat([NORTH, SOUTH], ignore_index=True)
    # the south node's rows are in PostgreSQL, not in its DuckDB
    assert fed.stores["south"].source("cohort") is not None
    assert fed.stores["south"].source("cohort")["key"] == "row_id"  # the table's primary key
    where = (causeway.col("age") >= 40) & (causeway.col("sex") == "F")
    count = fed.client.count("cohort", where=where)
    assert count.total == int(((pooled.age >= 40) & (pooled.sex == "F")).sum())
    fit = fed.client.glm("cohort", "y ~ age + sex + bmi")
    expected = smf.ols("y ~ age + sex + bmi", data=pooled).fit()
    assert sorted(fit.terms) == ["Intercept", "age", "bmi", "sex[T.M]"]
    for term, value in zip(fit.terms, fit.coefficients, strict=True):
        assert value == pytest.approx(expected.params[term], rel=1e-6, abs=1e-9)
    assert SECRET not in caplog.text


def test_a_table_that_drifts_fails_the_task_without_describing_its_rows(
    fed: causeway.LocalFederation, warehouse: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # one impossible age appears in the live table after registration
    relation = f'"{warehouse.schema}"."south"'
    warehouse.execute(f"INSERT INTO {relation} VALUES (99001, 500, 'F', 25, 1)")
    caplog.set_level(logging.ERROR)
    try:
        with pytest.raises(causeway.CausewayError) as failed:
            fed.client.count("cohort", where=causeway.col("age") >= 40)
        told = str(failed.value)
        assert "south cannot read this dataset" in told
        # what reaches the hub names no column, no count of rows and no bound
        for leak in ("age", "1 row", "120", "bounds"):
            assert leak not in told
        # the steward's log has the detail
        assert "column 'age': 1 row(s) whose value is outside the bounds" in caplog.text
    finally:
        warehouse.execute(f"DELETE FROM {relation} WHERE row_id = 99001")
    assert fed.client.count("cohort").total == len(NORTH) + len(SOUTH)


def test_the_warehouse_dataset_is_fingerprinted_as_the_same_rows_in_duckdb(
    fed: causeway.LocalFederation,
) -> None:
    with NodeStore(":memory:") as store:
        duck = store.add_dataset("cohort", SOUTH, dictionary=DICTIONARY)
    registered = fed.stores["south"].dataset("cohort")
    assert registered.fingerprint == duck.fingerprint and registered.rows == len(SOUTH)


def test_postgresql_orders_awkward_rows_as_duckdb_does_for_the_fingerprint(
    warehouse: Any, tmp_path: Path
) -> None:
    """Ties on the first column are ordered by text byte by byte (not the server's collation),
    -0 equals 0, NULLs come first: the same rows give the same scheme-v2 fingerprint."""
    dictionary = Dictionary(
        (
            Column("x", ColumnType.NUMERIC),
            Column("name", ColumnType.TEXT),
            Column("ward", ColumnType.CATEGORICAL, levels=("a", "Z", "é", "ä")),
            Column("day", ColumnType.DATE),
            Column("n", ColumnType.INTEGER),
            Column("flag", ColumnType.BOOLEAN),
        )
    )
    frame = pd.DataFrame(
        {
            "x": [1.0, 1.0, -0.0, 0.0, None, None, 1.0, 2.5],
            "name": ["é", "Z", "a", "ä", "b", None, "a b", "zz"],
            "ward": ["a", "Z", "é", "ä", None, "a", "Z", "é"],
            "day": pd.to_datetime(
                [
                    "2020-01-01",
                    None,
                    "1999-12-31",
                    "2020-01-01",
                    "1970-01-01",
                    "2001-02-03",
                    "2020-01-02",
                    "1969-07-20",
                ]
            ).date,
            "n": pd.array([3, None, -1, 0, 2**40, 7, 7, -(2**40)], dtype="Int64"),
            "flag": pd.array([True, False, None, True, False, True, None, False], dtype="boolean"),
        }
    )
    source = warehouse.load("awkward", frame, dictionary)
    for column in ("name", "ward"):  # a collation that sorts 'Z' after 'a', as a server may
        warehouse.execute(
            f'ALTER TABLE "{warehouse.schema}"."awkward" ALTER COLUMN "{column}" TYPE text '
            'COLLATE "und-x-icu"'
        )
    with NodeStore(tmp_path / "data.duckdb") as store:
        registered = register(store, "awkward", source, dictionary=dictionary)
        duck = store.add_dataset("here", frame.iloc[::-1], dictionary=dictionary)
    assert registered.fingerprint == duck.fingerprint and registered.fingerprint.startswith("v2:")


def test_the_password_never_reaches_the_duckdb_file(fed: causeway.LocalFederation) -> None:
    store = fed.stores["south"]
    source = store.source("cohort")
    assert source is not None and source["password_env"] == "CW_PW"
    store._fetched("CHECKPOINT", [], lambda r: None)
    for file in Path(store.path).parent.rglob("*"):  # the store, its WAL, logs, keys, config
        if file.is_file():
            assert SECRET.encode() not in file.read_bytes(), file


def test_the_node_never_writes_to_the_warehouse(warehouse: Any, reader: str) -> None:
    source = warehouse.load("readonly", NORTH, DICTIONARY)
    # even as the schema's owner: every transaction is read-only
    with pytest.raises(DataError, match="read-only transaction"), connect(source) as conn:
        conn.execute(f'DELETE FROM "{warehouse.schema}"."readonly"')
    reading = WarehouseSource(as_role(warehouse.url, reader), source.table)
    with NodeStore(":memory:") as store:  # a role with no SELECT is refused, clearly
        with pytest.raises(PermissionDenied, match="may not SELECT"):
            register(store, "d", reading, dictionary=DICTIONARY)
        assert store.datasets() == []
    # the owner's rows are all there
    with connect(source) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{warehouse.schema}"."readonly"').fetchone()
    assert row == (len(NORTH),)


def test_a_table_that_breaks_its_dictionary_is_refused_before_anything_is_read(
    warehouse: Any,
) -> None:
    source = warehouse.load("drift", NORTH, DICTIONARY)
    relation = f'"{warehouse.schema}"."drift"'
    with NodeStore(":memory:") as store:
        register(store, "drift", source, dictionary=DICTIONARY)
        assert store.view("drift", None).count() == len(NORTH)
        # the live table changes after registration: two impossible ages and an unknown level
        warehouse.execute(
            f"INSERT INTO {relation} VALUES (9001, 500, 'F', 25, 1), (9002, -3, 'F', 25, 1), "
            "(9003, 50, 'X', 25, 1)"
        )
        view = store.view("drift", None, cache={})
        with pytest.raises(DataError) as refused:
            view.count()
        detail = refused.value.detail
        assert "column 'age': 2 row(s) whose value is outside the bounds [0.0, 120.0]" in detail
        assert "column 'sex': 1 row(s) whose value is not one of its levels (F, M)" in detail
        with pytest.raises(DataError, match="breaks its dictionary"):
            store.view("drift", None).frame(["age"])  # nothing of it is pulled either
        warehouse.execute(f"DELETE FROM {relation} WHERE row_id > 9000")
        assert store.view("drift", None).count() == len(NORTH)


def test_a_task_reads_the_warehouse_once_and_sees_one_state_of_it(warehouse: Any) -> None:
    source = warehouse.load("rounds", NORTH, DICTIONARY)
    with NodeStore(":memory:") as store:
        register(store, "rounds", source, dictionary=DICTIONARY)
        task: dict[str, Any] = {}
        where = (causeway.col("age") >= 50).node
        first = store.view("rounds", where, cache=task)
        assert isinstance(first, PostgresView)
        n, ages = first.count(), first.frame(["age"])
        warehouse.execute(
            f'INSERT INTO "{warehouse.schema}"."rounds" VALUES (7000, 70, \'M\', 25, 1)'
        )
        later = store.view("rounds", where, cache=task)  # the task's next round
        assert later.count() == n and later.frame(["age"]).equals(ages)
        assert store.view("rounds", where, cache={}).count() == n + 1  # a new task sees the row


def test_a_key_must_be_unique_and_fit_a_row_id(warehouse: Any) -> None:
    relation = f'"{warehouse.schema}"."nokey"'
    warehouse.execute(
        f"CREATE TABLE {relation} (k bigint, age float8, sex text, bmi float8, y float8)"
    )
    warehouse.execute(f"INSERT INTO {relation} VALUES (1, 30, 'F', 20, 1), (1, 40, 'M', 21, 2)")
    table = f"{warehouse.schema}.nokey"
    with NodeStore(":memory:") as store:
        with pytest.raises(DataError, match="no one-column primary key: pass --key"):
            register(store, "d", WarehouseSource(warehouse.url, table), dictionary=DICTIONARY)
        with pytest.raises(DataError, match="'k': 1 duplicate key"):
            register(store, "d", WarehouseSource(warehouse.url, table, "k"), dictionary=DICTIONARY)
        warehouse.execute(f"UPDATE {relation} SET k = -1 WHERE age = 40")
        with pytest.raises(DataError, match=r"'k': 1 row.* is a key outside 0\.\.4294967295"):
            register(store, "d", WarehouseSource(warehouse.url, table, "k"), dictionary=DICTIONARY)
        with pytest.raises(DataError, match=r"'sex' is text.*not an integer column"):
            register(
                store, "d", WarehouseSource(warehouse.url, table, "sex"), dictionary=DICTIONARY
            )
        assert store.datasets() == []


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (dict(url="postgresql://postgres@127.0.0.1:1/test"), Unavailable, "cannot reach"),
        (
            dict(url="postgresql://no_such_role_x@127.0.0.1:5432/test"),
            AuthenticationError,
            "refused the credentials",
        ),
        (
            dict(url="postgresql://postgres@127.0.0.1:5432/no_such_db_x"),
            NotFound,
            "no such database",
        ),
        (dict(table="public.no_such_table"), DataError, "has no table public.no_such_table"),
        (dict(password_env="CW_UNSET_PASSWORD"), AuthenticationError, r"\$CW_UNSET_PASSWORD"),
    ],
    ids=["unreachable", "bad role", "no database", "no table", "password variable unset"],
)
def test_a_bad_source_is_a_typed_error_and_stores_nothing(
    warehouse: Any, change: dict[str, str], error: type[Exception], message: str
) -> None:
    table = warehouse.load(f"t_{uuid.uuid4().hex[:8]}", NORTH, DICTIONARY).table
    fields = {"url": warehouse.url, "table": table, **change}
    with NodeStore(":memory:") as store:
        with pytest.raises(error, match=message):
            register(store, "d", WarehouseSource(**fields), dictionary=DICTIONARY)
        assert store.datasets() == [] and store.source("d") is None


def test_a_dictionary_the_table_cannot_hold_is_refused(warehouse: Any) -> None:
    source = warehouse.load("shape", NORTH, DICTIONARY)
    missing = Dictionary((*DICTIONARY.columns, Column("weight", ColumnType.NUMERIC)))
    wrong = Dictionary((Column("sex", ColumnType.DATE), *DICTIONARY.columns[2:]))
    with NodeStore(":memory:") as store:
        with pytest.raises(
            DataError, match="column 'weight' of the dictionary is not in the table"
        ):
            register(store, "d", source, dictionary=missing)
        with pytest.raises(DataError, match="'sex' is text in the table, which cannot hold"):
            register(store, "d", source, dictionary=wrong)
        assert store.datasets() == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "postgresql://u:pw@127.0.0.1/test"}, "holds a password"),
        ({"url": "mysql://u@h/db"}, "must be a postgresql:// URL"),
        ({"table": "a.b.c"}, "must be a table or schema.table"),
        ({"table": 'x"; DROP TABLE y; --'}, "must be a table or schema.table"),
        ({"key": "id; DROP"}, "must be a column name"),
        ({"password_env": "A-B"}, "not a variable name"),
    ],
)
def test_a_malformed_source_is_refused(fields: dict[str, str], message: str) -> None:
    values = {"url": "postgresql://postgres@127.0.0.1/test", "table": "t", **fields}
    with pytest.raises(DataError, match=message):
        WarehouseSource(**values)


def test_without_a_dictionary_one_is_written_for_review_and_nothing_stored(
    warehouse: Any, tmp_path: Path
) -> None:
    source = warehouse.load("review", NORTH.assign(sex=NORTH.sex), DICTIONARY)
    with NodeStore(tmp_path / STORE_FILE) as store:
        first = register(store, "review", source)
        assert first.inferred and not first.stored and store.datasets() == []
        assert first.dictionary_path == tmp_path / "dictionaries" / "review.json"
        written = Dictionary.from_json(json.loads(first.dictionary_path.read_text()))
        assert written.names == ["age", "sex", "bmi", "y"]  # the key is not analysed
        assert written.get("sex") == Column("sex", ColumnType.CATEGORICAL, levels=("F", "M"))
        age = written.get("age")
        assert age is not None and age.minimum <= NORTH.age.min() and age.maximum >= NORTH.age.max()
        stored = register(store, "review", source, dictionary=written)
        assert stored.stored and store.dataset("review").rows == len(NORTH)
        with pytest.raises(Conflict, match="pass --replace"):
            register(store, "review", source, dictionary=written)
        # a file replacing it brings the rows into the node's DuckDB, and the source is forgotten
        store.add_dataset("review", NORTH, dictionary=written, replace=True)
        assert store.source("review") is None
        assert not isinstance(store.view("review", None), PostgresView)
        assert store.view("review", None).count() == len(NORTH)


def run_causeway(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "causeway", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "250", **env},
    )


def test_cli_registers_a_warehouse_table_and_never_shows_or_stores_its_password(
    warehouse: Any, tmp_path: Path
) -> None:
    source = warehouse.load("cli", SOUTH, DICTIONARY)
    (tmp_path / "dictionary.json").write_text(json.dumps(DICTIONARY.to_json()))
    env = {"CW_PW": SECRET}
    base = ["node", "add-dataset", "wh", "--data-dir", str(tmp_path), "--source", warehouse.url]
    added = run_causeway(
        *base,
        "--table",
        source.table,
        "--password-env",
        "CW_PW",
        "--dictionary",
        str(tmp_path / "dictionary.json"),
        "--level",
        "L1",
        env=env,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert f"Registered wh: {len(SOUTH)} rows" in added.stdout
    NORTH.to_csv(tmp_path / "north.csv", index=False)
    local = ["node", "add-dataset", "local", str(tmp_path / "north.csv")]
    assert run_causeway(*local, "--data-dir", str(tmp_path), env=env).returncode == 0
    listed = run_causeway("node", "datasets", "--data-dir", str(tmp_path), env=env)
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[1]: line for line in listed.stdout.splitlines() if "│" in line[:2]}
    assert source.table in lines["wh"] and "(live)" in lines["wh"]
    assert "node DuckDB" in lines["local"] and str(len(NORTH)) in lines["local"]
    refused = run_causeway(*base, "--table", "public.absent_table", "--replace", env=env)
    assert refused.returncode == 2 and "error E102" in refused.stderr
    assert "Traceback" not in refused.stderr
    for output in (added, listed, refused):
        assert SECRET not in output.stdout + output.stderr
    assert SECRET.encode() not in (tmp_path / STORE_FILE).read_bytes()
    with NodeStore(tmp_path / STORE_FILE) as store:  # the refused replace left it as it was
        kept = store.source("wh")
        assert kept is not None and kept["table"] == source.table
        assert store.dataset("wh").rows == len(SOUTH)
    helped = run_causeway("node", "add-dataset", "--help", env=env)
    for option in ("--source", "--table", "--key", "--password-env", "--dictionary"):
        assert option in helped.stdout


def test_a_row_broken_between_two_reads_of_a_task_is_caught_by_the_later_read(
    warehouse: Any,
) -> None:
    source = warehouse.load("between", NORTH, DICTIONARY)
    with NodeStore(":memory:") as store:
        register(store, "between", source, dictionary=DICTIONARY)
        task: dict[str, Any] = {}
        assert store.view("between", None, cache=task).count() == len(NORTH)
        warehouse.execute(
            f'INSERT INTO "{warehouse.schema}"."between" VALUES (8000, 30, \'F\', 99, 1)'
        )
        with pytest.raises(DataError, match=r"column 'bmi': 1 row\(s\) whose value is outside"):
            store.view("between", None, cache=task).frame(["bmi"])


def test_dates_python_cannot_hold_are_refused(warehouse: Any) -> None:
    relation = f'"{warehouse.schema}"."dates"'
    warehouse.execute(f"CREATE TABLE {relation} (id int PRIMARY KEY, seen date)")
    warehouse.execute(f"INSERT INTO {relation} VALUES (1, '2020-01-01'), (2, 'infinity')")
    source = WarehouseSource(warehouse.url, f"{warehouse.schema}.dates")
    dictionary = Dictionary((Column("seen", ColumnType.DATE),))
    with NodeStore(":memory:") as store:
        with pytest.raises(DataError, match=r"'seen': 1 row\(s\) whose value is not a date"):
            register(store, "d", source, dictionary=dictionary)
        warehouse.execute(f"DELETE FROM {relation} WHERE id = 2")
        register(store, "d", source, dictionary=dictionary)
        frame = store.view("d", None).frame(["seen"])
        assert frame["seen"].tolist() == [pd.Timestamp("2020-01-01")]


def test_the_quality_report_refuses_a_warehouse_dataset_clearly(warehouse: Any) -> None:
    from causeway.node.quality import assess

    source = warehouse.load("quality", NORTH, DICTIONARY)
    with NodeStore(":memory:") as store:
        register(store, "q", source, dictionary=DICTIONARY)
        with pytest.raises(DataError, match="lives in the hospital's PostgreSQL"):
            assess(store, "q")


def test_a_query_past_the_statement_timeout_is_cancelled(warehouse: Any) -> None:
    table = warehouse.load("slow", NORTH, DICTIONARY).table
    source = WarehouseSource(warehouse.url, table, "row_id", timeout=0.2)
    with pytest.raises(Unavailable, match=r"ran past the 0\.2 s timeout"), connect(source) as conn:
        conn.execute("SELECT pg_sleep(5)")
    with connect(source) as conn:  # the setting is the transaction's, and read-only
        row = conn.execute(
            "SELECT current_setting('statement_timeout'), current_setting('transaction_read_only'),"
            " current_setting('transaction_isolation')"
        ).fetchone()
    assert row == ("200ms", "on", "repeatable read")
