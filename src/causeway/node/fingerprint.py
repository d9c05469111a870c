"""The content fingerprint of a dataset's rows: the same rows under the same dictionary give the
same value in any order, at any node and in either store (DuckDB or a warehouse's PostgreSQL),
so a hospital can show what it registered without sending a row.

**Scheme v2** (``"v2:"`` and 61 hex digits; 64 characters, as the hub stores them):

1. The rows are put in their *canonical order*: sorted by the dictionary's columns, left to
   right, each ascending with NULLs first; numbers by value (``-0.0`` equals ``0.0``), dates by
   day, booleans false before true, text by its UTF-8 bytes. Rows that tie on every column are
   equal, so the sequence depends on the multiset of rows alone.
2. Each column becomes byte streams in that order, each hashed with SHA-256: one byte per row
   saying whether the value is present, then the values (a missing one as zero) little-endian
   (INTEGER int64; NUMERIC float64 with ``-0.0`` written as ``0.0`` and every NaN as one NaN;
   DATE int32 days since 1970-01-01; BOOLEAN one byte), and for text the byte length of each
   value (int64) and the values' UTF-8 bytes concatenated.
3. The fingerprint is SHA-256 over a header (the scheme, the row count and the dictionary's
   column names and types, as canonical JSON, length-prefixed) followed by every stream's digest,
   column by column; its first 61 hex digits follow ``"v2:"``.

The encoding is injective (given the row count, the streams determine every column), the order
is a function of the multiset, and SHA-256 is collision resistant: two different multisets of
rows cannot be given one fingerprint without a SHA-256 collision (the truncation keeps 244 bits,
122 bits of collision resistance). No per-row hash and no sort of strings: the engine sorts typed
columns, and hashlib hashes whole Arrow buffers. When the rows are already in canonical order
(their first column strictly increasing, as an export by its key usually is) nothing is sorted.

**Scheme v1** (64 hex digits, no prefix; every fingerprint recorded before v2): SHA-256 over the
sorted SHA-256 digests (hex) of each row's JSON object. It stays the recorded value of a dataset
whose rows have not changed (:func:`legacy`, used by re-ingestion's "unchanged" check), so an old
fingerprint keeps its meaning and the hub sees no new version for the same rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

from causeway.model.dictionary import ColumnType, Dictionary
from causeway.query import quote

SCHEME = "v2"
PREFIX = "v2:"
_HEX = 64 - len(PREFIX)  # the hub keeps 64 characters
BATCH_ROWS = 1 << 17
_NUMERIC = (ColumnType.NUMERIC,)
_TEXT = (ColumnType.CATEGORICAL, ColumnType.TEXT)
# first columns whose strict increase the hasher can check on the values it hashes anyway
_ORDERED_FIRST = (ColumnType.INTEGER, ColumnType.NUMERIC, ColumnType.DATE)

__all__ = [
    "PREFIX",
    "SCHEME",
    "RowHasher",
    "duckdb_fingerprint",
    "is_legacy",
    "legacy",
    "postgres_order",
]


def is_legacy(fingerprint: str) -> bool:
    """True for a scheme-v1 fingerprint (recorded before v2; 64 hex digits, no prefix)."""
    return not fingerprint.startswith(PREFIX)


class OutOfOrder(Exception):
    """The rows fed were not in canonical order (raised only when ``check_order`` is set)."""


class RowHasher:
    """Scheme v2 over Arrow record batches of the dictionary's columns, fed in canonical order
    (batch boundaries do not matter). ``check_order``: refuse (:class:`OutOfOrder`) rows whose
    first column does not strictly increase, which proves the order canonical without a sort."""

    def __init__(self, dictionary: Dictionary, *, check_order: bool = False) -> None:
        self._columns = dictionary.columns
        self._streams = [
            [hashlib.sha256() for _ in range(3 if c.type in _TEXT else 2)] for c in self._columns
        ]
        self._rows = 0
        self._check = check_order
        if check_order and (not self._columns or self._columns[0].type not in _ORDERED_FIRST):
            raise OutOfOrder("the first column's order is not checked for this type")
        self._last: Any = None

    def update(self, batch: Any) -> None:
        """Hash one ``pyarrow.RecordBatch`` (or Table) whose columns are the dictionary's."""
        for i in range(len(self._columns)):
            self._hash_column(i, batch.column(i), batch.num_rows)
        self._rows += batch.num_rows

    def submit(self, batch: Any, pool: Executor) -> list[Future[None]]:
        """:meth:`update` with each column hashed by ``pool`` (NumPy, Arrow and hashlib release
        the GIL); wait for every future before the next batch."""
        futures = [
            pool.submit(self._hash_column, i, batch.column(i), batch.num_rows)
            for i in range(len(self._columns))
        ]
        self._rows += batch.num_rows
        return futures

    def _hash_column(self, i: int, array: Any, n: int) -> None:
        if n == 0:
            return
        column, streams = self._columns[i], self._streams[i]
        array = _combined(array)
        if array.null_count == 0:
            streams[0].update(np.ones(n, dtype=np.uint8).data)
        else:
            streams[0].update(_valid(array).data)
        values = _encode(column.type, array, streams)
        if i == 0 and self._check:
            self._in_order(array, values)

    def hexdigest(self) -> str:
        header = json.dumps(
            {
                "fingerprint": f"causeway.rows.{SCHEME}",
                "rows": self._rows,
                "columns": [[c.name, c.type.value] for c in self._columns],
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        final = hashlib.sha256(len(header).to_bytes(8, "little") + header)
        for streams in self._streams:
            for stream in streams:
                final.update(stream.digest())
        return PREFIX + final.hexdigest()[:_HEX]

    def _in_order(self, array: Any, values: npt.NDArray[Any]) -> None:
        if array.null_count:
            raise OutOfOrder("a missing value in the first column")
        if len(values) > 1 and not bool(np.all(values[1:] > values[:-1])):
            raise OutOfOrder("the first column does not increase")
        if self._last is not None and not values[0] > self._last:
            raise OutOfOrder("the first column does not increase")
        self._last = values[-1]


def _combined(array: Any) -> Any:
    """One contiguous Arrow array (a ChunkedArray's chunks joined)."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def _valid(array: Any) -> npt.NDArray[np.uint8]:
    import pyarrow.compute as pc

    return np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=np.uint8)


def _encode(kind: ColumnType, array: Any, streams: list[Any]) -> npt.NDArray[Any]:
    """Feed the column's value streams; return the values (as hashed) for the order check."""
    import pyarrow as pa

    if kind in _TEXT:
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            array = array.cast(pa.large_string())
        array = array.fill_null("") if array.null_count else array
        width = np.int64 if pa.types.is_large_string(array.type) else np.int32
        offsets = np.frombuffer(array.buffers()[1], dtype=width)[
            array.offset : array.offset + len(array) + 1
        ]
        streams[1].update(np.diff(offsets).astype("<i8").data)
        data = array.buffers()[2]
        if data is not None:
            streams[2].update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
        return offsets
    if kind is ColumnType.BOOLEAN:
        filled = array.fill_null(False) if array.null_count else array
        values = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.uint8)
    elif kind is ColumnType.DATE:
        filled = array.fill_null(0) if array.null_count else array
        values = filled.cast(pa.int32()).to_numpy().astype("<i4", copy=False)
    elif kind in _NUMERIC:
        filled = array.fill_null(0.0) if array.null_count else array
        values = filled.cast(pa.float64()).to_numpy().astype("<f8", copy=False) + 0.0  # -0.0 -> 0.0
        nans = np.isnan(values)
        if nans.any():
            values[nans] = np.nan
    else:
        filled = array.fill_null(0) if array.null_count else array
        values = filled.cast(pa.int64()).to_numpy().astype("<i8", copy=False)
    streams[1].update(np.ascontiguousarray(values).data)
    return values


# -- DuckDB ------------------------------------------------------------------------------------


def _canonical(dictionary: Dictionary) -> str:
    return ", ".join(
        f"(CASE WHEN {quote(c.name)} = 0 THEN 0.0::DOUBLE ELSE {quote(c.name)} END) "
        f"AS {quote(c.name)}"
        if c.type in _NUMERIC
        else quote(c.name)
        for c in dictionary.columns
    )


def _order_by(dictionary: Dictionary, *, collate: str = "") -> str:
    return ", ".join(
        f"{quote(c.name)}{collate if c.type in _TEXT else ''} NULLS FIRST"
        for c in dictionary.columns
    )


def duckdb_fingerprint(conn: duckdb.DuckDBPyConnection, table: str, dictionary: Dictionary) -> str:
    """Scheme v2 of the rows of ``table`` (a quoted table of ``conn`` with the dictionary's
    columns in the store's types). Rows already in canonical order are hashed as they are stored;
    otherwise DuckDB sorts them (spilling to disk beyond its memory limit) and they stream to
    hashlib as Arrow batches."""
    names = ", ".join(quote(c.name) for c in dictionary.columns)
    if dictionary.columns and dictionary.columns[0].type in _ORDERED_FIRST:
        hasher = RowHasher(dictionary, check_order=True)
        reader = _arrow(conn, f"SELECT {names} FROM {table}", BATCH_ROWS)
        try:
            _feed(hasher, reader)
            return hasher.hexdigest()
        except OutOfOrder:
            pass
        finally:
            reader.close()  # DuckDB runs nothing else on the connection while it is open
    hasher = RowHasher(dictionary)
    reader = _arrow(
        conn,
        f"SELECT {_canonical(dictionary)} FROM {table} ORDER BY {_order_by(dictionary)}",
        BATCH_ROWS,
    )
    _feed(hasher, reader)
    return hasher.hexdigest()


def _arrow(conn: duckdb.DuckDBPyConnection, sql: str, rows: int) -> Any:
    """The rows of ``sql`` as a stream of Arrow batches. DuckDB streams them only for
    ``conn.sql`` (an ``execute`` result is copied whole), which it refuses while an earlier
    ``execute`` result is unfinished; a drained trivial statement finishes it."""
    conn.execute("SELECT 1").fetchall()
    return conn.sql(sql).to_arrow_reader(rows)


def _feed(hasher: RowHasher, batches: Iterable[Any]) -> None:
    """Hash the batches' columns in two threads while DuckDB fetches the next batch."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="causeway-fingerprint") as pool:
        hashing: list[Future[None]] = []
        for batch in batches:
            for future in hashing:
                future.result()  # OutOfOrder stops the feed here
            hashing = hasher.submit(batch, pool)
        for future in hashing:
            future.result()


def postgres_order(dictionary: Dictionary) -> str:
    """The ``ORDER BY`` list that puts PostgreSQL rows (``typed_rows`` of a warehouse source) in
    canonical order: text compared byte by byte (``COLLATE "C"``), NULLs first; PostgreSQL orders
    numbers, dates and booleans as the scheme does (``-0`` equals ``0``)."""
    return _order_by(dictionary, collate=' COLLATE "C"')


# -- scheme v1 -----------------------------------------------------------------------------------


def legacy(conn: duckdb.DuckDBPyConnection, table: str, dictionary: Dictionary) -> str:
    """Scheme v1 of the rows of ``table``: only to recognise rows recorded under v1."""
    columns = ", ".join(f"{quote(c.name)} := {quote(c.name)}" for c in dictionary.columns)
    digest = hashlib.sha256()
    reader = _arrow(
        conn,
        f"SELECT sha256(to_json(struct_pack({columns}))::VARCHAR) AS h FROM {table} ORDER BY h",
        1 << 16,
    )
    for batch in reader:
        digest.update(_concatenated(batch.column(0)))
    return digest.hexdigest()


def _concatenated(strings: Any) -> bytes:
    """The UTF-8 bytes of an Arrow string array's values, joined (no nulls)."""
    import pyarrow as pa

    if pa.types.is_string(strings.type) or pa.types.is_large_string(strings.type):
        width = np.int64 if pa.types.is_large_string(strings.type) else np.int32
        offsets = np.frombuffer(strings.buffers()[1], dtype=width)
        start, end = offsets[strings.offset], offsets[strings.offset + len(strings)]
        return bytes(memoryview(strings.buffers()[2])[start:end])
    return "".join(strings.to_pylist()).encode()
