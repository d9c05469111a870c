"""CSV ingestion's fast path: a file that holds no surprise, read straight into typed columns.

``ingest`` with a dictionary tries this first. DuckDB's ``read_csv`` parses the number columns as
DOUBLE while it reads, and every other rule of the text path (:mod:`causeway.node.ingest`: missing
markers, whole numbers, bounds, finiteness, levels, boolean words, date formats) is the same SQL
applied in that one pass, with a shortcut for the common exact case (a field that is already a
level, a boolean word or an ISO date) and the text path's own expression otherwise. Where the text
path would refuse a value the statement stops (``error()``), so nothing is half-written.

The fast path never decides a refusal: a file it does not take whole (a refused value, a ragged
line, bad quoting or encoding, no rows) is read again by the text path, which finds every refusal
and reports it with its line. What it accepts, the text path accepts with the same values (tested
value by value on awkward fields).
"""

from __future__ import annotations

import csv
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import DataError
from causeway.node import ingest as text

_REFUSED = "error('causeway: refused by the fast path')"
_ISO_SHAPE = "'\\d{4}-\\d{2}-\\d{2}'"


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
    types = {
        f"c{i}": "DOUBLE" if (c := dictionary.get(name)) and c.type.is_numeric else "VARCHAR"
        for i, name in enumerate(names)
    }
    formats = {
        c.name: options.date_format or text.ISO
        for c in dictionary.columns
        if c.type is ColumnType.DATE
    }
    markers = sorted({m.strip() for m in ("", *options.missing)})
    selects = ", ".join(
        f"{_typed(c, f'c{position[c.name]}', options, markers, formats)} AS {text._ident(c.name)}"
        for c in dictionary.columns
    )
    columns = "{" + ", ".join(f"{text._literal(k)}: '{v}'" for k, v in types.items()) + "}"
    nullstr = "[" + ", ".join(text._literal(m) for m in markers) + "]"
    try:
        conn.execute(
            f"CREATE TABLE {text._ident(table)} AS SELECT {selects} FROM read_csv("
            f"{text._literal(str(source))}, delim={text._literal(delimiter)}, quote='\"', "
            f"escape='\"', header=false, skip={1 if options.header else 0}, auto_detect=false, "
            f"columns={columns}, nullstr={nullstr}, strict_mode=true, null_padding=false)"
        )
        found = conn.execute(f"SELECT count(*) FROM {text._ident(table)}").fetchall()[0]
    except duckdb.Error:
        _drop(conn, table)
        return None
    rows = int(found[0]) if found else 0
    if not rows:  # empty: the text path has the words for it
        _drop(conn, table)
        return None
    return Typed(table, rows, formats)


def _drop(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    with suppress(duckdb.Error):
        conn.execute(f"DROP TABLE IF EXISTS {text._ident(table)}")


def _typed(
    column: Column,
    raw: str,
    options: text.IngestOptions,
    markers: list[str],
    formats: dict[str, str],
) -> str:
    """The typed value of the field ``raw`` (DOUBLE for numbers, else VARCHAR; NULL for an exact
    missing marker), or an error where the text path would refuse it."""
    kind = column.type
    if kind.is_numeric:  # DOUBLE already: what TRY_CAST gives the text path
        ok = [f"isfinite({raw})"]
        if kind is ColumnType.INTEGER:
            ok = [f"{raw} = floor({raw})", f"abs({raw}) < 9007199254740992"]
        if column.minimum is not None:
            ok.append(f"{raw} >= {column.minimum!r}")
        if column.maximum is not None:
            ok.append(f"{raw} <= {column.maximum!r}")
        value = f"CAST({raw} AS BIGINT)" if kind is ColumnType.INTEGER else raw
        return (
            f"(CASE WHEN {raw} IS NULL THEN NULL WHEN {' AND '.join(ok)} THEN {value} "
            f"ELSE {_REFUSED} END)"
        )
    v = text._clean(raw, options)
    if kind is ColumnType.BOOLEAN:
        trues = [w.lower() for w in options.true_words]
        falses = [w.lower() for w in options.false_words]
        reference = (
            f"(CASE WHEN {v} IS NULL THEN NULL WHEN lower({v}) IN ({_list(trues)}) THEN true "
            f"WHEN lower({v}) IN ({_list(falses)}) THEN false ELSE {_REFUSED} END)"
        )
        quick_true, quick_false = _plain(trues, markers), _plain(falses, markers)
        if not quick_true or not quick_false:
            return reference
        return (
            f"(CASE WHEN {raw} IN ({_list(quick_true)}) THEN true "
            f"WHEN {raw} IN ({_list(quick_false)}) THEN false ELSE {reference} END)"
        )
    if kind is ColumnType.DATE:
        fmt = formats[column.name]
        reference = (
            f"(CASE WHEN {v} IS NULL THEN NULL ELSE coalesce({text._date(v, fmt)}, {_REFUSED}) END)"
        )
        if fmt != text.ISO:
            return reference
        # a field of the ISO shape is trimmed already and (being no marker) is the value itself
        return (
            f"(CASE WHEN regexp_full_match({raw}, {_ISO_SHAPE}) "
            f"THEN coalesce(TRY_CAST({raw} AS DATE), {_REFUSED}) ELSE {reference} END)"
        )
    if kind is ColumnType.CATEGORICAL and column.levels is not None:
        reference = (
            f"(CASE WHEN {v} IS NULL THEN NULL WHEN {v} IN ({_list(column.levels)}) THEN {v} "
            f"ELSE {_REFUSED} END)"
        )
        exact = _plain(column.levels, markers)
        if not exact:
            return reference
        return f"(CASE WHEN {raw} IN ({_list(exact)}) THEN {raw} ELSE {reference} END)"
    return v


def _plain(words: list[str] | tuple[str, ...], markers: list[str]) -> list[str]:
    """The words a field equals exactly only if the text path reads it as that word: no
    surrounding space, not a missing marker."""
    return [w for w in words if w == w.strip() and w not in markers]


def _list(words: list[str] | tuple[str, ...]) -> str:
    return ", ".join(text._literal(w) for w in words)
