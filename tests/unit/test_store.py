from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import Conflict, DataError, InvalidRequest
from causeway.node.store import NodeStore

DICTIONARY = Dictionary(
    (
        Column("age", ColumnType.NUMERIC, minimum=0, maximum=120),
        Column("sex", ColumnType.CATEGORICAL, levels=("F", "M")),
    )
)


@pytest.fixture
def store(tmp_path: Path) -> NodeStore:
    s = NodeStore(tmp_path / "data.duckdb")
    s.add_dataset(
        "cohort", pd.DataFrame({"age": [30.0, 50.0], "sex": ["F", "M"]}), dictionary=DICTIONARY
    )
    return s


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"age": [30.0, 150.0], "sex": ["F", "M"]}), "outside the bounds"),
        (pd.DataFrame({"age": [30.0, 40.0], "sex": ["F", "X"]}), "not one of its levels"),
        (pd.DataFrame({"age": ["thirty", 40], "sex": ["F", "M"]}), "not a number"),
        (
            pd.DataFrame({"age": [30.0], "sex": ["F"], "name": ["Ann"]}),
            "not in the dictionary: name",
        ),
        (pd.DataFrame({"age": [30.0]}), "missing from the data: sex"),
    ],
)
def test_bad_data_is_refused_and_stored_data_is_intact(
    store: NodeStore, frame: pd.DataFrame, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        store.add_dataset("cohort", frame, dictionary=DICTIONARY, replace=True)
    assert store.dataset("cohort").rows == 2
    assert store.view("cohort", None).count() == 2


def test_an_existing_dataset_is_not_overwritten_silently(store: NodeStore) -> None:
    with pytest.raises(Conflict):
        store.add_dataset(
            "cohort", pd.DataFrame({"age": [1.0], "sex": ["F"]}), dictionary=DICTIONARY
        )


def test_csv_ingest_strips_header_spaces_and_infers(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("AGE ,GROUP\n1.5,a\n,b\n3,a\n")
    s = NodeStore(":memory:")
    info = s.add_dataset("x", path)
    assert info.dictionary.names == ["AGE", "GROUP"]
    assert info.dictionary.get("GROUP").levels == ("a", "b")  # type: ignore[union-attr]
    m = s.view("x", None).moments("AGE", 0.0)
    assert (m.n, m.sum, m.sum_sq) == (2, 4.5, 1.5**2 + 9)
    assert len(info.fingerprint) == 64


def test_integral_float_levels_are_written_as_integers() -> None:
    s = NodeStore(":memory:")
    info = s.add_dataset(
        "x",
        pd.DataFrame({"grade": [1.0, 2.0, np.nan]}),
        dictionary=Dictionary((Column("grade", ColumnType.CATEGORICAL, levels=("1", "2")),)),
    )
    assert s.view("x", None).group_counts(["grade"]).to_dict() == {"1": 1, "2": 1}
    assert info.rows == 3


def test_parquet_ingest_with_a_dictionary(tmp_path: Path) -> None:
    path = tmp_path / "cohort.parquet"
    pd.DataFrame({"age": [30.0, 50.0, None], "sex": ["F", "M", "F"]}).to_parquet(path)
    s = NodeStore(":memory:")
    info = s.add_dataset("cohort", path, dictionary=DICTIONARY)
    assert info.rows == 3
    assert s.view("cohort", None).moments("age", 0.0).n == 2
    assert s.view("cohort", None).group_counts(["sex"]).to_dict() == {"F": 2, "M": 1}


def test_magnitudes_are_the_columns_absolute_sum_and_largest_values(tmp_path: Path) -> None:
    from causeway.model.release import Summands
    from causeway.query import col

    rng = np.random.default_rng(5)
    age = rng.uniform(0, 120, 1000)
    age[::7] = np.nan  # missing: left out
    sex = np.where(rng.random(1000) < 0.5, "F", "M")
    s = NodeStore(tmp_path / "m.duckdb")
    s.add_dataset("c", pd.DataFrame({"age": age, "sex": sex}), dictionary=DICTIONARY)
    view = s.view("c", (col("sex") == "F").node, DICTIONARY)
    expected = Summands.of(age[(sex == "F") & ~np.isnan(age)])
    found = view.magnitudes("age")
    assert found.largest == expected.largest and len(found.largest) == 3
    assert found.total == pytest.approx(expected.total, rel=1e-13)
    assert s.view("c", (col("age") > 500).node, DICTIONARY).magnitudes("age") == Summands(0.0, ())


def test_a_store_bounds_its_engine_and_a_models_rows(tmp_path: Path) -> None:
    s = NodeStore(tmp_path / "b.duckdb", design_budget=123, memory_limit="256MB", threads=1)
    settings = s._conn.execute(
        "SELECT current_setting('memory_limit'), current_setting('threads')"
    ).fetchall()[0]
    assert settings[1] == 1 and settings[0].replace(" ", "").startswith("244")  # 256MB in MiB
    s.add_dataset("c", pd.DataFrame({"age": [1.0], "sex": ["F"]}), dictionary=DICTIONARY)
    assert s.view("c", None, DICTIONARY).design_budget == 123
    with pytest.raises(InvalidRequest):
        NodeStore(tmp_path / "c.duckdb", memory_limit="1GB; DROP TABLE x")


def test_a_views_answers_are_its_own_while_other_threads_use_the_store(tmp_path: Path) -> None:
    # a result left pending on the store's shared connection is replaced by another thread's
    # next query: a node's summary of 100M rows once read another query's empty result
    import threading

    s = NodeStore(tmp_path / "t.duckdb")
    ages = np.random.default_rng(1).uniform(0, 120, 300_000)
    s.add_dataset("c", pd.DataFrame({"age": ages, "sex": "F"}), dictionary=DICTIONARY)
    stop = threading.Event()

    def other_work() -> None:
        while not stop.is_set():
            s.cohorts("p1", "c")

    worker = threading.Thread(target=other_work)
    worker.start()
    try:
        answers = []
        for _ in range(100):
            view = s.view("c", None, DICTIONARY)
            answers.append((view.count(), view.moments("age", 60.0).n, view.magnitudes("age")))
    finally:
        stop.set()
        worker.join()
    assert {(n, m) for n, m, _ in answers} == {(len(ages), len(ages))}
    assert {a[2].largest for a in answers} == {tuple(np.sort(ages)[::-1][:3])}
