"""The data quality report (issue #17): each check counts exactly the violations planted in a small
dataset, thresholds decide pass or fail, the HTML escapes what it shows, and the summary that may
leave the node holds counts of checks only."""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from causeway.cli import app
from causeway.model.catalog import DatasetMetadata
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import DataError
from causeway.model.levels import Level
from causeway.model.quality import Category, QualityConfig, QualitySummary, Status
from causeway.node.config import STORE_FILE
from causeway.node.quality import assess, render_html
from causeway.node.store import NodeStore

runner = CliRunner()
TODAY = dt.date(2025, 6, 1)
SCRIPT = "<script>alert(1)</script>"
D = dt.date

# Eight visits, each row planting the violations named beside it.
VISITS = pd.DataFrame(
    [
        (1, "F", 30.0, D(1990, 1, 1), D(2020, 1, 1), None, "A"),  # clean
        (2, "M", 130.0, D(1950, 1, 1), D(2019, 5, 5), None, "B"),  # out of bounds, > soft; dead
        (3, "X", 45.0, D(1980, 1, 1), D(1979, 1, 1), None, "A"),  # no such level; before birth
        (
            4,
            None,
            -1.0,
            D(1970, 1, 1),
            D(2026, 1, 1),
            None,
            "Z",
        ),  # sex missing; out; future; orphan
        (5, "F", None, None, D(2030, 2, 2), None, None),  # age, dob, ward missing; future
        (
            5,
            "M",
            105.0,
            D(1960, 1, 1),
            D(2021, 1, 1),
            D(2020, 12, 31),
            "A",
        ),  # key twice; > soft; after death
        (7, "F", 60.0, D(1965, 1, 1), None, D(2024, 1, 1), "B"),  # visit missing
        (8, "M", 0.5, D(2000, 2, 2), D(2023, 3, 3), None, "A"),  # below soft bound
    ],
    columns=["pid", "sex", "age", "dob", "visit", "dod", "ward"],
)
VISITS_DICTIONARY = Dictionary(
    (
        Column("pid", ColumnType.INTEGER),
        Column("sex", ColumnType.CATEGORICAL, levels=("F", "M", SCRIPT)),
        Column("age", ColumnType.NUMERIC, minimum=0, maximum=120),
        Column("dob", ColumnType.DATE),
        Column("visit", ColumnType.DATE),
        Column("dod", ColumnType.DATE),
        Column("ward", ColumnType.TEXT),
    )
)
WARDS = pd.DataFrame({"ward": ["A", "B"]})
# pid 2 died before its visit; pid 8's earliest death record is after its visit; 99 has no visit
DEATHS = pd.DataFrame(
    {
        "pid": [2, 8, 8, 99],
        "died_on": [D(2019, 1, 1), D(2024, 1, 1), D(2023, 3, 4), D(2000, 1, 1)],
    }
)
CONFIG = {
    "key": "pid",
    "person": "pid",
    "birth_date": "dob",
    "death_date": "dod",
    "death": {"dataset": "deaths", "person": "pid", "date": "died_on"},
    "foreign_keys": [{"column": "ward", "dataset": "wards", "key": "ward"}],
    "soft_bounds": {"age": {"low": 1, "high": 100}},
}
# (check, column, against) -> (violating rows, rows checked), counted by hand from the rows above
EXPECTED = {
    ("measureValueCompleteness", "pid", ""): (0, 8),
    ("measureValueCompleteness", "sex", ""): (1, 8),
    ("measureValueCompleteness", "age", ""): (1, 8),
    ("measureValueCompleteness", "dob", ""): (1, 8),
    ("measureValueCompleteness", "visit", ""): (1, 8),
    ("measureValueCompleteness", "dod", ""): (6, 8),
    ("measureValueCompleteness", "ward", ""): (1, 8),
    ("withinLevels", "sex", f"F, M, {SCRIPT}"): (1, 7),
    ("withinBounds", "age", "[0, 120]"): (2, 7),
    ("plausibleValueLow", "age", ">= 1"): (2, 7),
    ("plausibleValueHigh", "age", "<= 100"): (2, 7),
    ("plausibleNotFuture", "dob", "today"): (0, 7),
    ("plausibleNotFuture", "visit", "today"): (2, 7),
    ("plausibleNotFuture", "dod", "today"): (0, 2),
    ("plausibleAfterBirth", "visit", "dob"): (1, 6),
    ("plausibleAfterBirth", "dod", "dob"): (0, 2),
    ("plausibleBeforeDeath", "dob", "dod"): (0, 2),
    ("plausibleBeforeDeath", "visit", "dod"): (1, 1),
    ("plausibleBeforeDeath", "dob", "deaths.died_on"): (0, 2),
    ("plausibleBeforeDeath", "visit", "deaths.died_on"): (1, 2),
    ("plausibleBeforeDeath", "dod", "deaths.died_on"): (0, 0),
    ("isPrimaryKey", "pid", ""): (2, 8),
    ("isForeignKey", "ward", "wards.ward"): (1, 7),
}
_SQL = {
    ColumnType.INTEGER: "BIGINT",
    ColumnType.NUMERIC: "DOUBLE",
    ColumnType.DATE: "DATE",
    ColumnType.CATEGORICAL: "VARCHAR",
    ColumnType.TEXT: "VARCHAR",
}


def install(store: NodeStore, name: str, frame: pd.DataFrame, dictionary: Dictionary) -> None:
    """Store rows the dictionary's bounds and levels would refuse at ingestion (as a dataset
    stored before its dictionary was tightened holds them)."""
    conn = store._conn
    conn.register("incoming", frame)
    columns = ", ".join(
        f'CAST("{c.name}" AS {_SQL[c.type]}) AS "{c.name}"' for c in dictionary.columns
    )
    conn.execute(f"CREATE TABLE staged_{name} AS SELECT {columns} FROM incoming")
    conn.unregister("incoming")
    store.install_table(
        name,
        f"staged_{name}",
        dictionary,
        level=Level.L1,
        description="",
        metadata=DatasetMetadata(),
        rows=len(frame),
        fingerprint="test",
    )


@pytest.fixture
def store(tmp_path: Path) -> NodeStore:
    store = NodeStore(tmp_path / "node" / STORE_FILE)
    install(store, "visits", VISITS, VISITS_DICTIONARY)
    store.add_dataset("wards", WARDS)
    store.add_dataset(
        "deaths",
        DEATHS,
        dictionary=Dictionary(
            (Column("pid", ColumnType.INTEGER), Column("died_on", ColumnType.DATE))
        ),
    )
    return store


def found(report: Any) -> dict[tuple[str, str, str], tuple[int, int]]:
    return {(c.check, c.column, c.detail): (c.violated, c.denominator) for c in report.checks}


def test_each_check_counts_exactly_the_violations_planted(store: NodeStore) -> None:
    report = assess(store, "visits", QualityConfig.from_json(CONFIG), today=TODAY)
    assert report.rows == 8
    assert found(report) == EXPECTED


def test_without_a_configuration_only_the_dictionarys_checks_run(store: NodeStore) -> None:
    report = assess(store, "visits", today=TODAY)
    names = {c.check for c in report.checks}
    assert names == {
        "measureValueCompleteness",
        "withinLevels",
        "withinBounds",
        "plausibleNotFuture",
    }
    assert found(report)[("withinBounds", "age", "[0, 120]")] == (2, 7)


def test_categories_and_contexts_follow_the_data_quality_dashboard(store: NodeStore) -> None:
    report = assess(store, "visits", QualityConfig.from_json(CONFIG), today=TODAY)
    by_name = {c.check: c.kind for c in report.checks}
    assert by_name["isPrimaryKey"].category is Category.CONFORMANCE
    assert by_name["isPrimaryKey"].subcategory == "relational"
    assert by_name["withinBounds"].subcategory == "value"
    assert by_name["measureValueCompleteness"].category is Category.COMPLETENESS
    assert by_name["plausibleAfterBirth"].subcategory == "temporal"
    assert by_name["plausibleValueHigh"].subcategory == "atemporal"
    assert {k.context.value for k in by_name.values()} == {"verification"}


def status(report: Any, check: str, column: str) -> Status:
    (result,) = [c for c in report.checks if c.check == check and c.column == column]
    return Status(result.status)


def test_thresholds_decide_pass_or_fail(store: NodeStore) -> None:
    default = assess(store, "visits", today=TODAY)
    # conformance tolerates nothing by default; completeness 5%
    assert status(default, "withinLevels", "sex") is Status.FAIL  # 1 of 7
    assert status(default, "measureValueCompleteness", "sex") is Status.FAIL  # 12.5%
    assert status(default, "measureValueCompleteness", "pid") is Status.PASS  # 0%
    loose = QualityConfig.from_json(
        {
            "thresholds": {
                "withinLevels": 15,  # 14.3% passes
                "completeness": 12.5,  # exactly at the threshold passes
                "measureValueCompleteness.dod": 70,  # 75% still fails
            }
        }
    )
    report = assess(store, "visits", loose, today=TODAY)
    assert status(report, "withinLevels", "sex") is Status.PASS
    assert status(report, "withinBounds", "age") is Status.FAIL  # 28.6%, conformance default 0
    assert status(report, "measureValueCompleteness", "sex") is Status.PASS
    assert status(report, "measureValueCompleteness", "dod") is Status.FAIL
    assert (
        report.summary().passed == default.summary().passed + 6
    )  # sex, age, dob, visit, ward, levels


def test_a_check_with_nothing_to_check_is_not_applicable_and_not_counted(
    store: NodeStore,
) -> None:
    report = assess(store, "visits", QualityConfig.from_json(CONFIG), today=TODAY)
    (empty,) = [c for c in report.checks if c.denominator == 0]
    assert (empty.check, empty.column, empty.status) == (
        "plausibleBeforeDeath",
        "dod",
        Status.NOT_APPLICABLE,
    )
    summary = report.summary()
    assert summary.passed + summary.failed == len(report.checks) - 1


def test_the_future_is_the_nodes_clock(store: NodeStore) -> None:
    later = assess(store, "visits", today=D(2031, 1, 1))
    assert found(later)[("plausibleNotFuture", "visit", "today")] == (0, 7)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_html_report_parses_lists_every_check_and_escapes_a_script_level(
    store: NodeStore,
) -> None:
    report = assess(store, "visits", QualityConfig.from_json(CONFIG), today=TODAY)
    page = render_html(report)
    parser = Tags()
    parser.feed(page)
    parser.close()
    assert "script" not in parser.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT in "".join(parser.text)  # shown as text, not run
    header_rows = 2  # one per table
    categories = 3
    assert parser.tags.count("tr") == header_rows + categories + len(report.checks)


def test_the_json_report_lists_every_check_with_its_counts(store: NodeStore) -> None:
    report = assess(store, "visits", QualityConfig.from_json(CONFIG), today=TODAY)
    data = json.loads(json.dumps(report.to_json()))
    checks = {(c["check"], c["column"], c["detail"]): c for c in data["checks"]}
    assert {k: (c["violated"], c["denominator"]) for k, c in checks.items()} == EXPECTED
    future = checks[("plausibleNotFuture", "visit", "today")]
    assert (future["category"], future["subcategory"], future["percent"]) == (
        "plausibility",
        "temporal",
        round(100 * 2 / 7, 4),
    )


def test_the_summary_counts_checks_never_rows(store: NodeStore) -> None:
    report = assess(store, "visits", QualityConfig.from_json(CONFIG), today=TODAY)
    summary = report.summary()
    published = summary.to_json()
    assert set(published) == {"assessed_on", "counts", "pass_rate"}
    for cell in published["counts"]:
        assert set(cell) == {"category", "context", "passed", "failed"}
    applicable = [c for c in report.checks if c.status is not Status.NOT_APPLICABLE]
    assert summary.passed + summary.failed == len(applicable)
    assert summary.failed == len(report.failed)
    assert summary.pass_rate == 100 * summary.passed // len(applicable)
    text = json.dumps(published)
    for column in VISITS_DICTIONARY.names:  # no column named, so no per-column count either
        assert column not in text
    assert QualitySummary.from_json(published) == summary


def test_a_summary_with_anything_but_counts_of_checks_is_refused_or_dropped() -> None:
    good = {
        "assessed_on": "2025-06-01",
        "counts": [
            {"category": "conformance", "context": "verification", "passed": 3, "failed": 1}
        ],
        "pass_rate": 75,
    }
    smuggled = {**good, "violated": 1, "columns": {"age": 1}}
    assert QualitySummary.from_json(smuggled).to_json() == good
    for bad in (
        {**good, "counts": [{**good["counts"][0], "passed": -1}]},
        {**good, "counts": [{**good["counts"][0], "passed": "3"}]},
        {**good, "counts": [{**good["counts"][0], "category": "secrets"}]},
        {**good, "counts": good["counts"] * 2},
        {"counts": []},
    ):
        with pytest.raises(DataError):
            QualitySummary.from_json(bad)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"key": "nope"}, "key column 'nope' is not a column of visits"),
        ({"birth_date": "age"}, "birth date column 'age' is numeric, not date"),
        ({"soft_bounds": {"sex": {"low": 1}}}, "is categorical, not numeric or integer"),
        ({"foreign_keys": [{"column": "ward", "dataset": "x", "key": "k"}]}, "not stored"),
        ({"thresholds": {"completeness": 150}}, "a percent from 0 to 100"),
        ({"thresholds": {"nonsense": 1}}, "not a check or category"),
        ({"death": {"dataset": "deaths", "person": "pid", "date": "died_on"}}, '"person"'),
        ({"tresholds": {}}, "unknown entries in the thresholds file: tresholds"),
    ],
)
def test_a_bad_configuration_is_refused_in_plain_words(
    store: NodeStore, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        assess(store, "visits", QualityConfig.from_json(config), today=TODAY)


@pytest.mark.parametrize(
    "config",
    [
        {"foreign_keys": [{"column": "ward", "dataset": "wards", "key": "ward"}]},
        {"person": "pid", "death": {"dataset": "wards", "person": "ward", "date": "opened"}},
    ],
)
def test_a_check_against_a_warehouse_dataset_is_refused_in_plain_words(
    store: NodeStore, config: dict[str, Any]
) -> None:
    # "wards" registered from a warehouse: its rows are not in the node's DuckDB to join
    dictionary = Dictionary((Column("ward", ColumnType.TEXT), Column("opened", ColumnType.DATE)))
    store.install_source(
        "wards",
        {"url": "postgresql://warehouse.example/db", "table": "public.wards", "key": "id"},
        dictionary,
        level=Level.L1,
        description="",
        metadata=DatasetMetadata(),
        rows=2,
        fingerprint="v2:" + "0" * 61,
    )
    with pytest.raises(DataError, match="'wards' lives in the hospital's PostgreSQL"):
        assess(store, "visits", QualityConfig.from_json(config), today=TODAY)


def test_node_quality_writes_html_and_json_and_keeps_the_summary_for_the_catalog(
    store: NodeStore, tmp_path: Path
) -> None:
    store.close()
    config = tmp_path / "thresholds.json"
    config.write_text(json.dumps(CONFIG))
    html, out = tmp_path / "report.html", tmp_path / "report.json"
    node = tmp_path / "node"
    result = runner.invoke(
        app,
        [
            "node",
            "quality",
            "--dataset",
            "visits",
            "--data-dir",
            str(node),
            "--thresholds",
            str(config),
            "--html",
            str(html),
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    counted = {
        (c["check"], c["column"], c["detail"]): (c["violated"], c["denominator"])
        for c in data["checks"]
    }
    # the node's clock is today, so "future" dates depend on it; the rest is as planted
    assert {k: v for k, v in counted.items() if k[0] != "plausibleNotFuture"} == {
        k: v for k, v in EXPECTED.items() if k[0] != "plausibleNotFuture"
    }
    assert "<table" in html.read_text()
    assert "checks passed" in result.output
    with NodeStore(node / STORE_FILE) as again:
        kept = again.dataset("visits").metadata.quality
    assert kept is not None and kept.to_json() == data["summary"]


def test_a_bad_thresholds_file_is_a_clear_error_not_a_traceback(
    store: NodeStore, tmp_path: Path
) -> None:
    store.close()
    config = tmp_path / "thresholds.json"
    config.write_text("{not json")
    node = str(tmp_path / "node")
    result = runner.invoke(
        app,
        ["node", "quality", "--dataset", "visits", "--data-dir", node, "--thresholds", str(config)],
    )
    assert result.exit_code != 0
    # a user error: main() prints its message and exits with its code, without a traceback
    assert isinstance(result.exception, DataError)
    assert "cannot read the thresholds file" in str(result.exception)


def test_ingestion_assesses_the_rows_it_stores_even_against_their_own_keys(
    tmp_path: Path,
) -> None:
    """A foreign key within the dataset (a parent's id) is checked against the rows being
    stored, not a stored version (there is none yet), in the same transaction as the store."""
    from causeway.node.ingest import ingest

    path = tmp_path / "people.csv"
    path.write_text("pid,parent\n1,\n2,1\n3,1\n4,9\n")  # 9 is nobody
    dictionary = Dictionary(
        (Column("pid", ColumnType.INTEGER), Column("parent", ColumnType.INTEGER))
    )
    config = QualityConfig.from_json(
        {"key": "pid", "foreign_keys": [{"column": "parent", "dataset": "people", "key": "pid"}]}
    )
    with NodeStore(tmp_path / "node" / STORE_FILE) as store:
        report = ingest(store, path, dataset="people", dictionary=dictionary, quality=config)
        assert report.stored and report.quality is not None
        assert found(report.quality)[("isForeignKey", "parent", "people.pid")] == (1, 3)
        assert found(report.quality)[("isPrimaryKey", "pid", "")] == (0, 4)
        assert store.dataset("people").metadata.quality == report.quality.summary()


def test_a_thresholds_file_that_does_not_fit_refuses_the_ingestion_and_stores_nothing(
    tmp_path: Path,
) -> None:
    from causeway.node.ingest import ingest

    path = tmp_path / "people.csv"
    path.write_text("pid\n1\n2\n")
    dictionary = Dictionary((Column("pid", ColumnType.INTEGER),))
    with NodeStore(tmp_path / "node" / STORE_FILE) as store:
        with pytest.raises(DataError, match="birth date column 'dob' is not a column of people"):
            ingest(
                store,
                path,
                dataset="people",
                dictionary=dictionary,
                quality=QualityConfig(birth_date="dob"),
            )
        assert store.datasets() == []
