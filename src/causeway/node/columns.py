"""Numeric columns leaving the engine as one float64 matrix, batch by batch, without a DataFrame.

A model of plain numeric terms needs its columns as contiguous floats, nothing else: the rows
where none of them is missing (NULL or NaN), in the order the engine returns them (that of
``DataView.frame``). The matrix is allocated once at its final size and filled from Arrow record
batches, so a node holds the matrix and one batch, never a DataFrame of the rows beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from causeway.model.errors import DataError
from causeway.model.release import Summands
from causeway.query import quote

FloatArray = npt.NDArray[np.float64]
# rows per Arrow batch: a batch of ten columns is ~10 MB
BATCH_ROWS = 131_072


def select_complete(columns: Sequence[str | None], source: str, condition: str) -> str:
    """SQL selecting ``columns`` as DOUBLE from ``source`` where ``condition`` holds and none of
    them is NULL or NaN (the complete cases); None selects a column of ones (an intercept)."""
    if not columns:
        raise DataError("no columns to read")
    read = [f"CAST({quote(c)} AS DOUBLE)" for c in columns if c is not None]
    complete = " AND ".join(f"{c} IS NOT NULL AND NOT isnan({c})" for c in read) or "TRUE"
    cast = [f"CAST({quote(c)} AS DOUBLE)" if c is not None else "1.0::DOUBLE" for c in columns]
    return f"SELECT {', '.join(cast)} FROM {source} WHERE ({condition}) AND {complete}"


def magnitudes_sql(column: str, source: str, condition: str, keep: int) -> str:
    """SQL of one row: the sum of ``column``'s absolute values where it is neither NULL nor NaN
    and the ``keep`` largest of them (a list, largest first)."""
    value = f"abs(CAST({quote(column)} AS DOUBLE))"
    return (
        f"SELECT fsum({value}), max({value}, {int(keep)}) FROM {source} WHERE ({condition}) "
        f"AND {quote(column)} IS NOT NULL AND NOT isnan(CAST({quote(column)} AS DOUBLE))"
    )


def summands_of(row: Sequence[Any] | None) -> Summands:
    """:class:`Summands` from a row of :func:`magnitudes_sql`."""
    if row is None or row[0] is None:
        return Summands(0.0, ())
    return Summands(float(row[0]), tuple(float(v) for v in row[1] or ()))


def fill(batches: Iterable[Any], rows: int, width: int) -> FloatArray:
    """The (rows x width) matrix, column-major (each column contiguous), of Arrow record
    batches of ``width`` float64 columns holding ``rows`` rows in all."""
    out = np.empty((rows, width), dtype=np.float64, order="F")
    at = 0
    for batch in batches:
        m = int(batch.num_rows)
        if at + m > rows:
            raise DataError("the rows changed while they were read; run the task again")
        for j in range(width):
            out[at : at + m, j] = batch.column(j).to_numpy(zero_copy_only=False)
        at += m
    if at != rows:
        raise DataError("the rows changed while they were read; run the task again")
    return out


def chunks(batches: Iterable[Any], rows: int, width: int) -> Iterator[FloatArray]:
    """The rows of Arrow record batches of ``width`` float64 columns as column-major matrices
    of ``rows`` rows each (the last one shorter): one chunk and one batch held at a time."""
    out = np.empty((rows, width), dtype=np.float64, order="F")
    at = 0
    for batch in batches:
        m, taken = int(batch.num_rows), 0
        while taken < m:
            step = min(m - taken, rows - at)
            for j in range(width):
                column = batch.column(j).slice(taken, step)
                out[at : at + step, j] = column.to_numpy(zero_copy_only=False)
            at, taken = at + step, taken + step
            if at == rows:
                yield out
                out, at = np.empty((rows, width), dtype=np.float64, order="F"), 0
    if at:
        yield out[:at]


def from_arrow(table: Any, columns: Sequence[str | None]) -> FloatArray:
    """The complete cases of ``columns`` of an in-memory Arrow table (a warehouse's pulled
    rows) as one column-major float64 matrix; None is a column of ones."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = [
        np.ones(table.num_rows)
        if c is None
        else pc.cast(table.column(c), pa.float64()).to_numpy(zero_copy_only=False)
        for c in columns
    ]
    keep = np.ones(table.num_rows, dtype=bool)
    for v in values:
        keep &= ~np.isnan(v)
    out = np.empty((int(keep.sum()), len(columns)), dtype=np.float64, order="F")
    for j, v in enumerate(values):
        out[:, j] = v[keep]
    return out
