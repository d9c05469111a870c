"""Ingestion: a CSV or Parquet file into the node's store, streamed through DuckDB, all or nothing.

The file is read by DuckDB (``read_csv`` with explicit options, or ``read_parquet``) into a staging
table of text columns in the node's own database, never through pandas. Types are inferred or
enforced there with SQL (``TRY_CAST``, ``TRY_STRPTIME``), every refused value is found with its line,
and only a file with nothing refused replaces the dataset, in one transaction. A CSV with its
dictionary is first read by the fast path (:mod:`causeway.node.typed_csv`: the same rules applied
while DuckDB parses it, straight into typed columns); the text path reads it only when the fast
path stops at something, and reports it. What the options do
not say is detected where the file leaves no doubt (the delimiter, a date column's format, ISO
dates) and refused with a message naming the ambiguity otherwise: nothing is guessed silently.

Without a dictionary nothing is stored: the inferred dictionary is written beside the data
(``<data-dir>/dictionaries/<dataset>.json``) for the steward to review and pass back with
``dictionary=``.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from causeway.model.catalog import DatasetMetadata, check_dataset_name
from causeway.model.dictionary import (
    MAX_INFERRED_LEVELS,
    Column,
    ColumnType,
    Dictionary,
    widen,
)
from causeway.model.errors import Conflict, DataError, NotFound
from causeway.model.levels import Level
from causeway.model.quality import QualityConfig, QualityReport
from causeway.node import quality as assessment
from causeway.node import readers

if TYPE_CHECKING:
    from causeway.node.store import DatasetInfo, NodeStore

DEFAULT_MISSING = ("", "NA")
DEFAULT_TRUE = ("true", "yes", "1")
DEFAULT_FALSE = ("false", "no", "0")
SHOWN = 10  # refused values listed; the total is always given
ISO = "%Y-%m-%d"
# Day-first and month-first readings of the same separators: a column that both read entirely is
# ambiguous. Year-first with slashes has no rival reading.
_DATE_PAIRS = (("%d/%m/%Y", "%m/%d/%Y"), ("%d.%m.%Y", "%m.%d.%Y"), ("%d-%m-%Y", "%m-%d-%Y"))
_OTHER_DATES = ("%Y/%m/%d",)
# A column is typed as numbers (or dates) when this share of its values are; the rest are refused
# by line (a typo among numbers is an error to fix, not a reason to store the column as text).
TYPED_SHARE = 0.9
_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_BYTES = 1 << 16
_CHUNK = 1 << 20
# DuckDB's memory while a file is ingested; beyond it, sorts and tables spill to disk.
MEMORY_LIMIT = "400MB"
_ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "cp1252": "cp1252",
    "windows-1252": "cp1252",
    "utf-16": "utf-16",
    "utf16": "utf-16",
    "gb18030": "gb18030",
}
FORMATS = ("csv", "parquet", *readers.FORMATS)
_STAGES = (
    "transcoding",
    "reading",
    "typing",
    "checking",
    "fingerprinting",
    "assessing",
    "storing",
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class IngestOptions:
    """How to read the file. ``None`` means: detect it, and refuse if the file leaves a doubt."""

    format: str | None = None  # one of FORMATS; by the file's suffix if None
    encoding: str = "utf-8"
    delimiter: str | None = None
    decimal: str = "."
    date_format: str | None = None  # strptime, e.g. "%d/%m/%Y"; ISO dates need none
    missing: tuple[str, ...] = DEFAULT_MISSING  # an empty field is always missing
    true_words: tuple[str, ...] = DEFAULT_TRUE  # compared case-insensitively
    false_words: tuple[str, ...] = DEFAULT_FALSE
    header: bool = True
    allow_empty: bool = False
    sheet: str | None = None  # an Excel workbook's sheet (needed when it holds several)

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise DataError(f"format {self.format!r}: use {', '.join(FORMATS)}")
        if self.encoding.lower() not in _ENCODINGS:
            raise DataError(
                f"encoding {self.encoding!r} is not supported; use one of "
                "utf-8, latin-1 (iso-8859-1), cp1252, utf-16, gb18030"
            )
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise DataError(f"the delimiter must be one character, not {self.delimiter!r}")
        if self.decimal not in (".", ","):
            raise DataError(f"the decimal mark must be '.' or ',', not {self.decimal!r}")
        if self.decimal == "," and self.delimiter == ",":
            raise DataError("a ',' decimal mark needs another delimiter (e.g. --delimiter ';')")
        trues = {w.lower() for w in self.true_words}
        falses = {w.lower() for w in self.false_words}
        if not trues or not falses or trues & falses:
            raise DataError("the true and false words must be given and must not overlap")
        if self.date_format is not None and "%" not in self.date_format:
            raise DataError(f"date format {self.date_format!r} is not a strptime format")

    @property
    def codec(self) -> str:
        return _ENCODINGS[self.encoding.lower()]


@dataclass(frozen=True)
class Refusal:
    """One refused value (or line): where it is, and why."""

    file: str
    line: int | None
    column: str
    value: str | None
    reason: str
    unit: str = "line"  # "row" for Parquet

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file} {self.unit} {self.line:,}"
        if self.column:
            where += f", column {self.column}"
        if self.value is None:
            return f"{where}: {self.reason}"
        return f"{where}: {self.value!r} {self.reason}"


@dataclass
class IngestReport:
    """What an ingestion (or a dry run, or a refusal) found and did."""

    dataset: str
    file: str
    rows: int = 0
    dictionary: Dictionary | None = None
    date_formats: dict[str, str] = field(default_factory=dict)
    refused: list[Refusal] = field(default_factory=list)
    refused_total: int = 0
    notes: list[str] = field(default_factory=list)
    inferred: bool = False
    stored: bool = False
    unchanged: bool = False
    dry_run: bool = False
    fingerprint: str = ""
    dictionary_path: Path | None = None
    quality: QualityReport | None = None  # the quality report of the rows stored

    def refusal_text(self) -> str:
        lines = [str(r) for r in self.refused]
        if self.refused_total > len(self.refused):
            lines.append(
                f"… and {self.refused_total - len(self.refused):,} more "
                f"({self.refused_total:,} refused in all)"
            )
        return "\n".join(lines)


class IngestRefused(DataError):
    """A file refused by ingestion; ``report`` holds every refusal found (the first ten)."""

    def __init__(self, headline: str, report: IngestReport) -> None:
        details = report.refusal_text()
        super().__init__(headline + ("\n" + details if details else ""))
        self.report = report


# -- reading -----------------------------------------------------------------------------------


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class _Staged:
    table: str
    names: list[str]  # the file's column names, in order; the staging columns are c0, c1, ...
    rows: int
    structural: list[Refusal]  # ragged rows, bad quoting: by line
    structural_total: int
    source: Path  # the UTF-8 text DuckDB read (CSV), to map records to lines
    delimiter: str = ","
    unit: str = "line"
    skip_header: bool = True
    # typed files (Excel, SAS, Stata): each record's row in the file is in readers.LINE, value
    # labels give levels, and date-typed columns are dates whatever their values
    lined: bool = False
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dates: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def _format_of(path: Path, options: IngestOptions) -> str:
    if options.format:
        return options.format
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    typed = readers.format_of(path)
    if typed is not None:
        return typed
    if suffix == ".xls":
        raise DataError(f"{path.name}: an .xls (Excel 97) workbook; save it as .xlsx")
    raise DataError(f"{path}: pass --format ({', '.join(FORMATS)}); the suffix does not say")


@contextmanager
def _utf8_source(
    path: Path, options: IngestOptions, workdir: Path, progress: Progress | None
) -> Iterator[Path]:
    """The file as UTF-8: itself, or a copy transcoded in chunks (never all in memory)."""
    if options.codec == "utf-8":
        yield path
        return
    if progress:
        progress("transcoding")
    fd, name = tempfile.mkstemp(prefix="causeway-ingest-", suffix=".csv", dir=workdir)
    target = Path(name)
    try:
        decoder = codecs.getincrementaldecoder(options.codec)(errors="strict")
        line = 1
        with open(path, "rb") as src, os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            while True:
                chunk = src.read(_CHUNK)
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    good = chunk[: exc.start].decode(options.codec, errors="replace")
                    raise DataError(
                        f"{path.name} line {line + good.count(chr(10)):,}: not valid "
                        f"{options.encoding} (byte 0x{chunk[exc.start]:02x}); pass the file's "
                        "encoding with --encoding"
                    ) from None
                line += text.count("\n")
                out.write(text)
                if not chunk:
                    break
        yield target
    finally:
        target.unlink(missing_ok=True)


def _sniff_lines(source: Path) -> list[str]:
    with open(source, "rb") as f:
        head = f.read(_SNIFF_BYTES)
        at_end = not f.read(1)
    text = head.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    if not at_end and lines:
        lines = lines[:-1]  # the last line may be cut
    return lines


def _fields(lines: Sequence[str], delimiter: str) -> list[int]:
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter, quotechar='"')
    return [len(r) for r in reader if r]


def _delimiter(path: Path, lines: Sequence[str], options: IngestOptions) -> str:
    """The delimiter given, or the one candidate that splits the header and nearly every sampled
    line alike; refused when none or several do, or when the one given leaves a single column
    that another would split."""
    shares: dict[str, float] = {}
    for d in _DELIMITERS:
        if options.decimal == "," and d == ",":
            continue
        counts = _fields(lines, d)
        if counts and counts[0] > 1:
            share = sum(c == counts[0] for c in counts) / len(counts)
            if share >= 0.5:  # ragged rows are refused later, by line
                shares[d] = share
    top = max(shares.values(), default=0.0)
    viable = [d for d, share in shares.items() if share == top]
    if options.delimiter is not None:
        chosen = options.delimiter
        counts = _fields(lines[:1], chosen)
        others = [d for d in shares if d != chosen]
        if counts and counts[0] == 1 and others:
            raise DataError(
                f"{path.name}: the header is one column with --delimiter {chosen!r}; the "
                f"delimiter looks like {others[0]!r} — pass --delimiter {others[0]!r}"
            )
        return chosen
    if len(viable) == 1:
        return viable[0]
    if not viable:
        if all(c == 1 for c in _fields(lines, ",")):
            return ","  # one column
        raise DataError(
            f"{path.name}: cannot tell the delimiter (no candidate among , ; tab | splits the "
            "lines alike); pass --delimiter"
        )
    shown = " and ".join(repr(d) for d in viable)
    raise DataError(
        f"{path.name}: the delimiter is ambiguous: {shown} both split every line alike; "
        "pass --delimiter"
    )


def _check_names(path: Path, names: list[str]) -> list[str]:
    names = [n.strip() for n in names]
    problems = []
    for i, name in enumerate(names, 1):
        if not name:
            problems.append(f"column {i} has no name")
        elif not name.replace("_", "a").isalnum():
            problems.append(f"{name!r} (use letters, digits and underscores)")
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    problems += [f"{n!r} appears twice" for n in dupes]
    if problems:
        raise DataError(f"{path.name}: column names refused: {'; '.join(problems)}")
    return names


def _stage_csv(
    conn: duckdb.DuckDBPyConnection, path: Path, source: Path, options: IngestOptions, table: str
) -> _Staged:
    lines = _sniff_lines(source)
    if not lines:
        raise DataError(f"{path.name} is empty: not even a header")
    delimiter = _delimiter(path, lines, options)
    first = next(csv.reader([lines[0]], delimiter=delimiter, quotechar='"'), [])
    if options.header:
        names = _check_names(path, first)
    else:
        names = [f"column_{i}" for i in range(1, len(first) + 1)]
    columns = "{" + ", ".join(f"{_literal(f'c{i}')}: 'VARCHAR'" for i in range(len(names))) + "}"
    suffix = uuid.uuid4().hex[:12]
    rejects, scans = f"causeway_rejects_{suffix}", f"causeway_scans_{suffix}"
    try:
        conn.execute(
            f"CREATE TABLE {_ident(table)} AS SELECT * FROM read_csv({_literal(str(source))}, "
            f"delim={_literal(delimiter)}, quote='\"', escape='\"', header=false, "
            f"skip={1 if options.header else 0}, auto_detect=false, columns={columns}, "
            "strict_mode=true, null_padding=false, store_rejects=true, "
            f"rejects_table={_literal(rejects)}, rejects_scan={_literal(scans)})"
        )
        found = conn.execute(
            f"SELECT line, line_byte_position, error_type::VARCHAR, csv_line FROM {rejects} "
            "ORDER BY line"
        ).fetchall()
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {path.name} as CSV: {first_line}") from None
    finally:
        with suppress(duckdb.Error):
            conn.execute(f"DROP TABLE IF EXISTS {rejects}")
            conn.execute(f"DROP TABLE IF EXISTS {scans}")
    bad_encoding = [r for r in found if r[2] == "INVALID ENCODING"]
    if bad_encoding:
        line, position = int(bad_encoding[0][0]), int(bad_encoding[0][1] or 0)
        raise DataError(
            f"{path.name} line {line:,}: not valid UTF-8 ({_bad_byte(source, position)}); "
            "pass --encoding latin-1 (or the file's encoding: cp1252, utf-16, gb18030)"
        )
    structural = []
    for line, _pos, kind, text in found:
        if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
            got = next(csv.reader([text or ""], delimiter=delimiter, quotechar='"'), [])
            reason = f"has {len(got)} fields where the header has {len(names)}"
        elif kind == "UNQUOTED VALUE":
            reason = "has a quote inside an unquoted field"
        elif kind == "LINE SIZE OVER MAXIMUM":
            reason = "is too long (over 2 MB)"
        else:
            reason = f"cannot be read ({kind.lower()})"
        structural.append(Refusal(path.name, int(line), "", None, reason))
    rows = conn.execute(f"SELECT count(*) FROM {_ident(table)}").fetchone()
    return _Staged(
        table,
        names,
        int(rows[0]) if rows else 0,
        structural[:SHOWN],
        len(structural),
        source,
        delimiter,
    )


def _bad_byte(source: Path, position: int) -> str:
    with open(source, "rb") as f:
        f.seek(position)
        chunk = f.read(_CHUNK)
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the first bad byte is 0x{chunk[exc.start]:02x}"
    return "a byte that is not UTF-8"


def _stage_parquet(conn: duckdb.DuckDBPyConnection, path: Path, table: str) -> _Staged:
    source = f"read_parquet({_literal(str(path))})"
    try:
        described = conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        names = _check_names(path, [str(r[0]) for r in described])
        selects = []
        for i, (name, kind, *_rest) in enumerate(described):
            c, kind = _ident(str(name)), str(kind).upper()
            if kind in ("FLOAT", "DOUBLE") or kind.startswith("DECIMAL"):
                text = (
                    f"CASE WHEN isfinite({c}) AND {c} = floor({c}) AND abs({c}) < 1e15 "
                    f"THEN CAST(CAST({c} AS BIGINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END"
                )
            elif kind.startswith("TIMESTAMP"):
                text = (
                    f"CASE WHEN CAST({c} AS TIME) = TIME '00:00:00' "
                    f"THEN CAST(CAST({c} AS DATE) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END"
                )
            else:
                text = f"CAST({c} AS VARCHAR)"
            selects.append(f"{text} AS c{i}")
        conn.execute(f"CREATE TABLE {_ident(table)} AS SELECT {', '.join(selects)} FROM {source}")
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot read {path.name} as Parquet (truncated or not Parquet?): {first_line}"
        ) from None
    rows = conn.execute(f"SELECT count(*) FROM {_ident(table)}").fetchone()
    return _Staged(table, names, int(rows[0]) if rows else 0, [], 0, path, unit="row")


def _stage_typed(
    conn: duckdb.DuckDBPyConnection, path: Path, fmt: str, options: IngestOptions, table: str
) -> _Staged:
    if options.date_format is not None:
        raise DataError(
            f"{path.name}: --date-format is for CSV; this file's dates are typed by the file"
        )
    read = readers.stage(
        conn, path, fmt, table, sheet=options.sheet, check_names=lambda n: _check_names(path, n)
    )
    return _Staged(
        table,
        read.names,
        read.rows,
        [Refusal(path.name, row, "", None, why, read.unit) for row, why in read.problems],
        read.problems_total,
        path,
        unit=read.unit,
        lined=True,
        levels=read.levels,
        dates=read.dates,
        notes=read.notes,
    )


# -- typing ------------------------------------------------------------------------------------


def _clean(column: str, options: IngestOptions) -> str:
    """The field trimmed, NULL for a missing marker."""
    markers = ", ".join(_literal(m.strip()) for m in {"", *options.missing})
    return f"(CASE WHEN trim({column}) IN ({markers}) THEN NULL ELSE trim({column}) END)"


def _number(v: str, options: IngestOptions) -> str:
    text = (
        v
        if options.decimal == "."
        else f"(CASE WHEN {v} LIKE '%.%' THEN NULL ELSE replace({v}, ',', '.') END)"
    )
    raw = f"TRY_CAST({text} AS DOUBLE)"
    return f"(CASE WHEN isfinite({raw}) THEN {raw} END)"


def _whole(num: str) -> str:
    return f"(CASE WHEN {num} = floor({num}) AND abs({num}) < 9007199254740992 THEN {num} END)"


def _boolean(v: str, options: IngestOptions) -> str:
    trues = ", ".join(_literal(w.lower()) for w in options.true_words)
    falses = ", ".join(_literal(w.lower()) for w in options.false_words)
    return f"(CASE WHEN lower({v}) IN ({trues}) THEN true WHEN lower({v}) IN ({falses}) THEN false END)"


def _date(v: str, fmt: str) -> str:
    if fmt == ISO:
        return f"(CASE WHEN regexp_full_match({v}, '\\d{{4}}-\\d{{2}}-\\d{{2}}') THEN TRY_CAST({v} AS DATE) END)"
    return f"CAST(TRY_STRPTIME({v}, {_literal(fmt)}) AS DATE)"


def _date_candidates(options: IngestOptions, *, iso_only: bool = False) -> list[str]:
    if options.date_format:
        return [options.date_format]
    if iso_only:
        return [ISO]
    return [ISO, *(f for pair in _DATE_PAIRS for f in pair), *_OTHER_DATES]


def _rival(fmt: str) -> str | None:
    for a, b in _DATE_PAIRS:
        if fmt == a:
            return b
        if fmt == b:
            return a
    return None


@dataclass
class _Profile:
    present: int
    numbers: int
    wholes: int
    booleans: int
    lo: float | None
    hi: float | None
    distinct: int
    dates: dict[str, int]
    only: dict[str, str | None]  # per format: a value only it reads (rules out the rival)
    sample: str | None


def _profiles(
    conn: duckdb.DuckDBPyConnection,
    staged: _Staged,
    options: IngestOptions,
    which: Sequence[int],
    *,
    iso_only: bool = False,
) -> dict[int, _Profile]:
    """One pass over the staging table: per column, how many values read as what (``iso_only``:
    of the date formats, ISO alone)."""
    formats = _date_candidates(options, iso_only=iso_only)
    parts: list[str] = []
    for i in which:
        v = _clean(f"c{i}", options)
        num = _number(v, options)
        parts += [
            f"count({v})",
            f"count({num})",
            f"count({_whole(num)})",
            f"count({_boolean(v, options)})",
            f"min({num})",
            f"max({num})",
            f"count(DISTINCT {v})",
            f"min({v})",
        ]
        for fmt in formats:
            parts.append(f"count({_date(v, fmt)})")
            rival = _rival(fmt)
            if rival:
                parts.append(
                    f"min({v}) FILTER (WHERE {_date(v, fmt)} IS NOT NULL "
                    f"AND {_date(v, rival)} IS NULL)"
                )
            else:
                parts.append("NULL")
    if not parts:
        return {}
    row = conn.execute(f"SELECT {', '.join(parts)} FROM {_ident(staged.table)}").fetchone()
    assert row is not None
    out: dict[int, _Profile] = {}
    width = 8 + 2 * len(formats)
    for k, i in enumerate(which):
        r = row[k * width : (k + 1) * width]
        dates = {fmt: int(r[8 + 2 * j]) for j, fmt in enumerate(formats)}
        only = {fmt: r[9 + 2 * j] for j, fmt in enumerate(formats)}
        out[i] = _Profile(
            int(r[0]),
            int(r[1]),
            int(r[2]),
            int(r[3]),
            None if r[4] is None else float(r[4]),
            None if r[5] is None else float(r[5]),
            int(r[6]),
            dates,
            only,
            None if r[7] is None else str(r[7]),
        )
    return out


def _date_format(
    name: str, p: _Profile, options: IngestOptions, *, required: bool
) -> tuple[str | None, str | None, str | None]:
    """(format, note, ambiguity) for a column's dates. ``required``: the column is a date column
    (by its dictionary), so a format must be settled; otherwise ``None`` means "not dates"."""
    if options.date_format:
        fmt = options.date_format
        if required or (p.present and p.dates[fmt] >= TYPED_SHARE * p.present):
            return fmt, None, None
        return None, None, None
    if not p.present:
        return ISO, None, None
    best = max(p.dates, key=lambda f: p.dates[f])
    if p.dates[best] < TYPED_SHARE * p.present and not required:
        return None, None, None
    if p.dates[best] == 0:
        return ISO, None, None  # every value refused as "not a date in %Y-%m-%d"
    rival = _rival(best)
    if rival and p.dates[rival] == p.dates[best]:
        example = p.sample
        return (
            None,
            None,
            f"column {name}: its dates read both day first ({_pair(best)[0]}) and month first "
            f"({_pair(best)[1]})" + (f", e.g. {example!r}" if example else "") + "; pass "
            f"--date-format '{_pair(best)[0]}' or --date-format '{_pair(best)[1]}'",
        )
    note = None
    if rival:
        example = p.only.get(best)
        note = f"column {name}: dates read as {best}" + (
            f" ({example!r} rules out {rival})" if example else ""
        )
    return best, note, None


def _pair(fmt: str) -> tuple[str, str]:
    for a, b in _DATE_PAIRS:
        if fmt in (a, b):
            return a, b
    return fmt, fmt


def _infer(
    conn: duckdb.DuckDBPyConnection,
    staged: _Staged,
    options: IngestOptions,
    report: IngestReport,
) -> Dictionary:
    """A dictionary from the staged values, refusing what they leave ambiguous."""
    # a typed file's dates are typed, staged in ISO: text in them is never read as a date
    profiles = _profiles(conn, staged, options, range(len(staged.names)), iso_only=staged.lined)
    columns: list[Column] = []
    ambiguous: list[str] = []
    for i, name in enumerate(staged.names):
        p = profiles[i]
        if name in staged.levels:  # value labels (Stata, SAS): the levels, every one
            columns.append(Column(name, ColumnType.CATEGORICAL, levels=staged.levels[name]))
            continue
        if name in staged.dates:  # a date format in the file: dates, staged in ISO
            report.date_formats[name] = ISO
            columns.append(Column(name, ColumnType.DATE))
            continue
        if not p.present:
            columns.append(Column(name, ColumnType.TEXT))
            report.notes.append(f"column {name}: no values; typed text")
            continue
        if p.numbers >= TYPED_SHARE * p.present and p.numbers:
            whole = p.wholes == p.numbers
            assert p.lo is not None and p.hi is not None
            lo, hi = widen(p.lo, p.hi, whole=whole)
            kind = ColumnType.INTEGER if whole else ColumnType.NUMERIC
            columns.append(Column(name, kind, minimum=float(lo), maximum=float(hi)))
            continue
        if p.booleans == p.present:
            columns.append(Column(name, ColumnType.BOOLEAN))
            continue
        fmt, note, ambiguity = _date_format(name, p, options, required=False)
        if ambiguity:
            ambiguous.append(ambiguity)
            continue
        if fmt is not None:
            report.date_formats[name] = fmt
            if note:
                report.notes.append(note)
            columns.append(Column(name, ColumnType.DATE))
            continue
        if p.distinct <= MAX_INFERRED_LEVELS:
            levels = conn.execute(
                f"SELECT DISTINCT {_clean(f'c{i}', options)} AS v FROM {_ident(staged.table)} "
                "WHERE v IS NOT NULL ORDER BY v"
            ).fetchall()
            columns.append(
                Column(name, ColumnType.CATEGORICAL, levels=tuple(str(r[0]) for r in levels))
            )
            continue
        columns.append(Column(name, ColumnType.TEXT))
    if ambiguous:
        raise IngestRefused(
            f"{report.file}: ambiguous, refused rather than guessed:\n" + "\n".join(ambiguous),
            report,
        )
    return Dictionary(tuple(columns))


def _conversions(
    staged: _Staged,
    dictionary: Dictionary,
    options: IngestOptions,
    formats: Mapping[str, str],
) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Per dictionary column: the typed SQL expression, and (condition, reason) refusals."""
    out = []
    position = {name: i for i, name in enumerate(staged.names)}
    for column in dictionary.columns:
        v = _clean(f"c{position[column.name]}", options)
        checks: list[tuple[str, str]] = []
        kind = column.type
        if kind.is_numeric:
            num = _number(v, options)
            how = " (decimal mark ',')" if options.decimal == "," else ""
            checks.append((f"{v} IS NOT NULL AND {num} IS NULL", f"is not a number{how}"))
            if kind is ColumnType.INTEGER:
                checks.append((f"{_whole(num)} IS NULL", "is not a whole number"))
                typed = f"CAST({_whole(num)} AS BIGINT)"
            else:
                typed = num
            if column.minimum is not None or column.maximum is not None:
                low = f"{num} < {column.minimum!r}" if column.minimum is not None else "false"
                high = f"{num} > {column.maximum!r}" if column.maximum is not None else "false"
                checks.append(
                    (
                        f"{low} OR {high}",
                        f"is outside the bounds [{column.minimum}, {column.maximum}]",
                    )
                )
        elif kind is ColumnType.BOOLEAN:
            typed = _boolean(v, options)
            words = f"{', '.join(options.true_words)} / {', '.join(options.false_words)}"
            checks.append((f"{v} IS NOT NULL AND {typed} IS NULL", f"is not one of {words}"))
        elif kind is ColumnType.DATE:
            fmt = formats[column.name]
            typed = _date(v, fmt)
            checks.append((f"{v} IS NOT NULL AND {typed} IS NULL", f"is not a date in {fmt}"))
        else:
            typed = v
            if kind is ColumnType.CATEGORICAL and column.levels is not None:
                levels = ", ".join(_literal(level) for level in column.levels)
                checks.append(
                    (
                        f"{v} IS NOT NULL AND {v} NOT IN ({levels})",
                        f"is not one of its levels ({', '.join(column.levels)})",
                    )
                )
        out.append((column.name, typed, checks))
    return out


def _reason_sql(present: str, checks: list[tuple[str, str]]) -> str:
    whens = " ".join(f"WHEN {cond} THEN {_literal(why)}" for cond, why in checks)
    return f"(CASE WHEN {present} IS NULL THEN NULL {whens} END)" if checks else "NULL"


def _refusals(
    conn: duckdb.DuckDBPyConnection,
    staged: _Staged,
    conversions: list[tuple[str, str, list[tuple[str, str]]]],
    report: IngestReport,
    options: IngestOptions,
) -> None:
    """Count the refused values (one pass); list the first ten with their lines."""
    position = {name: i for i, name in enumerate(staged.names)}
    checked = [
        (n, _reason_sql(_clean(f"c{position[n]}", options), c)) for n, _t, c in conversions if c
    ]
    if not checked:
        return
    counts = ", ".join(f"count({why})" for _n, why in checked)
    row = conn.execute(f"SELECT {counts} FROM {_ident(staged.table)}").fetchone()
    total = sum(int(x) for x in row) if row else 0
    if not total:
        return
    line = readers.LINE if staged.lined else "NULL"
    union = " UNION ALL ".join(
        f"SELECT rowid AS r, {line} AS line, {k} AS k, {_literal(n)} AS col, c{position[n]} AS val, {why} AS why "
        f"FROM {_ident(staged.table)} WHERE {why} IS NOT NULL"
        for k, (n, why) in enumerate(checked)
    )
    found = conn.execute(
        f"SELECT r, line, col, val, why FROM ({union}) ORDER BY r, k LIMIT {SHOWN}"
    ).fetchall()
    lines = (
        {int(r[0]): int(r[1]) for r in found}
        if staged.lined
        else _lines(staged, [int(r[0]) for r in found])
    )
    report.refused_total += total
    report.refused += [
        Refusal(report.file, lines.get(int(r)), str(col), str(val), str(why), staged.unit)
        for r, _line, col, val, why in found
    ]


def _lines(staged: _Staged, records: list[int]) -> dict[int, int]:
    """The line each staged record (0-based, in file order) starts on. Parquet: the row number.
    CSV: a pass over the file with Python's reader up to the last record asked for (records that
    DuckDB rejected, wrongly sized, are skipped as it skipped them)."""
    if staged.unit == "row":
        return {r: r + 1 for r in records}
    wanted: set[int] = set(records)
    out: dict[int, int] = {}
    if not wanted:
        return out
    last = max(wanted)
    width = len(staged.names)
    with open(staged.source, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=staged.delimiter, quotechar='"')
        first = True
        record = -1
        start = 1
        for fields in reader:
            if first and staged.skip_header:
                first = False
                start = reader.line_num + 1
                continue
            first = False
            if fields and len(fields) == width:
                record += 1
                if record in wanted:
                    out[record] = start
                if record >= last:
                    break
            start = reader.line_num + 1
    return out


# -- the entry points ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Opened:
    """The file to read: its format and, for CSV, its text as UTF-8 (itself or a transcoded copy)."""

    path: Path
    format: str
    text: Path | None


@contextmanager
def _opened(
    path: Path, options: IngestOptions, workdir: Path, progress: Progress | None
) -> Iterator[_Opened]:
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    fmt = _format_of(path, options)
    if fmt in ("parquet", *readers.FORMATS):
        yield _Opened(path, fmt, None)
        return
    with _utf8_source(path, options, workdir, progress) as source:
        yield _Opened(path, fmt, source)


@contextmanager
def _staged(
    conn: duckdb.DuckDBPyConnection,
    opened: _Opened,
    options: IngestOptions,
    progress: Progress | None,
) -> Iterator[_Staged]:
    """The file in a staging table of ``conn`` (dropped on the way out, whatever happens)."""
    path, fmt = opened.path, opened.format
    table = f"causeway_staging_{uuid.uuid4().hex[:12]}"
    if progress:
        progress("reading")
    try:
        if fmt == "parquet":
            yield _stage_parquet(conn, path, table)
        elif fmt in readers.FORMATS:
            yield _stage_typed(conn, path, fmt, options, table)
        else:
            assert opened.text is not None
            staged = _stage_csv(conn, path, opened.text, options, table)
            staged.skip_header = options.header
            yield staged
    finally:
        with suppress(duckdb.Error):
            conn.execute(f"DROP TABLE IF EXISTS {_ident(table)}")


def _validate(
    conn: duckdb.DuckDBPyConnection,
    staged: _Staged,
    options: IngestOptions,
    dictionary: Dictionary | None,
    report: IngestReport,
    progress: Progress | None,
) -> tuple[Dictionary, list[tuple[str, str, list[tuple[str, str]]]]]:
    report.rows = staged.rows
    report.notes += staged.notes
    report.refused += staged.structural
    report.refused_total += staged.structural_total
    if staged.rows == 0 and not staged.structural_total and not options.allow_empty:
        raise IngestRefused(
            f"{report.file} holds a header and no rows; pass --allow-empty to store an empty "
            "dataset",
            report,
        )
    if progress:
        progress("typing")
    if dictionary is None:
        report.inferred = True
        dictionary = _infer(conn, staged, options, report)
    else:
        _match_columns(report.file, staged.names, dictionary)
        dates = [
            staged.names.index(c.name) for c in dictionary.columns if c.type is ColumnType.DATE
        ]
        profiles = _profiles(conn, staged, options, dates, iso_only=True) if dates else {}
        if not staged.lined and any(p.dates.get(ISO, -1) != p.present for p in profiles.values()):
            profiles = _profiles(conn, staged, options, dates)  # not all ISO: every format
        ambiguous = []
        for i in dates:
            name = staged.names[i]
            fmt, note, ambiguity = _date_format(name, profiles[i], options, required=True)
            if ambiguity:
                ambiguous.append(ambiguity)
            elif fmt:
                report.date_formats[name] = fmt
                if note:
                    report.notes.append(note)
        if ambiguous:
            raise IngestRefused(
                f"{report.file}: ambiguous, refused rather than guessed:\n" + "\n".join(ambiguous),
                report,
            )
    report.dictionary = dictionary
    if progress:
        progress("checking")
    conversions = _conversions(staged, dictionary, options, report.date_formats)
    _refusals(conn, staged, conversions, report, options)
    if report.refused_total:
        report.refused.sort(key=lambda r: r.line or 0)
        report.refused = report.refused[:SHOWN]
        raise IngestRefused(
            f"{report.file}: {report.refused_total:,} value(s) or line(s) refused; nothing was "
            "stored",
            report,
        )
    return dictionary, conversions


def _match_columns(file: str, names: list[str], dictionary: Dictionary) -> None:
    missing = [n for n in dictionary.names if n not in names]
    extra = [n for n in names if n not in dictionary]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from the data: {', '.join(missing)}")
        if extra:
            parts.append(f"not in the dictionary: {', '.join(extra)}")
        raise DataError(f"{file} and its dictionary disagree; columns " + "; ".join(parts))


def describe(path: str | Path, options: IngestOptions | None = None) -> IngestReport:
    """Infer a file's dictionary (dates recognised, types, levels, bounds) and check the file
    against it, storing nothing (an in-memory DuckDB does the work)."""
    path = Path(path)
    options = options or IngestOptions()
    report = IngestReport(dataset="", file=path.name, dry_run=True)
    conn = duckdb.connect(":memory:")
    try:
        with (
            _opened(path, options, Path(tempfile.gettempdir()), None) as opened,
            _staged(conn, opened, options, None) as staged,
        ):
            _validate(conn, staged, options, None, report, None)
    finally:
        conn.close()
    return report


def ingest(
    store: NodeStore,
    path: str | Path,
    *,
    dataset: str,
    options: IngestOptions | None = None,
    dictionary: Dictionary | None = None,
    dry_run: bool = False,
    replace: bool = False,
    level: Level | None = None,
    description: str | None = None,
    metadata: DatasetMetadata | None = None,
    review_dir: Path | None = None,
    progress: Progress | None = None,
    quality: QualityConfig | None = None,
) -> IngestReport:
    """Read ``path`` into ``store`` as ``dataset``, all or nothing.

    With ``dictionary`` the file is checked against it and, if nothing is refused, replaces the
    dataset (``replace`` is needed to change an existing dataset; the same rows and dictionary
    again change nothing). Without it a dictionary is inferred and written for review to
    ``review_dir/<dataset>.json`` (default: ``dictionaries/`` beside the store's file); nothing
    is stored until it comes back as ``dictionary``. ``dry_run`` checks and reports only.
    The rows about to be stored get a quality report (``quality``: the steward's thresholds;
    defaults without), kept in ``report.quality``; its summary is stored with the dataset's
    metadata, in the same transaction, and published to the catalog.
    A refused file raises :class:`IngestRefused` (with its report) or :class:`DataError`, and
    leaves every stored dataset as it was.
    """
    check_dataset_name(dataset)
    path = Path(path)
    options = options or IngestOptions()
    report = IngestReport(dataset=dataset, file=path.name, dry_run=dry_run)
    on_disk = store.path != ":memory:"
    workdir = Path(store.path).parent if on_disk else Path(tempfile.gettempdir())
    if review_dir is None and on_disk:
        review_dir = Path(store.path).parent / "dictionaries"
    conn = store._conn
    typed = f"causeway_typed_{uuid.uuid4().hex[:12]}"
    with (
        store._lock,
        memory_bounded(conn),
        _opened(path, options, workdir, progress) as opened,
    ):
        try:
            if not _typed_directly(conn, opened, options, dictionary, typed, report, progress):
                with _staged(conn, opened, options, progress) as staged:
                    dictionary, conversions = _validate(
                        conn, staged, options, dictionary, report, progress
                    )
                    if dry_run:
                        return report
                    if report.inferred:
                        _write_for_review(report, dictionary, review_dir)
                        return report
                    selects = ", ".join(f"{t} AS {_ident(n)}" for n, t, _c in conversions)
                    conn.execute(
                        f"CREATE TABLE {_ident(typed)} AS SELECT {selects} "
                        f"FROM {_ident(staged.table)}"
                    )
            if dry_run:
                return report
            assert dictionary is not None
            _store(
                store,
                typed,
                dictionary,
                report,
                replace,
                progress,
                quality,
                level,
                description,
                metadata,
            )
        finally:
            with suppress(duckdb.Error):
                conn.execute(f"DROP TABLE IF EXISTS {_ident(typed)}")
    return report


def _typed_directly(
    conn: duckdb.DuckDBPyConnection,
    opened: _Opened,
    options: IngestOptions,
    dictionary: Dictionary | None,
    typed: str,
    report: IngestReport,
    progress: Progress | None,
) -> bool:
    """The fast path (:mod:`causeway.node.typed_csv`): a CSV checked against its dictionary
    while DuckDB parses it, straight into ``typed``. False when the text path must read it (it
    then finds and reports whatever the fast path stopped at)."""
    from causeway.node import typed_csv

    if dictionary is None or opened.text is None or not typed_csv.eligible(options):
        return False
    if progress:
        progress("reading")
    fast = typed_csv.read(conn, opened.path, opened.text, options, dictionary, typed)
    if fast is None:
        return False
    report.rows = fast.rows
    report.dictionary = dictionary
    report.date_formats.update(fast.date_formats)
    return True


def _store(
    store: NodeStore,
    typed: str,
    dictionary: Dictionary,
    report: IngestReport,
    replace: bool,
    progress: Progress | None,
    quality: QualityConfig | None,
    level: Level | None,
    description: str | None,
    metadata: DatasetMetadata | None,
) -> None:
    """Fingerprint the typed rows and install them as the dataset, unless they are what it holds
    already (``report.unchanged``)."""
    dataset = report.dataset
    existing = _existing(store, dataset)
    if progress:
        progress("fingerprinting")
    report.fingerprint = store.fingerprint_of(typed, dictionary)
    level = level or (existing.level if existing else Level.L1)
    description = (
        description if description is not None else (existing.description if existing else "")
    )
    metadata = metadata or (existing.metadata if existing else DatasetMetadata())
    if existing is not None and _unchanged(
        store, typed, existing, report, dictionary, level, description, metadata
    ):
        report.unchanged = True
        return
    if existing is not None and not replace:
        where = (
            "is registered from a warehouse (its rows live in PostgreSQL)"
            if store.source(dataset) is not None
            else "exists with other rows or another dictionary"
        )
        raise Conflict(f"dataset {dataset!r} {where}; pass --replace to replace it")
    if progress:
        progress("assessing")
    report.quality = assessment.assess_table(store, _ident(typed), dataset, dictionary, quality)
    metadata = dataclasses.replace(metadata, quality=report.quality.summary())
    if progress:
        progress("storing")
    store.install_table(
        dataset,
        typed,
        dictionary,
        level=level,
        description=description,
        metadata=metadata,
        rows=report.rows,
        fingerprint=report.fingerprint,
    )
    report.stored = True


def _unchanged(
    store: NodeStore,
    typed: str,
    existing: DatasetInfo,
    report: IngestReport,
    dictionary: Dictionary,
    level: Level,
    description: str,
    metadata: DatasetMetadata,
) -> bool:
    """Whether the dataset holds these rows already, as stored here (a warehouse registration of
    the same rows is not this file stored), with the same dictionary and catalog entry. A
    fingerprint recorded under scheme v1 is compared as v1 and kept, so the hub sees no new
    version for the same rows."""
    if (
        existing.level,
        existing.description,
        dataclasses.replace(existing.metadata, quality=None),
    ) != (level, description, dataclasses.replace(metadata, quality=None)):
        return False
    if not store.holds_rows(existing.name, typed, dictionary, report.fingerprint):
        return False
    report.fingerprint = existing.fingerprint  # a v1 fingerprint stays as recorded
    return True


@contextmanager
def memory_bounded(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB held to MEMORY_LIMIT while ingesting (it spills to disk beyond), then as before.
    Its ``in_clause`` optimizer is off meanwhile: it turns a long ``IN`` list (levels, missing
    markers, boolean words) into a join, and a join does not keep rows in file order (a typed
    table's row ids must be the file's row numbers)."""
    row = conn.execute(
        "SELECT current_setting('memory_limit'), current_setting('enable_progress_bar'), "
        "current_setting('disabled_optimizers')"
    ).fetchone()
    conn.execute(f"SET memory_limit = {_literal(MEMORY_LIMIT)}")
    conn.execute("SET enable_progress_bar = false")  # the CLI shows its own
    disabled = {o for o in str(row[2] if row else "").split(",") if o.strip()}
    conn.execute(
        f"SET disabled_optimizers = {_literal(','.join(sorted(disabled | {'in_clause'})))}"
    )
    try:
        yield
    finally:
        if row is not None:
            conn.execute(f"SET memory_limit = {_literal(str(row[0]))}")
            conn.execute(f"SET enable_progress_bar = {'true' if row[1] else 'false'}")
            conn.execute(f"SET disabled_optimizers = {_literal(str(row[2] or ''))}")


def _existing(store: NodeStore, name: str) -> DatasetInfo | None:
    try:
        return store.dataset(name)
    except NotFound:
        return None


def _write_for_review(
    report: IngestReport, dictionary: Dictionary, review_dir: Path | None
) -> None:
    """Write the inferred dictionary for the steward; never over one that says something else
    (it may hold the steward's review), and never apply it unreviewed."""
    if review_dir is None:
        report.notes.append("inferred dictionary not written (an in-memory store); nothing stored")
        return
    target = review_dir / f"{report.dataset}.json"
    report.dictionary_path = target
    if target.exists():
        try:
            previous = Dictionary.from_json(json.loads(target.read_text()))
        except (OSError, ValueError, DataError):
            previous = None
        if previous != dictionary:
            raise DataError(
                f"{target} exists and differs from the dictionary inferred now (it may hold the "
                f"steward's review): pass --dictionary {target} to enforce it, or delete it to "
                "infer again; nothing was stored"
            )
        report.notes.append(f"the dictionary at {target} awaits review; nothing stored")
        return
    review_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(dictionary.to_json(), indent=2) + "\n")
    partial.replace(target)


def stages() -> tuple[str, ...]:
    """The stages ``progress`` is told of, in order (a progress bar's steps)."""
    return _STAGES


def read_dictionary(path: Path) -> Dictionary:
    """A dictionary file: Causeway's JSON (a list of columns) or a Frictionless Table Schema."""
    try:
        data: Any = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the dictionary {path}: {exc}") from None
    if isinstance(data, Mapping) and "fields" in data:
        return Dictionary.from_table_schema(data)
    return Dictionary.from_json(data)
