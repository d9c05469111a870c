"""The row sets a release declares (:class:`~causeway.model.release.Partition`), found in a
node's rows: one label per row, the same rule the algorithms count by.

Levels and booleans label by value; a :class:`~causeway.model.release.Binning` labels by
interval with :func:`causeway.algorithms.grid.fine_index`, the function the grid analyses bin
with, so a set is exactly the rows its released count covers.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from causeway.algorithms import grid
from causeway.model.release import Partition

IntArray = npt.NDArray[np.int64]


def labels(frame: pd.DataFrame, partition: Partition) -> IntArray:
    """Each row's set (0, 1, …) under ``partition``, or -1 for a row missing one of its
    columns; ``frame`` holds at least the partition's columns, one row per row of the cohort."""
    rows = len(frame)
    label = np.zeros(rows, dtype=np.int64)
    missing = np.zeros(rows, dtype=bool)
    for name in partition.columns:
        codes, uniques = pd.factorize(frame[name], use_na_sentinel=True)
        missing |= codes < 0
        label = label * max(len(uniques), 1) + np.maximum(codes, 0)
    for binning in partition.bins:
        values = pd.to_numeric(frame[binning.column], errors="coerce").to_numpy(np.float64)
        absent = np.isnan(values)
        missing |= absent
        edges = np.asarray(binning.edges, dtype=np.float64)
        index = grid.fine_index(np.where(absent, edges[0], values), edges)
        label = label * max(len(edges) - 1, 1) + index
    label[missing] = -1
    return label


def sets(
    ids: npt.NDArray[np.int64], frame: pd.DataFrame, partitions: Sequence[Partition]
) -> Iterator[tuple[int, Hashable, IntArray]]:
    """The row ids of every non-empty set of every partition in one batch of rows (``ids``
    aligned with ``frame``), each with its partition's index and a key naming the set in any
    batch (its values of the columns, its interval's number)."""
    for number, partition in enumerate(partitions):
        label = labels(frame, partition)
        keep = label >= 0
        if not keep.any():
            continue
        kept, members, rows = label[keep], ids[keep], np.flatnonzero(keep)
        order = np.argsort(kept, kind="stable")
        kept, members, rows = kept[order], members[order], rows[order]
        starts = np.flatnonzero(np.r_[True, kept[1:] != kept[:-1]])
        for start, group in zip(starts, np.split(members, starts[1:]), strict=True):
            yield number, _key(frame, partition, int(rows[start])), group


def _key(frame: pd.DataFrame, partition: Partition, row: int) -> Hashable:
    values: list[Hashable] = [_plain(frame[name].iloc[row]) for name in partition.columns]
    for binning in partition.bins:
        value = np.array([float(frame[binning.column].iloc[row])])
        values.append(int(grid.fine_index(value, np.asarray(binning.edges, np.float64))[0]))
    return tuple(values)


def _plain(value: object) -> Hashable:
    """A level as the same key in every batch (numpy scalars and booleans as Python's)."""
    item = getattr(value, "item", None)
    plain = item() if callable(item) else value
    return plain if isinstance(plain, bool | int | float | str) else str(plain)
