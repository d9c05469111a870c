"""Sums over a design's rows taken block by block: X'WX, X'v and X b with bounded memory.

A node keeps its design (rows x terms) for the whole task; a round's products over it are taken
over blocks of :data:`CHUNK_ROWS` rows, so their temporaries are one block's (about 1 MB for ten
terms, held in the processor's cache) and never a second copy of the design. ``shift`` subtracts
a constant from each column of every block as it is read (a GLM's shared column shifts), which
gives the same values as shifting the whole design first, without keeping that copy.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# rows per block: 16,384 rows of ten float64 columns is 1.3 MB
CHUNK_ROWS = 16_384


def spans(n: int) -> Iterator[slice]:
    """The row blocks of ``n`` rows."""
    for start in range(0, n, CHUNK_ROWS):
        yield slice(start, min(start + CHUNK_ROWS, n))


def rows(x: FloatArray, span: slice, shift: FloatArray | None) -> FloatArray:
    """Rows ``span`` of the design, less ``shift`` (None: as they are)."""
    block = x[span]
    return block if shift is None else block - shift


def cross(
    x: FloatArray, weights: FloatArray | None = None, shift: FloatArray | None = None
) -> FloatArray:
    """X' diag(weights) X (weights None: X'X) of the (shifted) design."""
    n, p = x.shape
    out = np.zeros((p, p))
    for span in spans(n):
        block = rows(x, span, shift)
        scaled = block if weights is None else block * weights[span, None]
        out += _product(block, scaled)
    return out


def xtv(x: FloatArray, v: FloatArray, shift: FloatArray | None = None) -> FloatArray:
    """X'v of the (shifted) design."""
    n, p = x.shape
    out = np.zeros(p)
    for span in spans(n):
        out += _vector(rows(x, span, shift), v[span])
    return out


def linear(x: FloatArray, beta: FloatArray, shift: FloatArray | None = None) -> FloatArray:
    """X b of the (shifted) design."""
    if shift is None:
        return np.asarray(x @ beta, dtype=np.float64)
    out = np.empty(x.shape[0])
    for span in spans(x.shape[0]):
        out[span] = rows(x, span, shift) @ beta
    return out


def add_cross(out: FloatArray, block: FloatArray, weights: FloatArray) -> None:
    """Add a block's X' diag(weights) X to ``out``."""
    out += _product(block, block * weights[:, None])


def add_xtv(out: FloatArray, block: FloatArray, v: FloatArray) -> None:
    """Add a block's X'v to ``out``."""
    out += _vector(block, v)


def _product(block: FloatArray, scaled: FloatArray) -> FloatArray:
    if block.shape[1] == 1:
        # one column (a null model): a plain sum; BLAS's threaded dot of a strided view wakes
        # its threads for every block, which on a busy machine costs ~10 ms a call
        return np.array([[np.sum(block[:, 0] * scaled[:, 0])]])
    return np.asarray(block.T @ scaled, dtype=np.float64)


def _vector(block: FloatArray, v: FloatArray) -> FloatArray:
    if block.shape[1] == 1:
        return np.array([np.sum(block[:, 0] * v)])
    return np.asarray(block.T @ v, dtype=np.float64)
