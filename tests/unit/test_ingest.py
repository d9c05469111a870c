"""`node ingest`: a file into the node's DuckDB, all or nothing, nothing guessed silently (issue #17).

One test per problem a hospital's data engineer met with `add-dataset`, each with the message the
file now gets."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from causeway.cli import app
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import Conflict, DataError
from causeway.node.ingest import IngestOptions, IngestRefused, describe, ingest
from causeway.node.store import NodeStore

runner = CliRunner()

COHORT = Dictionary(
    (
        Column("id", ColumnType.INTEGER, minimum=0, maximum=10_000),
        Column("admission_date", ColumnType.DATE),
        Column("sex", ColumnType.CATEGORICAL, levels=("F", "M")),
        Column("age", ColumnType.NUMERIC, minimum=0, maximum=120),
    )
)


@pytest.fixture
def store(tmp_path: Path) -> NodeStore:
    return NodeStore(tmp_path / "node" / "data.duckdb")


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def rows(store: NodeStore, name: str) -> list[tuple[Any, ...]]:
    return store._conn.execute(f'SELECT * FROM "ds_{name}" ORDER BY rowid').fetchall()


def snapshot(store: NodeStore) -> list[tuple[Any, ...]]:
    """Everything stored: the catalog (dictionaries, metadata, fingerprints) and every row."""
    infos = store.datasets()
    return [(i.name, i.dictionary, i.level, i.rows, i.fingerprint, i.metadata) for i in infos] + [
        (i.name, rows(store, i.name)) for i in infos
    ]


# -- dates: never guessed -----------------------------------------------------------------------


def test_day_first_dates_are_refused_as_ambiguous_and_read_right_with_a_format(
    tmp_path: Path, store: NodeStore
) -> None:
    path = write(tmp_path, "cohort.csv", "id,admission_date\n1,07/11/2023\n2,01/02/2023\n")
    with pytest.raises(IngestRefused) as refused:
        ingest(store, path, dataset="cohort")
    assert "column admission_date: its dates read both day first (%d/%m/%Y) and month first" in (
        refused.value.detail
    )
    assert "--date-format '%d/%m/%Y'" in refused.value.detail
    dictionary = Dictionary(
        (Column("id", ColumnType.INTEGER), Column("admission_date", ColumnType.DATE))
    )
    with pytest.raises(IngestRefused, match="ambiguous"):  # a dictionary does not settle it
        ingest(store, path, dataset="cohort", dictionary=dictionary)
    report = ingest(
        store,
        path,
        dataset="cohort",
        dictionary=dictionary,
        options=IngestOptions(date_format="%d/%m/%Y"),
    )
    assert report.stored
    assert rows(store, "cohort") == [(1, dt.date(2023, 11, 7)), (2, dt.date(2023, 2, 1))]


def test_a_date_that_rules_out_one_reading_settles_the_column_and_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "d\n07/11/2023\n13/11/2023\n")
    report = describe(path)
    assert report.dictionary == Dictionary((Column("d", ColumnType.DATE),))
    assert report.date_formats == {"d": "%d/%m/%Y"}
    assert "column d: dates read as %d/%m/%Y ('13/11/2023' rules out %m/%d/%Y)" in report.notes


def test_iso_dates_are_typed_date(tmp_path: Path, store: NodeStore) -> None:
    path = write(tmp_path, "c.csv", "admitted,label\n2023-11-07,x\n2024-02-29,y\n,z\n")
    report = describe(path)
    assert report.dictionary is not None
    assert report.dictionary.get("admitted") == Column("admitted", ColumnType.DATE)
    ingest(store, path, dataset="c", dictionary=report.dictionary)
    assert [r[0] for r in rows(store, "c")] == [dt.date(2023, 11, 7), dt.date(2024, 2, 29), None]


# -- encodings and delimiters -------------------------------------------------------------------


def test_a_latin1_file_is_refused_naming_its_line_and_read_right_with_its_encoding(
    tmp_path: Path, store: NodeStore
) -> None:
    path = write(tmp_path, "w.csv", "ward,n\nnord,1\ncafé,2\n", encoding="latin-1")
    with pytest.raises(DataError) as refused:
        ingest(store, path, dataset="w")
    assert refused.value.detail == (
        "w.csv line 3: not valid UTF-8 (the first bad byte is 0xe9); pass --encoding latin-1 "
        "(or the file's encoding: cp1252, utf-16, gb18030)"
    )
    report = describe(path, IngestOptions(encoding="latin-1"))
    assert report.dictionary is not None
    ingest(
        store,
        path,
        dataset="w",
        dictionary=report.dictionary,
        options=IngestOptions(encoding="latin-1"),
    )
    assert rows(store, "w") == [("nord", 1), ("café", 2)]


@pytest.mark.parametrize("encoding", ["utf-16", "gb18030"])
def test_other_encodings_are_transcoded(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, "w.csv", "ward,n\n北区,1\ncafé,2\n", encoding=encoding)
    report = describe(path, IngestOptions(encoding=encoding))
    assert report.dictionary is not None
    assert report.dictionary.get("ward") == Column(
        "ward", ColumnType.CATEGORICAL, levels=tuple(sorted(["北区", "café"]))
    )


def test_a_semicolon_file_is_read_and_a_wrong_delimiter_is_named(
    tmp_path: Path, store: NodeStore
) -> None:
    path = write(tmp_path, "s.csv", "sex;age\nF;30,5\nM;41\n")
    report = describe(path, IngestOptions(decimal=","))
    assert report.dictionary is not None
    assert report.dictionary.names == ["sex", "age"]
    ingest(
        store, path, dataset="s", dictionary=report.dictionary, options=IngestOptions(decimal=",")
    )
    assert rows(store, "s") == [("F", 30.5), ("M", 41.0)]
    with pytest.raises(DataError) as refused:
        describe(path, IngestOptions(delimiter=","))
    assert "the delimiter looks like ';' — pass --delimiter ';'" in refused.value.detail


# -- missing markers, booleans -----------------------------------------------------------------


def test_a_dot_as_missing_is_refused_by_line_unless_declared(
    tmp_path: Path, store: NodeStore
) -> None:
    path = write(tmp_path, "m.csv", "age\n30\n.\n41\nNA\n")
    dictionary = Dictionary((Column("age", ColumnType.NUMERIC),))
    with pytest.raises(IngestRefused) as refused:
        ingest(store, path, dataset="m", dictionary=dictionary)
    assert str(refused.value.report.refused[0]) == "m.csv line 3, column age: '.' is not a number"
    ingest(
        store,
        path,
        dataset="m",
        dictionary=dictionary,
        options=IngestOptions(missing=("", "NA", ".")),
    )
    assert rows(store, "m") == [(30.0,), (None,), (41.0,), (None,)]


def test_yes_no_booleans_are_read(tmp_path: Path, store: NodeStore) -> None:
    path = write(tmp_path, "b.csv", "smoker,diabetic\nyes,NO\nNo,Yes\n,no\n")
    report = describe(path)
    assert report.dictionary == Dictionary(
        (Column("smoker", ColumnType.BOOLEAN), Column("diabetic", ColumnType.BOOLEAN))
    )
    ingest(store, path, dataset="b", dictionary=report.dictionary)
    assert rows(store, "b") == [(True, False), (False, True), (None, False)]
    custom = IngestOptions(true_words=("ja",), false_words=("nein",))
    with pytest.raises(IngestRefused, match="'yes' is not one of ja / nein"):
        ingest(store, path, dataset="b2", dictionary=report.dictionary, options=custom)


# -- refused values, by line ---------------------------------------------------------------------


def test_refused_values_are_named_by_line_and_column_first_ten_and_total(
    tmp_path: Path, store: NodeStore
) -> None:
    lines = ["id,admission_date,sex,age"]
    for i in range(1, 1300):
        day = "31/02/2023" if i >= 1203 and i < 1203 + 25 else "13/11/2023"
        lines.append(f"{i},{day},{'F' if i % 2 else 'M'},{40 + i % 30}")
    path = write(tmp_path, "cohort.csv", "\n".join(lines) + "\n")
    with pytest.raises(IngestRefused) as refused:
        ingest(
            store,
            path,
            dataset="cohort",
            dictionary=COHORT,
            options=IngestOptions(date_format="%d/%m/%Y"),
        )
    report = refused.value.report
    assert report.refused_total == 25
    assert [r.line for r in report.refused] == list(range(1204, 1214))
    assert str(report.refused[0]) == (
        "cohort.csv line 1,204, column admission_date: '31/02/2023' is not a date in %d/%m/%Y"
    )
    assert "… and 15 more (25 refused in all)" in refused.value.detail
    assert store.datasets() == []


def test_lines_are_counted_across_quoted_newlines(tmp_path: Path, store: NodeStore) -> None:
    path = write(tmp_path, "q.csv", 'note,age\n"two\nlines",30\nok,abc\n')
    dictionary = Dictionary((Column("note", ColumnType.TEXT), Column("age", ColumnType.NUMERIC)))
    with pytest.raises(IngestRefused) as refused:
        ingest(store, path, dataset="q", dictionary=dictionary)
    assert str(refused.value.report.refused[0]) == (
        "q.csv line 4, column age: 'abc' is not a number"
    )


def test_values_off_the_dictionary_are_refused_by_line(tmp_path: Path, store: NodeStore) -> None:
    path = write(tmp_path, "c.csv", "id,admission_date,sex,age\n1,2023-01-01,F,130\n2,,X,40\n")
    with pytest.raises(IngestRefused) as refused:
        ingest(store, path, dataset="c", dictionary=COHORT)
    assert [str(r) for r in refused.value.report.refused] == [
        "c.csv line 2, column age: '130' is outside the bounds [0, 120]",
        "c.csv line 3, column sex: 'X' is not one of its levels (F, M)",
    ]


def test_ragged_rows_are_named_by_line(tmp_path: Path, store: NodeStore) -> None:
    path = write(tmp_path, "r.csv", "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n")
    with pytest.raises(IngestRefused) as refused:
        describe(path)
    assert [str(r) for r in refused.value.report.refused] == [
        "r.csv line 3: has 2 fields where the header has 3",
        "r.csv line 4: has 4 fields where the header has 3",
    ]


def test_a_header_only_file_is_refused_unless_allowed(tmp_path: Path, store: NodeStore) -> None:
    path = write(tmp_path, "e.csv", "id,admission_date,sex,age\n")
    with pytest.raises(IngestRefused) as refused:
        ingest(store, path, dataset="e", dictionary=COHORT)
    assert refused.value.detail == (
        "e.csv holds a header and no rows; pass --allow-empty to store an empty dataset"
    )
    report = ingest(
        store, path, dataset="e", dictionary=COHORT, options=IngestOptions(allow_empty=True)
    )
    assert report.stored and store.dataset("e").rows == 0


# -- the dictionary first ------------------------------------------------------------------------


def test_the_inferred_dictionary_is_written_for_review_and_never_applied_silently(
    tmp_path: Path, store: NodeStore
) -> None:
    path = write(tmp_path, "c.csv", "id,admission_date,sex,age\n1,2023-01-01,F,30\n2,,M,40\n")
    first = ingest(store, path, dataset="cohort")
    review = tmp_path / "node" / "dictionaries" / "cohort.json"
    assert first.dictionary_path == review and not first.stored
    assert store.datasets() == []  # nothing stored before review
    inferred = Dictionary.from_json(json.loads(review.read_text()))
    assert inferred.get("sex") == Column("sex", ColumnType.CATEGORICAL, levels=("F", "M"))
    again = ingest(store, path, dataset="cohort")  # the same inference: still not applied
    assert not again.stored and store.datasets() == []
    # The steward reviews it (widens the levels); a run without --dictionary will not overwrite it.
    edited = [
        dict(c, levels=["F", "M", "X"]) if c["name"] == "sex" else c for c in inferred.to_json()
    ]
    review.write_text(json.dumps(edited))
    with pytest.raises(DataError, match="differs from the dictionary inferred now"):
        ingest(store, path, dataset="cohort")
    assert json.loads(review.read_text()) == edited
    stored = ingest(store, path, dataset="cohort", dictionary=Dictionary.from_json(edited))
    assert stored.stored
    assert store.dataset("cohort").dictionary.get("sex").levels == ("F", "M", "X")  # type: ignore[union-attr]


def test_describe_infers_types_levels_and_bounds(tmp_path: Path) -> None:
    path = write(
        tmp_path, "c.csv", "id,ward,bmi,seen\n1,north,21.5,2023-01-02\n2,south,30.25,2023-02-03\n"
    )
    report = describe(path)
    assert report.dictionary is not None
    assert [(c.name, c.type) for c in report.dictionary.columns] == [
        ("id", ColumnType.INTEGER),
        ("ward", ColumnType.CATEGORICAL),
        ("bmi", ColumnType.NUMERIC),
        ("seen", ColumnType.DATE),
    ]
    bmi = report.dictionary.get("bmi")
    assert bmi is not None and bmi.minimum is not None and bmi.maximum is not None
    assert bmi.minimum <= 21.5 and bmi.maximum >= 30.25


def test_table_schema_round_trip() -> None:
    dictionary = Dictionary(
        (
            Column("age", ColumnType.NUMERIC, minimum=0, maximum=120, unit="years"),
            Column("n", ColumnType.INTEGER, minimum=0),
            Column("sex", ColumnType.CATEGORICAL, levels=("F", "M"), description="at birth"),
            Column("seen", ColumnType.DATE),
            Column("smoker", ColumnType.BOOLEAN),
            Column("note", ColumnType.TEXT),
        )
    )
    schema = dictionary.to_table_schema(date_formats={"seen": "%d/%m/%Y"})
    assert schema["fields"][2] == {
        "name": "sex",
        "type": "string",
        "description": "at birth",
        "constraints": {"enum": ["F", "M"]},
    }
    assert schema["fields"][3] == {"name": "seen", "type": "date", "format": "%d/%m/%Y"}
    assert Dictionary.from_table_schema(json.loads(json.dumps(schema))) == dictionary
    with pytest.raises(DataError, match="'datetime' has no dictionary type"):
        Dictionary.from_table_schema({"fields": [{"name": "t", "type": "datetime"}]})


# -- all or nothing ------------------------------------------------------------------------------


def _truncated_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "cohort.parquet"
    frame = pd.DataFrame(
        {"id": [1, 2], "admission_date": ["2023-01-01", "2023-01-02"], "sex": ["F", "M"]}
    )
    frame.assign(age=[30.0, 40.0]).to_parquet(path)
    path.write_bytes(path.read_bytes()[:-40])
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p: write(
                p, "cohort.csv", "id,admission_date,sex,age\n9,2023-01-01,F,caf\xe9\n", "latin-1"
            ),
            "not valid UTF-8",
        ),
        (
            lambda p: write(p, "cohort.csv", "id,admission_date,sex,age\n9,2023-01-01,F\n"),
            "has 3 fields",
        ),
        (
            lambda p: write(p, "cohort.csv", "id,admission_date,sex,age\n9,2023-01-01,F,200\n"),
            "outside the bounds",
        ),
        (_truncated_parquet, "cannot read cohort.parquet as Parquet"),
    ],
    ids=["bad-encoding", "ragged", "out-of-bounds", "truncated-parquet"],
)
def test_a_refused_file_leaves_the_node_untouched(
    tmp_path: Path, store: NodeStore, make: Any, message: str
) -> None:
    good = write(tmp_path, "good.csv", "id,admission_date,sex,age\n1,2023-01-01,F,30\n2,,M,40\n")
    ingest(store, good, dataset="cohort", dictionary=COHORT)
    ingest(store, good, dataset="other", dictionary=COHORT)
    before = snapshot(store)
    with pytest.raises(DataError, match=message):
        ingest(store, make(tmp_path), dataset="cohort", dictionary=COHORT, replace=True)
    assert snapshot(store) == before
    leftovers = store._conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'causeway_%ing_%' "
        "OR table_name LIKE 'causeway_typed_%'"
    ).fetchall()
    assert leftovers == []


def test_reingesting_the_same_file_changes_nothing_and_says_so(
    tmp_path: Path, store: NodeStore
) -> None:
    path = write(tmp_path, "c.csv", "id,admission_date,sex,age\n1,2023-01-01,F,30\n2,,M,40\n")
    first = ingest(store, path, dataset="cohort", dictionary=COHORT)
    added = store._conn.execute("SELECT added_at FROM causeway_datasets").fetchall()
    again = ingest(store, path, dataset="cohort", dictionary=COHORT)
    assert (first.stored, again.stored, again.unchanged) == (True, False, True)
    assert again.fingerprint == first.fingerprint == store.dataset("cohort").fingerprint
    assert store._conn.execute("SELECT added_at FROM causeway_datasets").fetchall() == added
    other = write(tmp_path, "d.csv", "id,admission_date,sex,age\n1,2023-01-01,F,31\n")
    with pytest.raises(Conflict, match="pass --replace"):
        ingest(store, other, dataset="cohort", dictionary=COHORT)
    replaced = ingest(store, other, dataset="cohort", dictionary=COHORT, replace=True)
    assert replaced.stored and store.dataset("cohort").rows == 1


def test_the_fingerprint_is_the_stores_own(tmp_path: Path, store: NodeStore) -> None:
    path = write(tmp_path, "c.csv", "id,admission_date,sex,age\n1,2023-01-01,F,30\n2,,M,40\n")
    report = ingest(store, path, dataset="cohort", dictionary=COHORT)
    frame = pd.DataFrame(
        {"id": [1, 2], "admission_date": ["2023-01-01", None], "sex": ["F", "M"], "age": [30, 40]}
    )
    other = NodeStore(":memory:").add_dataset("cohort", frame, dictionary=COHORT)
    assert report.fingerprint == other.fingerprint


def test_a_dry_run_stores_nothing(tmp_path: Path, store: NodeStore) -> None:
    path = write(tmp_path, "c.csv", "id,admission_date,sex,age\n1,2023-01-01,F,30\n")
    report = ingest(store, path, dataset="cohort", dictionary=COHORT, dry_run=True)
    assert (report.dry_run, report.rows, report.stored) == (True, 1, False)
    assert store.datasets() == []
    inferred = ingest(store, path, dataset="cohort", dry_run=True)
    assert inferred.dictionary is not None and not (tmp_path / "node" / "dictionaries").exists()


def test_parquet_is_read_through_duckdb_and_refused_by_row(
    tmp_path: Path, store: NodeStore
) -> None:
    path = tmp_path / "p.parquet"
    pd.DataFrame({"age": [30.0, 50.0, None, 130.0], "sex": ["F", "M", "F", "M"]}).to_parquet(path)
    dictionary = Dictionary(
        (
            Column("age", ColumnType.NUMERIC, minimum=0, maximum=120),
            Column("sex", ColumnType.CATEGORICAL, levels=("F", "M")),
        )
    )
    with pytest.raises(IngestRefused) as refused:
        ingest(store, path, dataset="p", dictionary=dictionary)
    assert str(refused.value.report.refused[0]) == (
        "p.parquet row 4, column age: '130' is outside the bounds [0, 120]"
    )


# -- the command ----------------------------------------------------------------------------------


def test_cli_ingest_names_the_ambiguity_and_stores_with_a_format(tmp_path: Path) -> None:
    path = write(tmp_path, "cohort.csv", "id,admission_date\n1,07/11/2023\n2,01/02/2023\n")
    node = tmp_path / "node"
    base = ["node", "ingest", str(path), "--dataset", "cohort", "--data-dir", str(node)]
    refused = runner.invoke(app, base)
    assert isinstance(refused.exception, DataError)
    assert "read both day first" in str(refused.exception)
    inferred = runner.invoke(app, [*base, "--date-format", "%d/%m/%Y"])
    assert inferred.exit_code == 0, inferred.output
    review = node / "dictionaries" / "cohort.json"
    assert "should" in inferred.output and "review" in inferred.output and review.exists()
    options = [*base, "--date-format", "%d/%m/%Y", "--dictionary", str(review)]
    stored = runner.invoke(app, options)
    assert stored.exit_code == 0 and "Stored cohort: 2 rows" in stored.output
    again = runner.invoke(app, options)
    assert again.exit_code == 0 and "Unchanged" in again.output
    with NodeStore(node / "data.duckdb") as store:
        assert rows(store, "cohort")[0] == (1, dt.date(2023, 11, 7))


def test_cli_ingest_options_missing_booleans_and_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "age|smoker\n30|ja\n.|nein\n")
    node = tmp_path / "node"
    result = runner.invoke(
        app,
        [
            "node",
            "ingest",
            str(path),
            "--dataset",
            "s",
            "--data-dir",
            str(node),
            "--dry-run",
            "--delimiter",
            "|",
            "--missing",
            ".",
            "--true",
            "ja",
            "--false",
            "nein",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "boolean" in result.output and "Dry run: 2 rows" in result.output


def test_cli_describe_writes_a_table_schema(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "sex,seen\nF,2023-01-01\nM,2023-01-02\n")
    out = tmp_path / "schema.json"
    result = runner.invoke(
        app, ["node", "describe", str(path), "--table-schema", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    schema = json.loads(out.read_text())
    assert schema["fields"] == [
        {"name": "sex", "type": "string", "constraints": {"enum": ["F", "M"]}},
        {"name": "seen", "type": "date", "format": "default"},
    ]
    assert schema["missingValues"] == ["", "NA"]
    plain = tmp_path / "dictionary.json"
    runner.invoke(app, ["node", "describe", str(path), "--out", str(plain)])
    assert Dictionary.from_json(json.loads(plain.read_text())) == Dictionary.from_table_schema(
        schema
    )
