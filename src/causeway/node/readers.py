"""Readers for typed files (Excel, SAS, Stata) into ingestion's staging table, in bounded chunks.

A CSV is text and DuckDB reads it; these formats carry their own types and need a library. Each
reader streams the file (openpyxl in read-only mode row by row; pyreadstat's
``read_file_in_chunks``) into the same staging table of text columns as the CSV path, so the same
SQL checks, refusals and all-or-nothing store follow. Values keep the type the file gave them:

- a date cell (or a SAS/Stata date format) is staged as an ISO date, never re-guessed from text;
- a whole number written as a float (``42.0``, as SAS and Stata store every number) as ``42``;
- a Stata (or SAS) value label replaces its code, and the labels become the column's levels when
  the dictionary is inferred; a code without a label stays a code, and is refused as "not one of
  its levels" (it is usually a missing-value code nobody labelled).

Each staged record keeps the file's own row number (the spreadsheet row, the SAS/Stata
observation) in :data:`LINE`, so a refused value is named by sheet, row and column.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from causeway.model.dictionary import level_text
from causeway.model.errors import DataError

FORMATS = ("excel", "sas", "stata")
SUFFIXES = {
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".sas7bdat": "sas",
    ".xpt": "sas",
    ".dta": "stata",
}
LINE = "causeway_line"  # the staging column holding each record's row in the file
CHUNK_ROWS = 10_000
SHOWN = 10
# SAS formats pyreadstat reads as dates (a column typed so is a date column even if all missing).
_SAS_DATES = ("DATE", "DDMMYY", "MMDDYY", "YYMMDD", "E8601DA", "B8601DA", "WEEKDATE", "WORDDATE")

CheckNames = Callable[[list[str]], list[str]]


@dataclass
class Read:
    """What a reader put in the staging table."""

    names: list[str]
    rows: int
    unit: str  # how a record is named: "sheet 'visits' row", "row"
    problems: list[tuple[int, str]] = field(default_factory=list)  # (row, reason), the first few
    problems_total: int = 0
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # from value labels
    dates: set[str] = field(default_factory=set)  # typed as dates by the file
    notes: list[str] = field(default_factory=list)


def format_of(path: Path) -> str | None:
    """The reader a suffix names (None: not one of these formats)."""
    return SUFFIXES.get(path.suffix.lower())


def stage(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    fmt: str,
    table: str,
    *,
    sheet: str | None,
    check_names: CheckNames,
) -> Read:
    """Read ``path`` (``fmt`` one of :data:`FORMATS`) into a new table ``table`` of ``conn``."""
    if fmt == "excel":
        return _stage_excel(conn, path, table, sheet, check_names)
    if sheet is not None:
        raise DataError("--sheet is for Excel workbooks only")
    return _stage_readstat(conn, path, fmt, table, check_names)


# -- the staging table ---------------------------------------------------------------------------


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Writer:
    """Appends text records to the staging table, a chunk at a time (never the file in memory)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, table: str, width: int) -> None:
        self.conn, self.table, self.width = conn, table, width
        columns = ", ".join(f"c{i} VARCHAR" for i in range(width))
        conn.execute(f"CREATE TABLE {_ident(table)} ({columns}, {LINE} BIGINT)")
        self.rows = 0
        self._columns: list[list[str | None]] = [[] for _ in range(width)]
        self._lines: list[int] = []

    def add(self, values: Sequence[str | None], line: int) -> None:
        for i in range(self.width):
            self._columns[i].append(values[i])
        self._lines.append(line)
        if len(self._lines) >= CHUNK_ROWS:
            self.flush()

    def add_columns(self, columns: list[list[str | None]], lines: list[int]) -> None:
        for i in range(self.width):
            self._columns[i].extend(columns[i])
        self._lines.extend(lines)
        self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        arrays = [pa.array(c, type=pa.string()) for c in self._columns]
        chunk = pa.table(
            [*arrays, pa.array(self._lines, type=pa.int64())],
            names=[*(f"c{i}" for i in range(self.width)), LINE],
        )
        self.conn.register("causeway_chunk", chunk)
        try:
            self.conn.execute(f"INSERT INTO {_ident(self.table)} SELECT * FROM causeway_chunk")
        finally:
            self.conn.unregister("causeway_chunk")
        self.rows += len(self._lines)
        self._columns = [[] for _ in range(self.width)]
        self._lines = []


def text(value: Any) -> str | None:
    """A typed cell as staged text: dates in ISO, whole floats as integers, NaN as missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return str(value)


# -- Excel ---------------------------------------------------------------------------------------


def _stage_excel(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    sheet: str | None,
    check_names: CheckNames,
) -> Read:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    if path.suffix.lower() == ".xls":
        raise DataError(f"{path.name}: an .xls (Excel 97) workbook; save it as .xlsx")
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise DataError(f"cannot read {path.name} as an Excel workbook: {exc}") from None
    try:
        names = list(book.sheetnames)
        if sheet is None:
            if len(names) != 1:
                raise DataError(
                    f"{path.name} holds {len(names)} sheets ({', '.join(names)}); pass --sheet"
                )
            sheet = names[0]
        if sheet not in names:
            raise DataError(
                f"{path.name} has no sheet {sheet!r}; its sheets are {', '.join(names)}"
            )
        return _stage_sheet(
            conn, path, table, sheet, book[sheet].iter_rows(values_only=True), check_names
        )
    finally:
        book.close()


def _stage_sheet(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    sheet: str,
    rows: Iterable[Sequence[Any]],
    check_names: CheckNames,
) -> Read:
    unit = f"sheet {sheet!r} row"
    iterator = iter(rows)
    header: Sequence[Any] = next(iterator, ())
    cells = [text(v) for v in header]
    while cells and cells[-1] is None:
        cells.pop()  # formatted but empty cells after the last column
    if not cells:
        raise DataError(f"{path.name}, sheet {sheet!r}: the first row (the header) is empty")
    columns = check_names([c or "" for c in cells])
    width = len(columns)
    writer = _Writer(conn, table, width)
    read = Read(columns, 0, unit)
    blank = 0
    for number, row in enumerate(iterator, start=2):
        values = [text(v) for v in row]
        if all(v is None or v == "" for v in values):
            blank += 1  # an empty row (often formatting left below the data): skipped
            continue
        beyond = [v for v in values[width:] if v is not None and v != ""]
        if beyond:
            read.problems_total += 1
            if len(read.problems) < SHOWN:
                read.problems.append((number, "has a value right of the header's last column"))
            continue
        values += [None] * (width - len(values))
        writer.add(values[:width], number)
    writer.flush()
    read.rows = writer.rows
    if blank:
        read.notes.append(f"sheet {sheet!r}: {blank:,} empty row(s) skipped")
    return read


# -- SAS and Stata (ReadStat) --------------------------------------------------------------------


def _readstat_function(path: Path, fmt: str) -> Callable[..., Any]:
    import pyreadstat

    suffix = path.suffix.lower()
    if fmt == "stata":
        if suffix != ".dta":
            raise DataError(f"{path.name}: a Stata file is a .dta file")
        return pyreadstat.read_dta
    if suffix == ".sas7bdat":
        return pyreadstat.read_sas7bdat
    if suffix == ".xpt":
        return pyreadstat.read_xport
    raise DataError(f"{path.name}: a SAS file is a .sas7bdat or a transport (.xpt) file")


def _stage_readstat(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    fmt: str,
    table: str,
    check_names: CheckNames,
) -> Read:
    import pyreadstat

    read_function = _readstat_function(path, fmt)
    kind = "Stata" if fmt == "stata" else "SAS"
    try:
        _empty, meta = read_function(str(path), metadataonly=True)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError, ValueError) as exc:
        raise DataError(f"cannot read {path.name} as a {kind} file: {exc}") from None
    columns = check_names([str(n) for n in meta.column_names])
    labels: Mapping[str, Mapping[Any, str]] = meta.variable_value_labels or {}
    read = Read(columns, 0, "row")
    for name, mapping in labels.items():
        read.levels[name] = tuple(dict.fromkeys(str(v) for v in mapping.values()))
    formats: Mapping[str, str | None] = meta.original_variable_types or {}
    read.dates = {n for n, f in formats.items() if _is_date_format(f)}
    decode = {
        name: {level_text(code): str(label) for code, label in mapping.items()}
        for name, mapping in labels.items()
    }
    writer = _Writer(conn, table, len(columns))
    line = 1
    try:
        chunks = pyreadstat.read_file_in_chunks(read_function, str(path), chunksize=CHUNK_ROWS)
        for frame, _meta in chunks:
            staged: list[list[str | None]] = []
            for name in columns:
                values = [text(v) for v in frame[name].tolist()]
                codes = decode.get(name)
                if codes:
                    values = [None if v is None else codes.get(v, v) for v in values]
                staged.append(values)
            lines = list(range(line, line + len(frame)))
            line += len(frame)
            writer.add_columns(staged, lines)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError, ValueError) as exc:
        raise DataError(f"cannot read {path.name} as a {kind} file: {exc}") from None
    read.rows = writer.rows
    return read


def _is_date_format(fmt: str | None) -> bool:
    """A Stata daily-date format (%td, %d) or a SAS date format."""
    if not fmt:
        return False
    upper = fmt.upper()
    if upper.startswith("%TD") or upper.startswith("%D"):
        return True
    return upper.rstrip("0123456789.").startswith(_SAS_DATES) and not upper.startswith(
        ("DATETIME", "DATEAMPM")
    )
