"""Ingestion's fast path (`causeway.node.typed_csv`) accepts exactly what the text path accepts,
with the same values, field by field on awkward values; what it does not take whole goes to the
text path, which refuses and reports as before. Re-ingestion's "unchanged" answer: never for a
warehouse registration, and a scheme-v1 fingerprint kept for the same rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from pathlib import Path
from typing import Any

import duckdb
import pytest

from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import Conflict, DataError
from causeway.model.levels import Level
from causeway.node import fingerprint, typed_csv
from causeway.node import ingest as ingestion
from causeway.node.ingest import IngestOptions, IngestRefused, ingest
from causeway.node.store import NodeStore

DICTIONARY = Dictionary(
    (
        Column("n", ColumnType.NUMERIC),
        Column("i", ColumnType.INTEGER, minimum=-1e17, maximum=1e17),
        Column("m", ColumnType.NUMERIC, minimum=-5, maximum=100),
        Column("k", ColumnType.INTEGER, minimum=-5, maximum=1000),
        Column("d", ColumnType.DATE),
        Column("b", ColumnType.BOOLEAN),
        Column("c", ColumnType.CATEGORICAL, levels=("F", "M", "it's, (x)")),
        Column("t", ColumnType.TEXT),
    )
)
NORMAL = {
    "n": "1.5",
    "i": "7",
    "m": "2.5",
    "k": "3",
    "d": "2021-03-04",
    "b": "no",
    "c": "M",
    "t": "x",
}
NUMBERS = [
    "12", " 12 ", "\t12", "+5", "1e2", "1E-2", "1.0", "0x10", "1_000", "inf", "-inf", "nan",
    "NaN", "Infinity", "-0", "1.5e308", "1e309", ".5", "5.", "1,5", "  ", "NA", " NA ",
    "9007199254740993", "9007199254740992", "-9007199254740991", "00012", "e5", "--1",
    "\u0661\u0662", "12abc", "1e20", "-1e20",
]  # fmt: skip
BOUNDED = [*NUMBERS, "100", "100.5", "1000", "1001", "-5", "-5.5", "-6", "99.99999999999999"]
AWKWARD = {
    "n": NUMBERS,
    "i": NUMBERS,
    "m": BOUNDED,
    "k": BOUNDED,
    "d": [
        "2020-09-06",
        "2020-9-6",
        "2020/09/06",
        " 2020-09-06",
        "2020-09-06 ",
        "20200906",
        "0000-01-01",
        "2020-02-30",
        "+2020-09-06",
        "2020-09-06T00:00:00",
        "2020-09-06 00:00:00",
        "99999-01-01",
        "NA",
        "",
        "\u0661\u0669\u0669\u0669-01-01",
        "2020-09-06 (BC)",
        # ISO-like in ten characters, a digit first and last, '-' fifth and eighth
        "2020-9 -06",
        "2020-09- 6",
        "20 0-09-06",
        "2020-9/-06",
        "2-20-09-06",
        "1999-12-31",
    ],
    "b": [
        "yes",
        "Yes",
        " yes",
        "YES",
        "no ",
        "t",
        "f",
        "y",
        "1",
        "0",
        "true",
        "TRUE",
        "tRUE",
        "No",
        "nO",
        "NA",
        "",
    ],
    "c": ["F", " F", "f", "F ", "M", "NA", "", "X", "\u0046\u0301", "it's, (x)", "it's"],
    "t": [" a ", "NA", " NA", "", "x", "é"],
}
TAKEN = {
    "n": "12",
    "i": "12",
    "m": "100",
    "k": "-5",
    "d": "2020-09-06",
    "b": "Yes",
    "c": "it's, (x)",
    "t": " a ",
}


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(DICTIONARY.names))
    for row in rows:
        writer.writerow([row[n] for n in DICTIONARY.names])
    path.write_text(out.getvalue())
    return path


def text_path(store: NodeStore, path: Path, options: IngestOptions) -> list[tuple[Any, ...]]:
    """The rows the text path types (raises IngestRefused/DataError where it refuses)."""
    conn = store._conn
    report = ingestion.IngestReport(dataset="d", file=path.name)
    with (
        ingestion._opened(path, options, path.parent, None) as opened,
        ingestion._staged(conn, opened, options, None) as staged,
    ):
        _d, conversions = ingestion._validate(conn, staged, options, DICTIONARY, report, None)
        selects = ", ".join(f"{t} AS {ingestion._ident(n)}" for n, t, _c in conversions)
        return conn.execute(f"SELECT {selects} FROM {ingestion._ident(staged.table)}").fetchall()


def fast_path(store: NodeStore, path: Path, options: IngestOptions) -> list[tuple[Any, ...]] | None:
    conn = store._conn
    typed = typed_csv.read(conn, path, path, options, DICTIONARY, "fast")
    if typed is None:
        assert not conn.execute(
            "SELECT * FROM duckdb_tables() WHERE table_name = 'fast'"
        ).fetchall()
        return None
    try:
        return conn.execute('SELECT * FROM "fast" ORDER BY rowid').fetchall()
    finally:
        conn.execute('DROP TABLE "fast"')


def same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    def key(v: Any) -> Any:
        if isinstance(v, float):
            return ("nan",) if math.isnan(v) else (v, math.copysign(1, v))
        return v

    return [tuple(map(key, r)) for r in a] == [tuple(map(key, r)) for r in b]


@pytest.mark.parametrize("column", list(AWKWARD))
def test_the_fast_path_accepts_what_the_text_path_accepts_with_the_same_values(
    tmp_path: Path, column: str
) -> None:
    options = IngestOptions()
    taken = 0
    with NodeStore(tmp_path / "data.duckdb") as store:
        for k, field in enumerate(AWKWARD[column]):
            path = write_csv(tmp_path / f"f{k}.csv", [NORMAL, {**NORMAL, column: field}])
            fast = fast_path(store, path, options)
            try:
                text = text_path(store, path, options)
            except DataError:  # IngestRefused included
                assert fast is None, f"{field!r}: the fast path took what the text path refuses"
                continue
            if fast is not None:
                taken += 1
                assert same(fast, text), f"{field!r}: {fast} != {text}"
            elif field == TAKEN[column]:
                pytest.fail(f"{field!r} should be read by the fast path")
    assert taken  # the comparison is not vacuous


def test_a_clean_file_is_read_once_and_a_refused_one_is_reported_by_the_text_path(
    tmp_path: Path,
) -> None:
    stages: list[str] = []
    with NodeStore(tmp_path / "node" / "data.duckdb") as store:
        clean = write_csv(tmp_path / "clean.csv", [NORMAL, {**NORMAL, "d": "1999-12-31"}])
        report = ingest(store, clean, dataset="d", dictionary=DICTIONARY, progress=stages.append)
        assert report.stored and report.rows == 2 and report.date_formats == {"d": "%Y-%m-%d"}
        assert stages == ["reading", "fingerprinting", "assessing", "storing"]
        assert store._conn.execute('SELECT d, b FROM "ds_d" ORDER BY rowid').fetchall() == [
            (dt.date(2021, 3, 4), False),
            (dt.date(1999, 12, 31), False),
        ]
        stages.clear()
        bad = write_csv(
            tmp_path / "bad.csv", [NORMAL, {**NORMAL, "c": "X"}, {**NORMAL, "i": "1.5"}]
        )
        with pytest.raises(IngestRefused) as refused:
            ingest(store, bad, dataset="d", dictionary=DICTIONARY, progress=stages.append)
        assert stages == ["reading", "reading", "typing", "checking"]
        assert (
            str(refused.value.report.refused[0])
            == "bad.csv line 3, column c: 'X' is not one of its levels (F, M, it's, (x))"
        )
        assert "line 4, column i: '1.5' is not a whole number" in str(refused.value)
        assert store.dataset("d").rows == 2  # untouched


def test_reingesting_a_warehouse_datasets_rows_replaces_the_registration_or_is_refused(
    tmp_path: Path,
) -> None:
    with NodeStore(tmp_path / "node" / "data.duckdb") as store:
        path = write_csv(tmp_path / "rows.csv", [NORMAL, {**NORMAL, "n": "2"}])
        first = ingest(store, path, dataset="d", dictionary=DICTIONARY)
        # the same rows registered from a warehouse under that name (same fingerprint)
        source = {"url": "postgresql://warehouse.example/db", "table": "public.rows", "key": "id"}
        info = store.dataset("d")
        store.install_source(
            "d",
            source,
            DICTIONARY,
            level=info.level,
            description=info.description,
            metadata=info.metadata,
            rows=info.rows,
            fingerprint=first.fingerprint,
        )
        with pytest.raises(Conflict, match="registered from a warehouse"):
            ingest(store, path, dataset="d", dictionary=DICTIONARY)
        assert store.source("d") == source
        again = ingest(store, path, dataset="d", dictionary=DICTIONARY, replace=True)
        assert again.stored and not again.unchanged and store.source("d") is None
        assert store._conn.execute('SELECT count(*) FROM "ds_d"').fetchall() == [(2,)]


def test_a_dataset_fingerprinted_by_scheme_v1_keeps_it_for_the_same_rows(tmp_path: Path) -> None:
    with NodeStore(tmp_path / "node" / "data.duckdb") as store:
        path = write_csv(tmp_path / "rows.csv", [NORMAL, {**NORMAL, "n": "2"}])
        ingest(store, path, dataset="d", dictionary=DICTIONARY, level=Level.L1)
        # as a store written before scheme v2 recorded it
        v1 = store.legacy_fingerprint_of("ds_d", DICTIONARY)
        store._conn.execute("UPDATE causeway_datasets SET fingerprint = ? WHERE name = 'd'", [v1])
        store._forget("d")
        again = ingest(store, path, dataset="d", dictionary=DICTIONARY)
        assert again.unchanged and again.fingerprint == v1 == store.dataset("d").fingerprint
        changed = write_csv(tmp_path / "changed.csv", [NORMAL, {**NORMAL, "n": "3"}])
        with pytest.raises(Conflict):
            ingest(store, changed, dataset="d", dictionary=DICTIONARY)
        replaced = ingest(store, changed, dataset="d", dictionary=DICTIONARY, replace=True)
        assert replaced.stored and not fingerprint.is_legacy(store.dataset("d").fingerprint)
        assert store.dataset("d").metadata.quality is not None


@pytest.mark.parametrize("path", ["fast", "text"])
def test_rows_are_stored_in_file_order_whatever_the_lists_of_levels_and_markers(
    tmp_path: Path, path: str
) -> None:
    """Row ids are the file's row numbers (the differencing guard's memory relies on them), also
    when long IN lists (ten levels, nine missing markers) would let DuckDB plan a join."""
    n = 600_000  # enough for DuckDB to read the file in parallel
    levels = tuple(f"w{i}" for i in range(10))
    dictionary = Dictionary(
        (
            Column("id", ColumnType.INTEGER),
            Column("ward", ColumnType.CATEGORICAL, levels=levels),
            Column("x", ColumnType.NUMERIC),
        )
    )
    markers = (".", "?", "-", "NA", "n/a", "missing", "unknown", "none", "null")
    lines = ["id,ward,x"] + [f"{i},w{i % 10},{'.' if i % 7 == 0 else i % 100}" for i in range(n)]
    if path == "text":
        lines[6] = "5,w5,  "  # spaces: the fast path stops, the text path reads it as missing
    file = tmp_path / "ordered.csv"
    file.write_text("\n".join(lines) + "\n")
    stages: list[str] = []
    with NodeStore(tmp_path / "node" / "data.duckdb") as store:
        report = ingest(
            store,
            file,
            dataset="d",
            dictionary=dictionary,
            options=IngestOptions(missing=markers),
            progress=stages.append,
        )
        assert report.stored and ("typing" in stages) == (path == "text")
        found = store._conn.execute(
            'SELECT count(*), count(*) FILTER (WHERE rowid <> id), count(x) FROM "ds_d"'
        ).fetchall()
    assert found == [(n, 0, n - len(range(0, n, 7)) - (path == "text"))]


def test_the_iso_glob_with_duckdbs_date_cast_takes_exactly_the_iso_shape() -> None:
    """Every field of ten characters from an alphabet of digits, separators and spaces (a digit
    or a space first and last): where the fast path's GLOB matches and DuckDB casts it to a
    date, the text path's pattern matches too (so the shortcut takes nothing it would refuse)."""
    conn = duckdb.connect()
    alphabet = ["0", "1", "9", "-", "/", " ", "\t", "x"]
    conn.execute("CREATE TABLE a AS SELECT unnest(?::VARCHAR[]) AS ch", [alphabet])
    found = conn.execute(
        "SELECT count(*) FILTER (ok), count(*) FILTER (ok AND NOT regexp_full_match(s, "
        f"'\\d{{4}}-\\d{{2}}-\\d{{2}}')) FROM (SELECT s, s GLOB {typed_csv._ISO_GLOB} AND "
        "TRY_CAST(s AS DATE) IS NOT NULL AS ok FROM (SELECT f.ch || a1.ch || a2.ch || a3.ch || "
        "'-' || a5.ch || a6.ch || '-' || a8.ch || l.ch AS s FROM (VALUES ('2'), (' ')) f(ch), "
        "(VALUES ('5'), (' ')) l(ch), a a1, a a2, a a3, a a5, a a6, a a8))"
    ).fetchall()
    assert found[0][0] > 0 and found[0][1] == 0
