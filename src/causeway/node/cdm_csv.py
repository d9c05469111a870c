"""One OMOP CDM CSV file read against its table's spec, and the report of what was found.

The file is read by DuckDB into a staging table of text columns; its header is matched to the CDM
v5.4 spec (:mod:`causeway.node.cdm`), every value is checked with SQL (required values present,
integer ids, ISO dates, unique keys in person) and a typed table is made of it. Every refusal is
named by file, line and column; a line is the file's own (a quoted field may span lines).
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from causeway.model.errors import DataError
from causeway.node.cdm import V53_NAMES, CdmTable, CdmType
from causeway.node.ingest import Refusal

SHOWN = 10  # refusals listed; the total is always given


@dataclass
class OmopReport:
    """What reading an OMOP folder (or FHIR resources) found and did."""

    source: str
    path: str
    origin: str = "omop"
    tables: dict[str, int] = field(default_factory=dict)  # rows per CDM table
    absent: list[str] = field(default_factory=list)  # CDM tables with no file (stored empty)
    ignored: list[str] = field(default_factory=list)  # files not read
    warnings: list[str] = field(default_factory=list)  # orphans: kept, reported
    notes: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    refused_total: int = 0
    stored: bool = False
    dry_run: bool = False

    def refusal_text(self) -> str:
        lines = [str(r) for r in self.refused[:SHOWN]]
        if self.refused_total > len(lines):
            lines.append(
                f"… and {self.refused_total - len(lines):,} more "
                f"({self.refused_total:,} refused in all)"
            )
        return "\n".join(lines)


class OmopRefused(DataError):
    """A source refused; ``report`` holds the refusals found (the first ten) and their total."""

    def __init__(self, headline: str, report: OmopReport) -> None:
        details = report.refusal_text()
        super().__init__(headline + ("\n" + details if details else ""))
        self.report = report


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


# -- one CSV file into a staging table ------------------------------------------------------------


@dataclass
class _Staged:
    table: str  # text columns c0, c1, ...
    names: list[str]  # the header, lower-cased
    rows: int
    path: Path
    delimiter: str


def _header(path: Path) -> tuple[list[str], str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = f.readline()
    delimiter = "\t" if "\t" in first and "," not in first else ","
    names = next(csv.reader([first], delimiter=delimiter, quotechar='"'), [])
    return [n.strip().lower() for n in names], delimiter


def stage_csv(conn: duckdb.DuckDBPyConnection, path: Path, report: OmopReport) -> _Staged | None:
    """The file in a staging table of text columns, or None when its header or lines are refused
    (the refusals are added to ``report``)."""
    try:
        names, delimiter = _header(path)
    except UnicodeDecodeError:
        _refuse(report, Refusal(path.name, 1, "", None, "is not UTF-8"))
        return None
    if not names or names == [""]:
        return _Staged("", [], 0, path, ",")  # an empty file: no header, no rows
    bad = [n for n in names if not n.replace("_", "a").isalnum()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if bad or dupes:
        why = "; ".join(
            [f"{n!r} is not a column name" for n in bad] + [f"{n!r} twice" for n in dupes]
        )
        _refuse(report, Refusal(path.name, 1, "", None, f"header refused: {why}"))
        return None
    table = f"causeway_omop_staging_{uuid.uuid4().hex[:12]}"
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names))) + "}"
    suffix = uuid.uuid4().hex[:12]
    rejects, scans = f"causeway_rejects_{suffix}", f"causeway_scans_{suffix}"
    try:
        conn.execute(
            f"CREATE TABLE {ident(table)} AS SELECT * FROM read_csv({_literal(str(path))}, "
            f"delim={_literal(delimiter)}, quote='\"', escape='\"', header=false, skip=1, "
            f"auto_detect=false, columns={columns}, strict_mode=true, null_padding=false, "
            f"store_rejects=true, rejects_table={_literal(rejects)}, "
            f"rejects_scan={_literal(scans)})"
        )
        found = conn.execute(
            f"SELECT line, error_type::VARCHAR FROM {rejects} ORDER BY line"
        ).fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _refuse(report, Refusal(path.name, None, "", None, f"cannot be read as CSV: {first}"))
        return None
    finally:
        with suppress(duckdb.Error):
            conn.execute(f"DROP TABLE IF EXISTS {rejects}")
            conn.execute(f"DROP TABLE IF EXISTS {scans}")
    for line, kind in found:
        reason = {
            "MISSING COLUMNS": f"has fewer fields than the header's {len(names)}",
            "TOO MANY COLUMNS": f"has more fields than the header's {len(names)}",
            "INVALID ENCODING": "is not UTF-8",
        }.get(str(kind), f"cannot be read ({str(kind).lower()})")
        _refuse(report, Refusal(path.name, int(line), "", None, reason))
    row = conn.execute(f"SELECT count(*) FROM {ident(table)}").fetchone()
    return _Staged(table, names, int(row[0]) if row else 0, path, delimiter)


def _refuse(report: OmopReport, refusal: Refusal, total: int = 1) -> None:
    report.refused.append(refusal)
    report.refused_total += total


def _value(column: str) -> str:
    return f"NULLIF(trim({column}), '')"


def _typed(v: str, kind: CdmType) -> tuple[str, str | None]:
    """(typed SQL of the text value ``v``, the reason a present value is refused)."""
    if kind is CdmType.INTEGER:
        return (
            f"(CASE WHEN regexp_full_match({v}, '-?[0-9]{{1,18}}') THEN CAST({v} AS BIGINT) END)",
            "is not an integer",
        )
    if kind is CdmType.FLOAT:
        raw = f"TRY_CAST({v} AS DOUBLE)"
        return f"(CASE WHEN isfinite({raw}) THEN {raw} END)", "is not a number"
    if kind is CdmType.DATE:
        return (
            f"(CASE WHEN regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            f"THEN TRY_CAST({v} AS DATE) WHEN regexp_full_match({v}, '[0-9]{{8}}') "
            f"THEN CAST(TRY_STRPTIME({v}, '%Y%m%d') AS DATE) END)",
            "is not a date (YYYY-MM-DD or YYYYMMDD)",
        )
    if kind is CdmType.DATETIME:
        return (
            f"(CASE WHEN regexp_matches({v}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            f"THEN TRY_CAST({v} AS TIMESTAMP) END)",
            "is not a date-time (YYYY-MM-DD HH:MM:SS)",
        )
    return v, None


def check_and_type(
    conn: duckdb.DuckDBPyConnection, spec: CdmTable, staged: _Staged, report: OmopReport
) -> str | None:
    """The staged file checked against the table's spec; its typed table, or None if refused."""
    renamed = [n for n in staged.names if n in V53_NAMES and V53_NAMES[n] not in staged.names]
    if renamed:
        staged.names = [V53_NAMES[n] if n in renamed else n for n in staged.names]
        report.notes.append(
            f"{staged.path.name}: CDM v5.3 column(s) read under their v5.4 names: "
            + ", ".join(f"{n} as {V53_NAMES[n]}" for n in renamed)
        )
    missing = [c.name for c in spec.columns if c.required and c.name not in staged.names]
    if missing:
        _refuse(
            report,
            Refusal(
                staged.path.name,
                1,
                "",
                None,
                f"header lacks the required CDM column(s) {', '.join(missing)}",
            ),
        )
        return None
    position = {n: i for i, n in enumerate(staged.names)}
    selects, checks = [], []
    for column in spec.columns:
        if column.name not in position:
            selects.append(f"CAST(NULL AS {column.type.sql}) AS {ident(column.name)}")
            continue
        v = _value(f"c{position[column.name]}")
        typed, why = _typed(v, column.type)
        selects.append(f"{typed} AS {ident(column.name)}")
        if column.required:
            checks.append((column.name, f"{v} IS NULL", "is required but empty"))
        if why:
            checks.append((column.name, f"{v} IS NOT NULL AND {typed} IS NULL", why))
    extra = [n for n in staged.names if spec.column(n) is None]
    selects += [f"{_value(f'c{position[n]}')} AS {ident(n)}" for n in extra]
    if extra:
        report.notes.append(
            f"{staged.path.name}: column(s) not in CDM v5.4 kept as text: {', '.join(extra)}"
        )
    key = ", ".join(
        _typed(_value(f"c{position[k]}"), spec.column(k).type)[0]  # type: ignore[union-attr]
        for k in spec.primary_key
    )
    repeated = (
        f"count(*) OVER (PARTITION BY {key}) > 1 AND "
        f"row_number() OVER (PARTITION BY {key} ORDER BY rowid) > 1"
    )
    if spec.strict_key:
        checks.append(
            ("+".join(spec.primary_key), repeated, "repeats the primary key of an earlier line")
        )
    else:
        _repeated_keys(conn, spec, staged, repeated, report)
    if not _refusals(conn, staged, checks, report):
        return None
    typed_table = f"causeway_omop_typed_{uuid.uuid4().hex[:12]}"
    conn.execute(
        f"CREATE TABLE {ident(typed_table)} AS SELECT {', '.join(selects)} "
        f"FROM {ident(staged.table)} ORDER BY rowid"
    )
    return typed_table


def _repeated_keys(
    conn: duckdb.DuckDBPyConnection,
    spec: CdmTable,
    staged: _Staged,
    repeated: str,
    report: OmopReport,
) -> None:
    row = conn.execute(
        f"SELECT count(*), min(r) FROM (SELECT rowid AS r, ({repeated}) AS dup "
        f"FROM {ident(staged.table)}) WHERE dup"
    ).fetchone()
    if row and row[0]:
        line = _lines(staged, [int(row[1])]).get(int(row[1]))
        report.warnings.append(
            f"{staged.path.name}: {int(row[0]):,} row(s) repeat the primary key "
            f"({', '.join(spec.primary_key)}) of an earlier row, the first at line {line:,} "
            "(kept)"
        )


def _refusals(
    conn: duckdb.DuckDBPyConnection,
    staged: _Staged,
    checks: Sequence[tuple[str, str, str]],
    report: OmopReport,
) -> bool:
    """Count the refused values of one file (one pass) and list the first ones by line; True
    when none is refused."""
    flags = ", ".join(f"({cond}) AS f{k}" for k, (_c, cond, _w) in enumerate(checks))
    flagged = f"(SELECT rowid AS r, * , {flags} FROM {ident(staged.table)})"
    counts = ", ".join(f"count(*) FILTER (WHERE f{k})" for k in range(len(checks)))
    row = conn.execute(f"SELECT {counts} FROM {flagged}").fetchone()
    total = sum(int(x) for x in row) if row else 0
    if not total:
        return True
    position = {n: i for i, n in enumerate(staged.names)}
    union = " UNION ALL ".join(
        f"SELECT r, {k} AS k, {_value(f'c{position[c]}') if c in position else 'NULL'} AS val "
        f"FROM {flagged} WHERE f{k}"
        for k, (c, _cond, _w) in enumerate(checks)
    )
    found = conn.execute(f"SELECT r, k, val FROM ({union}) ORDER BY r, k LIMIT {SHOWN}").fetchall()
    lines = _lines(staged, [int(r[0]) for r in found])
    for r, k, val in found:
        column, _cond, why = checks[int(k)]
        report.refused.append(
            Refusal(
                staged.path.name, lines.get(int(r)), column, None if val is None else str(val), why
            )
        )
    report.refused_total += total
    return False


def _lines(staged: _Staged, records: list[int]) -> dict[int, int]:
    """The line each record (0-based, in file order) starts on: a pass with Python's reader up to
    the last record asked for (a quoted field may span lines)."""
    wanted = set(records)
    out: dict[int, int] = {}
    if not wanted:
        return out
    width = len(staged.names)
    with open(staged.path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=staged.delimiter, quotechar='"')
        next(reader, None)
        record, start = -1, reader.line_num + 1
        for fields in reader:
            if fields and len(fields) == width:
                record += 1
                if record in wanted:
                    out[record] = start
                if record >= max(wanted):
                    break
            start = reader.line_num + 1
    return out
