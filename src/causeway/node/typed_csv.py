"""CSV ingestion's fast path: a file that holds no surprise, read straight into typed columns.

``ingest`` with a dictionary tries this first. DuckDB's ``read_csv`` parses the number columns as
DOUBLE while it reads, and boolean words as an ENUM of the exact fields (no surrounding space, not
a missing marker), so any other field there stops the read. The text path's rules
(:mod:`causeway.node.ingest`) that need the field's text (missing markers, whole numbers, date
formats) are the same SQL applied in that one pass, with a shortcut for the common exact case (an
ISO date) and the text path's own expression otherwise; where the text path would refuse a value
the statement stops (``error()``), so nothing is half-written. The rest is checked once the table
is written, where it costs least: each number column's range (finite, within its bounds: the
table's statistics give it without a scan), and each categorical column's values (read as the
fields themselves), which must be exactly its levels. Whatever fails drops the table.

The fast path never decides a refusal: a file it does not take whole (a refused value, a ragged
line, bad quoting or encoding, no rows) is read again by the text path, which finds every refusal
and reports it with its line. What it accepts, the text path accepts with the same values (tested
value by value on awkward fields).
"""

from __future__ import annotations

import csv
import math
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import DataError
from causeway.node import ingest as text

_REFUSED = "error('causeway: refused by the fast path')"
# Of the fields DuckDB casts to a date, those of the text path's ISO shape (\d{4}-\d{2}-\d{2}):
# ten characters, a digit first and last, '-' fifth and eighth leave DuckDB's date syntax (spaces,
# sign, year digits, separator, one or two digits, the same separator, one or two digits, spaces)
# no other reading. Half the cost of a class per digit, a third of the regular expression's.
_ISO_GLOB = "'[0-9]???-??-?[0-9]'"
_EXACT = 9007199254740992  # 2**53: the text path's whole numbers are below it


@dataclass(frozen=True)
class Typed:
    """The file's rows in ``table`` (the dictionary's columns in the store's types)."""

    table: str
    rows: int
    date_formats: dict[str, str]


def eligible(options: text.IngestOptions) -> bool:
    """Whether the fast path applies to these options (a ',' decimal mark takes the text path)."""
    return options.decimal == "."


def read(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    source: Path,
    options: text.IngestOptions,
    dictionary: Dictionary,
    table: str,
) -> Typed | None:
    """The UTF-8 CSV ``source`` (of ``path``) typed into ``table`` of ``conn``, rows in file
    order; None (and no table) when the text path must read it. ``conn`` must have DuckDB's
    ``in_clause`` optimizer off (``ingest`` does): it would turn the levels' ``IN`` lists into a
    join, which reorders rows."""
    try:
        lines = text._sniff_lines(source)
        if not lines:
            return None
        delimiter = text._delimiter(path, lines, options)
        first: list[str] = next(csv.reader([lines[0]], delimiter=delimiter, quotechar='"'), [])
        if options.header:
            names = text._check_names(path, first)
        else:
            names = [f"column_{i}" for i in range(1, len(first) + 1)]
        text._match_columns(path.name, names, dictionary)
    except DataError:
        return None  # the text path says why
    position = {name: i for i, name in enumerate(names)}
    markers = sorted({m.strip() for m in ("", *options.missing)})
    types = {
        f"c{i}": _parsed_as(c, options, markers) if (c := dictionary.get(name)) else "VARCHAR"
        for i, name in enumerate(names)
    }
    formats = {
        c.name: options.date_format or text.ISO
        for c in dictionary.columns
        if c.type is ColumnType.DATE
    }
    selects = ", ".join(
        f"{_typed(c, f'c{position[c.name]}', options, markers, formats)} AS {text._ident(c.name)}"
        for c in dictionary.columns
    )
    columns = (
        "{" + ", ".join(f"{text._literal(k)}: {text._literal(v)}" for k, v in types.items()) + "}"
    )
    nullstr = "[" + ", ".join(text._literal(m) for m in markers) + "]"
    try:
        conn.execute(
            f"CREATE TABLE {text._ident(table)} AS SELECT {selects} FROM read_csv("
            f"{text._literal(str(source))}, delim={text._literal(delimiter)}, quote='\"', "
            f"escape='\"', header=false, skip={1 if options.header else 0}, auto_detect=false, "
            f"columns={columns}, nullstr={nullstr}, strict_mode=true, null_padding=false)"
        )
        # DuckDB answers these from the table's statistics, without a scan
        found = conn.execute(
            f"SELECT {', '.join(['count(*)', *_ranges(dictionary)])} FROM {text._ident(table)}"
        ).fetchall()[0]
        off = _off_levels(dictionary, markers)
        stray = conn.execute(f"SELECT {', '.join(off)} FROM {text._ident(table)}").fetchall()[0]
    except duckdb.Error:
        _drop(conn, table)
        return None
    numbers = [c for c in dictionary.columns if c.type.is_numeric]
    ranges = zip(numbers, found[1::2], found[2::2], strict=True)
    # empty, a number the text path refuses or a value no level: the text path has the words
    if not found[0] or not all(_within(*r) for r in ranges) or any(stray):
        _drop(conn, table)
        return None
    return Typed(table, int(found[0]), formats)


def _drop(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    with suppress(duckdb.Error):
        conn.execute(f"DROP TABLE IF EXISTS {text._ident(table)}")


def _parsed_as(column: Column, options: text.IngestOptions, markers: list[str]) -> str:
    """The type DuckDB parses the column's fields as: DOUBLE for numbers; for boolean words an
    ENUM of the fields that are exactly one (no surrounding space, not a missing marker), so that
    any other field stops the read (the text path then reads the file); else VARCHAR."""
    if column.type.is_numeric:
        return "DOUBLE"
    words = _words(column, options, markers)
    if words is None:
        return "VARCHAR"
    return "ENUM(" + _list(words[0] + words[1]) + ")"


def _words(
    column: Column, options: text.IngestOptions, markers: list[str]
) -> tuple[list[str], list[str]] | None:
    """A boolean column's exact fields, true and false: each word as given lowercased, and in
    capitals and capitalised when it is ASCII (the text path compares them lowercased); None
    when there are none to read so."""
    if column.type is not ColumnType.BOOLEAN:
        return None
    trues = _plain(_cases(options.true_words), markers)
    falses = _plain(_cases(options.false_words), markers)
    return (trues, falses) if trues and falses else None


def _cases(words: tuple[str, ...]) -> list[str]:
    lowered = [w.lower() for w in words]
    variants = [v for w in lowered if w.isascii() for v in (w.upper(), w.capitalize())]
    return list(dict.fromkeys(lowered + variants))


def _levels(column: Column, markers: list[str]) -> list[str] | None:
    """A categorical column's levels that a field can be exactly (None if it has none): the
    column is read as the field itself, and :func:`read` checks after the read that every value
    is one of them."""
    if column.type is not ColumnType.CATEGORICAL or column.levels is None:
        return None
    return _plain(column.levels, markers) or None


def _off_levels(dictionary: Dictionary, markers: list[str]) -> list[str]:
    """Per categorical column read as the field itself: the count of values that are no level.
    A value that is no level does not cast to their ENUM; DuckDB casts a dictionary-compressed
    column's dictionary, not every row, which costs a fraction of comparing fields while parsing."""
    out = ["0"]
    for column in dictionary.columns:
        levels = _levels(column, markers)
        if levels is not None:
            c = text._ident(column.name)
            out.append(
                f"count(*) FILTER ({c} IS NOT NULL AND TRY_CAST({c} AS ENUM({_list(levels)})) "
                "IS NULL)"
            )
    return out


def _typed(
    column: Column,
    raw: str,
    options: text.IngestOptions,
    markers: list[str],
    formats: dict[str, str],
) -> str:
    """The typed value of the field ``raw`` (parsed as :func:`_parsed_as` says; NULL for an exact
    missing marker), or an error where the text path would refuse it."""
    kind = column.type
    if kind is ColumnType.NUMERIC:  # DOUBLE already: what TRY_CAST gives the text path
        return raw  # finite and within bounds: checked after the read (_within)
    if kind is ColumnType.INTEGER:
        return (
            f"(CASE WHEN {' AND '.join(_number_checks(column, raw))} THEN CAST({raw} AS BIGINT) "
            f"WHEN {raw} IS NULL THEN NULL ELSE {_REFUSED} END)"
        )
    words = _words(column, options, markers)
    if words is not None:  # an ENUM of the exact fields: anything else stopped the read
        return f"(enum_code({raw}) < {len(words[0])})"
    if _levels(column, markers) is not None:
        return raw  # checked after the read (_off_levels)
    v = text._clean(raw, options)
    if kind is ColumnType.BOOLEAN:
        trues = [w.lower() for w in options.true_words]
        falses = [w.lower() for w in options.false_words]
        return (
            f"(CASE WHEN {v} IS NULL THEN NULL WHEN lower({v}) IN ({_list(trues)}) THEN true "
            f"WHEN lower({v}) IN ({_list(falses)}) THEN false ELSE {_REFUSED} END)"
        )
    if kind is ColumnType.DATE:
        fmt = formats[column.name]
        reference = (
            f"(CASE WHEN {v} IS NULL THEN NULL ELSE coalesce({text._date(v, fmt)}, {_REFUSED}) END)"
        )
        if fmt != text.ISO:
            return reference
        # a field of the ISO shape (_ISO_GLOB and the cast) is trimmed already and, being no
        # marker, is the value itself
        return (
            f"(CASE WHEN {raw} GLOB {_ISO_GLOB} "
            f"THEN coalesce(TRY_CAST({raw} AS DATE), {_REFUSED}) ELSE {reference} END)"
        )
    if kind is ColumnType.CATEGORICAL and column.levels is not None:
        return (
            f"(CASE WHEN {v} IS NULL THEN NULL WHEN {v} IN ({_list(column.levels)}) THEN {v} "
            f"ELSE {_REFUSED} END)"
        )
    return v


def _number_checks(column: Column, raw: str) -> list[str]:
    """What an INTEGER's number (DOUBLE, not NULL) must satisfy while read: whole, and below
    2**53 unless its bounds say so (they are checked after the read, :func:`_within`)."""
    low, high = column.minimum, column.maximum
    checks = [f"{raw} = floor({raw})"]
    if not (low is not None and high is not None and low > -_EXACT and high < _EXACT):
        checks.append(f"abs({raw}) < {_EXACT}")
    return checks


def _ranges(dictionary: Dictionary) -> list[str]:
    return [
        f"min({text._ident(c.name)}), max({text._ident(c.name)})"
        for c in dictionary.columns
        if c.type.is_numeric
    ]


def _within(column: Column, least: float | None, most: float | None) -> bool:
    """Whether a numeric column whose values range from ``least`` to ``most`` (None: it has
    none) holds only what the text path accepts: finite numbers within the bounds. DuckDB orders
    NaN above every number, so a NaN is the column's ``most``."""
    if least is None or most is None:
        return True
    if not (math.isfinite(least) and math.isfinite(most)):
        return False
    low, high = column.minimum, column.maximum
    return (low is None or least >= low) and (high is None or most <= high)


def _plain(words: list[str] | tuple[str, ...], markers: list[str]) -> list[str]:
    """The words a field equals exactly only if the text path reads it as that word: no
    surrounding space, not a missing marker."""
    return [w for w in words if w == w.strip() and w not in markers]


def _list(words: list[str] | tuple[str, ...]) -> str:
    return ", ".join(text._literal(w) for w in words)
