"""A model's rows beyond a node's memory budget: read again from the engine, chunk by chunk.

A node holds a task's design between rounds (so each round is one pass of arithmetic) while it
fits the node's budget (:attr:`causeway.model.data.DataView.design_budget`). A larger one, of
plain numeric terms, is never held: every round reads its rows again in chunks of a bounded size
and adds up each chunk's sums, which are the same sums (every part of a model is a sum over
rows), in a different order of addition. The release gate judges the same rows the same way,
reading them again for each of its passes (:class:`causeway.model.release.DesignBlocks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from causeway.algorithms import design
from causeway.model.data import DataView
from causeway.model.errors import DataError

FloatArray = npt.NDArray[np.float64]
Columns = dict[str, FloatArray]
# float64 values per row a round holds beside the design's columns (response, weights, offset,
# linear predictor, means, working weights, scores and their temporaries)
ROW_OVERHEAD = 16
# a chunk takes at most this share of the budget; and its rows stay within these bounds
CHUNK_SHARE = 4
MIN_CHUNK_ROWS = 1
MAX_CHUNK_ROWS = 1 << 21


def row_bytes(width: int) -> int:
    """Bytes one row of ``width`` columns costs in a round held in memory."""
    return 8 * (width + ROW_OVERHEAD)


def over_budget(view: DataView, rows: int, width: int) -> bool:
    """Whether ``rows`` rows of ``width`` columns exceed the node's budget for a model."""
    return rows * row_bytes(width) > view.design_budget


def chunk_rows(budget: int, width: int) -> int:
    """Rows per chunk: a share of the budget, within :data:`MIN_CHUNK_ROWS` and
    :data:`MAX_CHUNK_ROWS`."""
    rows = budget // CHUNK_SHARE // row_bytes(width)
    return int(min(max(rows, MIN_CHUNK_ROWS), MAX_CHUNK_ROWS))


class PlainRows:
    """The complete cases of a design of plain terms (:func:`design.plain`) and ``extra``
    columns, read from the engine a chunk at a time whenever :meth:`chunks` is iterated. Every
    pass must read as many rows as the first: rows that change during a task fail it."""

    def __init__(
        self, algorithm: str, view: DataView, terms: Sequence[str], extra: Sequence[str]
    ) -> None:
        self.algorithm = algorithm
        self._view = view
        self.terms = list(terms)
        self._extra = list(extra)
        self._columns = design.plain_columns(self.terms, self._extra)
        self.rows = chunk_rows(view.design_budget, len(self._columns))
        self.n: int | None = None  # complete cases, known after the first pass

    def chunks(self) -> Iterator[tuple[FloatArray, Columns]]:
        """Each chunk's design (a view of the chunk) and its named columns."""
        seen = 0
        for block in self._view.float_chunks(self._columns, self.rows):
            seen += block.shape[0]
            yield design.plain_split(self.algorithm, block, self.terms, self._extra)
        if self.n is None:
            self.n = seen
        elif seen != self.n:
            raise DataError("the rows changed while they were read; run the task again")

    def blocks(self) -> Iterator[tuple[FloatArray, FloatArray | None]]:
        """The design, unweighted, chunk by chunk (:class:`~causeway.model.release.DesignBlocks`)."""
        for x, _ in self.chunks():
            yield x, None


class Weighted:
    """The rows of :class:`PlainRows` with each row's weight in one round, computed again from
    each chunk by ``weigh`` (:class:`~causeway.model.release.DesignBlocks`)."""

    def __init__(self, rows: PlainRows, weigh: Callable[[FloatArray, Columns], FloatArray]):
        self._rows = rows
        self._weigh = weigh

    def blocks(self) -> Iterator[tuple[FloatArray, FloatArray | None]]:
        for x, columns in self._rows.chunks():
            yield x, self._weigh(x, columns)
