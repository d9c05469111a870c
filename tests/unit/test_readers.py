"""`node ingest` of Excel, SAS and Stata files (issue #17): the same rows as the CSV path, dates
typed by the file, value labels as levels, refused cells named by sheet, row and column, all or
nothing. The fixture files are written here (openpyxl writes .xlsx; pyreadstat writes .dta and
SAS transport .xpt; nothing writes .sas7bdat, so SAS is tested through .xpt)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from causeway.cli import app
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import DataError
from causeway.node import readers
from causeway.node.config import STORE_FILE
from causeway.node.ingest import IngestOptions, IngestRefused, describe, ingest
from causeway.node.store import NodeStore

runner = CliRunner()
D = dt.date
ROWS = [
    (1, "F", 34.5, D(2020, 1, 2), "first"),
    (2, "M", None, None, "second"),
    (3, "F", 80.0, D(2021, 3, 4), None),
    (4, "M", 61.25, D(1999, 12, 31), "fourth"),
]
NAMES = ["pid", "sex", "age", "visit", "note"]
DICTIONARY = Dictionary(
    (
        Column("pid", ColumnType.INTEGER, minimum=0, maximum=100),
        Column("sex", ColumnType.CATEGORICAL, levels=("F", "M")),
        Column("age", ColumnType.NUMERIC, minimum=0, maximum=120),
        Column("visit", ColumnType.DATE),
        Column("note", ColumnType.TEXT),
    )
)


@pytest.fixture
def store(tmp_path: Path) -> NodeStore:
    return NodeStore(tmp_path / "node" / STORE_FILE)


def stored(store: NodeStore, name: str) -> list[tuple[Any, ...]]:
    return store._conn.execute(f'SELECT * FROM "ds_{name}" ORDER BY rowid').fetchall()


def write_csv(path: Path) -> Path:
    lines = ["pid,sex,age,visit,note"]
    for pid, sex, age, visit, note in ROWS:
        cells = [str(pid), sex, "" if age is None else repr(age), str(visit or ""), note or ""]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_xlsx(path: Path, rows: list[tuple[Any, ...]] = ROWS, sheets: int = 1) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "visits"
    sheet.append(NAMES)
    for pid, sex, age, visit, note in rows:
        # dates as Excel dates (openpyxl writes a date as a date cell)
        sheet.append([pid, sex, age, visit, note])
    for i in range(1, sheets):
        book.create_sheet(f"other{i}").append(["x"])
    book.save(path)
    return path


def frame() -> pd.DataFrame:
    data = pd.DataFrame(ROWS, columns=NAMES)
    data["sex"] = data["sex"].map({"F": 1, "M": 2})  # coded, with value labels
    return data


def write_dta(path: Path, labels: dict[int, str] | None = None) -> Path:
    pyreadstat.write_dta(frame(), path, variable_value_labels={"sex": labels or {1: "F", 2: "M"}})
    return path


def write_xpt(path: Path) -> Path:
    data = frame()
    data["sex"] = data["sex"].map({1: "F", 2: "M"})  # transport files carry no value labels
    pyreadstat.write_xport(data, path)
    return path


@pytest.mark.parametrize(
    "writer", [write_xlsx, write_dta, write_xpt], ids=["excel", "stata", "sas"]
)
def test_a_typed_file_stores_the_same_rows_as_the_csv(
    store: NodeStore, tmp_path: Path, writer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "CHUNK_ROWS", 3)  # four rows: streamed in two chunks
    ingest(store, write_csv(tmp_path / "v.csv"), dataset="from_csv", dictionary=DICTIONARY)
    suffix = {write_xlsx: ".xlsx", write_dta: ".dta", write_xpt: ".xpt"}[writer]
    report = ingest(store, writer(tmp_path / f"v{suffix}"), dataset="typed", dictionary=DICTIONARY)
    assert report.stored and report.rows == len(ROWS)
    assert stored(store, "typed") == stored(store, "from_csv")
    assert stored(store, "typed")[0] == (1, "F", 34.5, D(2020, 1, 2), "first")
    # the same rows under the same dictionary: the same content fingerprint
    assert store.dataset("typed").fingerprint == store.dataset("from_csv").fingerprint


@pytest.mark.parametrize(
    "writer", [write_xlsx, write_dta, write_xpt], ids=["excel", "stata", "sas"]
)
def test_an_inferred_dictionary_takes_dates_and_labels_from_the_file(
    tmp_path: Path, writer: Any
) -> None:
    suffix = {write_xlsx: ".xlsx", write_dta: ".dta", write_xpt: ".xpt"}[writer]
    report = describe(writer(tmp_path / f"v{suffix}"))
    assert report.dictionary is not None
    kinds = {c.name: c.type for c in report.dictionary.columns}
    assert kinds["visit"] is ColumnType.DATE and kinds["pid"] is ColumnType.INTEGER
    assert report.dictionary.get("sex") == Column("sex", ColumnType.CATEGORICAL, levels=("F", "M"))


def test_stata_value_labels_are_the_levels_even_those_no_row_uses(tmp_path: Path) -> None:
    path = write_dta(tmp_path / "v.dta", labels={1: "F", 2: "M", 3: "<other>"})
    report = describe(path)
    assert report.dictionary is not None
    assert report.dictionary.get("sex") == Column(
        "sex", ColumnType.CATEGORICAL, levels=("F", "M", "<other>")
    )


def test_a_stata_code_without_a_label_is_refused_by_row_and_column(tmp_path: Path) -> None:
    data = frame()
    data.loc[2, "sex"] = 9  # a missing-value code nobody labelled
    path = tmp_path / "v.dta"
    pyreadstat.write_dta(data, path, variable_value_labels={"sex": {1: "F", 2: "M"}})
    with pytest.raises(IngestRefused) as refused:
        describe(path)
    assert "v.dta row 3, column sex: '9' is not one of its levels (F, M)" in str(refused.value)


def test_a_bad_excel_cell_is_named_by_sheet_row_and_column(
    store: NodeStore, tmp_path: Path
) -> None:
    rows = [*ROWS]
    rows[2] = (3, "F", "eighty", D(2021, 3, 4), None)  # text in a number column
    path = write_xlsx(tmp_path / "v.xlsx", rows)
    with pytest.raises(IngestRefused) as refused:
        ingest(store, path, dataset="typed", dictionary=DICTIONARY)
    # the header is row 1: the third data row is spreadsheet row 4
    assert "v.xlsx sheet 'visits' row 4, column age: 'eighty' is not a number" in str(refused.value)
    (refusal,) = refused.value.report.refused
    assert (refusal.line, refusal.column, refusal.value) == (4, "age", "eighty")


def test_text_in_an_excel_date_column_is_refused_not_read_as_a_date(
    store: NodeStore, tmp_path: Path
) -> None:
    rows = [*ROWS]
    rows[1] = (2, "M", None, "03/04/2020", "second")  # typed as text in Excel: not re-guessed
    path = write_xlsx(tmp_path / "v.xlsx", rows)
    with pytest.raises(IngestRefused) as refused:
        ingest(store, path, dataset="typed", dictionary=DICTIONARY)
    assert "row 3, column visit: '03/04/2020' is not a date in %Y-%m-%d" in str(refused.value)


def test_a_refused_file_leaves_the_stored_dataset_as_it_was(
    store: NodeStore, tmp_path: Path
) -> None:
    ingest(store, write_xlsx(tmp_path / "good.xlsx"), dataset="typed", dictionary=DICTIONARY)
    before = (stored(store, "typed"), store.dataset("typed"))
    rows = [*ROWS, (5, "F", 200.0, D(2022, 1, 1), "too old")]  # out of the dictionary's bounds
    bad = write_xlsx(tmp_path / "bad.xlsx", rows)
    with pytest.raises(IngestRefused, match="row 6, column age: '200' is outside the bounds"):
        ingest(store, bad, dataset="typed", dictionary=DICTIONARY, replace=True)
    assert (stored(store, "typed"), store.dataset("typed")) == before


def test_a_workbook_of_several_sheets_needs_the_sheet_named(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "v.xlsx", sheets=2)
    with pytest.raises(DataError, match=r"holds 2 sheets \(visits, other1\); pass --sheet"):
        describe(path)
    with pytest.raises(DataError, match="has no sheet 'visit'; its sheets are visits, other1"):
        describe(path, IngestOptions(sheet="visit"))
    assert describe(path, IngestOptions(sheet="visits")).rows == len(ROWS)


def test_the_format_is_checked_against_the_file(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "v.csv")
    with pytest.raises(DataError, match=r"a Stata file is a \.dta file"):
        describe(csv, IngestOptions(format="stata"))
    with pytest.raises(DataError, match=r"a SAS file is a \.sas7bdat or a transport \(\.xpt\)"):
        describe(csv, IngestOptions(format="sas"))
    with pytest.raises(DataError, match=r"cannot read v\.csv as an Excel workbook"):
        describe(csv, IngestOptions(format="excel"))
    with pytest.raises(DataError, match="--date-format is for CSV"):
        describe(write_xlsx(tmp_path / "v.xlsx"), IngestOptions(date_format="%d/%m/%Y"))
    old = tmp_path / "v.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DataError, match=r"an \.xls \(Excel 97\) workbook; save it as \.xlsx"):
        describe(old)


def test_node_ingest_reads_a_sheet_and_prints_the_quality_summary(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "v.xlsx", sheets=2)
    node = tmp_path / "node"
    dictionary = tmp_path / "dictionary.json"
    dictionary.write_text(__import__("json").dumps(DICTIONARY.to_json()))
    result = runner.invoke(
        app,
        [
            "node",
            "ingest",
            str(path),
            "--dataset",
            "typed",
            "--data-dir",
            str(node),
            "--sheet",
            "visits",
            "--dictionary",
            str(dictionary),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Stored typed: 4 rows" in result.output
    # age, visit and note are each missing once in four rows (25% > the 5% default)
    assert "quality: " in result.output and "checks passed" in result.output
    with NodeStore(node / STORE_FILE) as store:
        quality = store.dataset("typed").metadata.quality
    assert quality is not None and quality.failed == 3
