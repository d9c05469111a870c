"""What an algorithm's local step may ask of a node's data (implemented by the node's store).

Counting and grouping run inside the node's SQL engine; only the columns a model needs are pulled
out, filtered, as a DataFrame (or, for a design of plain numeric columns, as one float matrix of
the complete cases). An algorithm sees nothing else of the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from causeway.model.dictionary import Dictionary
from causeway.model.release import Summands


@dataclass(frozen=True)
class Moments:
    """Count of non-missing values, and sums of (x - c) and (x - c)² about a shared centre c."""

    n: int
    sum: float
    sum_sq: float


class DataView(Protocol):
    """The filtered rows of one dataset at one node."""

    @property
    def dictionary(self) -> Dictionary: ...

    def count(self) -> int:
        """Rows that pass the filter."""
        ...

    def row_ids(self) -> npt.NDArray[np.int64]:
        """Stable ids of the rows that pass the filter (the node's row numbers), for the
        differencing guard."""
        ...

    def row_id_batches(self) -> Iterator[npt.NDArray[np.int64]]:
        """:meth:`row_ids` a batch at a time, read from the engine as they are used (a cohort
        of 100 million rows is 800 MB of ids)."""
        ...

    def labelled(
        self, columns: Sequence[str]
    ) -> Iterator[tuple[npt.NDArray[np.int64], pd.DataFrame]]:
        """The row ids of :meth:`row_ids` and, row for row, the values of ``columns``, a batch
        at a time (which rows each released set holds, found without holding a large cohort's
        columns in memory)."""
        ...

    def group_counts(self, columns: Sequence[str]) -> pd.Series[int]:
        """Rows per combination of levels of ``columns`` (rows with a missing value left out).

        Indexed by the levels as strings (a MultiIndex for several columns); absent combinations
        are absent, not zero.
        """
        ...

    def moments(self, column: str, center: float) -> Moments:
        """Moments of a numeric column's non-missing values about ``center``."""
        ...

    def magnitudes(self, column: str, keep: int = 3) -> Summands:
        """The sum of a numeric column's absolute values over its non-missing values (NULL and
        NaN left out) and the ``keep`` largest of them, for the dominance rules: counted by the
        engine, the column never leaves it."""
        ...

    def frame(self, columns: Sequence[str]) -> pd.DataFrame:
        """The filtered rows of ``columns``; categorical columns as pandas categoricals whose
        categories are the dictionary's levels, in the dictionary's order."""
        ...

    def complete_floats(self, columns: Sequence[str | None]) -> npt.NDArray[np.float64]:
        """The filtered rows of numeric or boolean ``columns`` where none is missing (NULL or
        NaN), in the rows' order of :meth:`frame`, as one float64 matrix (rows x columns, each
        column contiguous; booleans 0/1; None a column of ones, a design's intercept): straight
        from the engine, without a DataFrame (a model's design of plain numeric terms)."""
        ...

    @property
    def design_budget(self) -> int:
        """Bytes a model's rows may take in this node's memory: a design beyond it is not held
        but read again in chunks (:meth:`float_chunks`) whenever its rows are needed."""
        ...

    def float_chunks(
        self, columns: Sequence[str | None], rows: int
    ) -> Iterator[npt.NDArray[np.float64]]:
        """The rows of :meth:`complete_floats`, in the same order, as matrices of at most
        ``rows`` rows, read from the engine one chunk at a time."""
        ...
