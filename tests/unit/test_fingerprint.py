"""The content fingerprint, scheme v2 (`causeway.node.fingerprint`): the same rows give the same
value in any order, different rows a different one, and the DuckDB computation equals a plain
Python reading of the definition (sort the rows, encode each column, hash) written here."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
import struct
from typing import Any

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.node import fingerprint
from causeway.node.store import NodeStore

DICTIONARY = Dictionary(
    (
        Column("id", ColumnType.INTEGER),
        Column("x", ColumnType.NUMERIC),
        Column("day", ColumnType.DATE),
        Column("ward", ColumnType.CATEGORICAL, levels=("a", "Z", "é", "ä", "ab")),
        Column("note", ColumnType.TEXT),
        Column("flag", ColumnType.BOOLEAN),
    )
)
SQL = {
    "id": "BIGINT",
    "x": "DOUBLE",
    "day": "DATE",
    "ward": "VARCHAR",
    "note": "VARCHAR",
    "flag": "BOOLEAN",
}
Row = tuple[Any, ...]


def reference(rows: list[Row], dictionary: Dictionary) -> str:
    """Scheme v2 as its docstring states it, in plain Python."""

    def key(row: Row) -> tuple[Any, ...]:
        out: list[Any] = []
        for column, value in zip(dictionary.columns, row, strict=True):
            if value is None:
                out.append((0, 0))
            elif column.type in (ColumnType.CATEGORICAL, ColumnType.TEXT):
                out.append((1, value.encode()))
            elif column.type is ColumnType.NUMERIC and math.isnan(value):
                out.append((2, 0))  # NaN after every number
            else:
                out.append((1, value + 0.0 if isinstance(value, float) else value))
        return tuple(out)

    ordered = sorted(rows, key=key)
    digests = []
    for i, column in enumerate(dictionary.columns):
        values = [row[i] for row in ordered]
        valid = bytes(v is not None for v in values)
        kind = column.type
        if kind in (ColumnType.CATEGORICAL, ColumnType.TEXT):
            data = [(v or "").encode() for v in values]
            streams = [valid, b"".join(struct.pack("<q", len(d)) for d in data), b"".join(data)]
        else:
            if kind is ColumnType.INTEGER:
                encoded = [struct.pack("<q", v or 0) for v in values]
            elif kind is ColumnType.NUMERIC:
                floats = [0.0 if v is None else v + 0.0 for v in values]
                encoded = [struct.pack("<d", math.nan if math.isnan(f) else f) for f in floats]
            elif kind is ColumnType.DATE:
                epoch = dt.date(1970, 1, 1)
                encoded = [struct.pack("<i", 0 if v is None else (v - epoch).days) for v in values]
            else:
                encoded = [bytes([bool(v)]) for v in values]
            streams = [valid, b"".join(encoded)]
        digests += [hashlib.sha256(s).digest() for s in streams]
    header = json.dumps(
        {
            "fingerprint": "causeway.rows.v2",
            "rows": len(rows),
            "columns": [[c.name, c.type.value] for c in dictionary.columns],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    final = hashlib.sha256(len(header).to_bytes(8, "little") + header + b"".join(digests))
    return "v2:" + final.hexdigest()[:61]


def table(rows: list[Row], dictionary: Dictionary = DICTIONARY) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    columns = ", ".join(f'"{c.name}" {SQL[c.name]}' for c in dictionary.columns)
    conn.execute(f"CREATE TABLE t ({columns})")
    if rows:
        marks = ", ".join("?" for _ in dictionary.columns)
        conn.executemany(f"INSERT INTO t VALUES ({marks})", [list(r) for r in rows])
    return conn


def of(rows: list[Row], dictionary: Dictionary = DICTIONARY) -> str:
    conn = table(rows, dictionary)
    try:
        return fingerprint.duckdb_fingerprint(conn, "t", dictionary)
    finally:
        conn.close()


AWKWARD: list[Row] = [
    (3, -0.0, dt.date(2020, 1, 2), "Z", "naïve", True),
    (1, 0.0, dt.date(1969, 12, 31), "é", None, False),
    (2, None, None, "ä", "", None),
    (4, 1.5, dt.date(2020, 1, 2), None, "a\nb", True),
    (5, -2.25, dt.date(2000, 2, 29), "ab", "Zebra", False),
    (None, 1e300, dt.date(1, 1, 1), "a", "zebra", True),
]


def test_duckdb_computes_the_definition_in_any_stored_order() -> None:
    expected = reference(AWKWARD, DICTIONARY)
    shuffled = AWKWARD[:]
    random.Random(7).shuffle(shuffled)
    assert of(AWKWARD) == of(shuffled) == of(list(reversed(AWKWARD))) == expected
    assert expected.startswith("v2:") and len(expected) == 64  # what the hub keeps


def test_rows_stored_in_canonical_order_skip_the_sort_and_give_the_same_value() -> None:
    # first column strictly increasing: hashed as stored; the same rows reversed are sorted
    rows = [
        (i, float(i % 7) - 3.0, dt.date(2020, 1, 1 + i % 28), "a", f"n{i}", i % 2 == 0)
        for i in range(1000)
    ]
    assert of(rows) == of(rows[::-1]) == reference(rows, DICTIONARY)


def test_ties_on_the_first_column_are_ordered_by_the_next_columns() -> None:
    dictionary = Dictionary((Column("x", ColumnType.NUMERIC), Column("note", ColumnType.TEXT)))
    rows: list[Row] = [(-0.0, "b"), (0.0, "a"), (None, "c"), (None, "b"), (float("nan"), "d")]
    other = [(0.0, "b"), (-0.0, "a"), (None, "b"), (float("nan"), "d"), (None, "c")]
    assert of(rows, dictionary) == of(other, dictionary) == reference(rows, dictionary)


def test_every_change_of_the_rows_changes_the_fingerprint() -> None:
    base = of(AWKWARD)
    changed = [
        AWKWARD[:-1],  # a row fewer
        [*AWKWARD, AWKWARD[0]],  # a row twice
        [(*AWKWARD[0][:4], "naive", True), *AWKWARD[1:]],  # one value
        [(*AWKWARD[0][:4], "naïve", None), *AWKWARD[1:]],  # a value missing
        [(*AWKWARD[1][:3], "é", "", False), (2, None, None, "ä", None, None), *AWKWARD[2:]],
    ]
    values = {of(rows) for rows in changed}
    assert base not in values and len(values) == len(changed)


def test_the_column_names_are_part_of_what_is_fingerprinted() -> None:
    renamed = Dictionary(
        tuple(
            Column("ident" if c.name == "id" else c.name, c.type, levels=c.levels)
            for c in DICTIONARY.columns
        )
    )
    conn = table(AWKWARD)
    conn.execute('ALTER TABLE t RENAME COLUMN "id" TO "ident"')
    assert fingerprint.duckdb_fingerprint(conn, "t", renamed) != of(AWKWARD)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-5, 5)),
            st.one_of(st.none(), st.sampled_from([-1.5, -0.0, 0.0, 2.0])),
            st.text(alphabet="aZé\u00e4 ", max_size=3),
        ),
        max_size=30,
    ),
    st.randoms(),
)
def test_any_order_of_any_rows_gives_the_same_fingerprint(
    rows: list[Row], rnd: random.Random
) -> None:
    dictionary = Dictionary(
        (
            Column("id", ColumnType.INTEGER),
            Column("x", ColumnType.NUMERIC),
            Column("note", ColumnType.TEXT),
        )
    )
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert of(rows, dictionary) == of(shuffled, dictionary) == reference(rows, dictionary)


def test_scheme_v1_is_still_computed_as_it_was_for_fingerprints_recorded_before_v2() -> None:
    # v1's definition, as NodeStore computed it before v2: sorted hex SHA-256 of each row's JSON
    conn = table(AWKWARD)
    columns = ", ".join(f'"{c.name}" := "{c.name}"' for c in DICTIONARY.columns)
    row = conn.execute(
        "SELECT coalesce(sha256(string_agg(h, '' ORDER BY h)), sha256('')) FROM "
        f"(SELECT sha256(to_json(struct_pack({columns}))::VARCHAR) AS h FROM t)"
    ).fetchall()
    v1 = fingerprint.legacy(conn, "t", DICTIONARY)
    assert v1 == row[0][0] and fingerprint.is_legacy(v1) and not fingerprint.is_legacy(of(AWKWARD))


def test_a_stored_dataset_is_fingerprinted_by_scheme_v2(tmp_path: Any) -> None:
    frame = pd.DataFrame({"id": [2, 1], "x": [0.5, None]})
    dictionary = Dictionary((Column("id", ColumnType.INTEGER), Column("x", ColumnType.NUMERIC)))
    with NodeStore(tmp_path / "data.duckdb") as store:
        info = store.add_dataset("d", frame, dictionary=dictionary)
    assert info.fingerprint == reference([(1, None), (2, 0.5)], dictionary)


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single_row_tables(n: int) -> None:
    rows = AWKWARD[:n]
    assert of(rows) == reference(rows, DICTIONARY)
