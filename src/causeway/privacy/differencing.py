"""Protection against differencing: a node remembers the cohorts it released results for.

Two released results whose cohorts differ by a few rows single those rows out: ``count(x > 5)``
minus ``count(x > 5 & x != v)`` says that one person has the value ``v``, and the same pair of
``summary`` results gives that person's values. So a node remembers, per (project, dataset), the
set of row ids (the *cohort*) of every result it released, and refuses a cohort C when, for some
remembered cohort R, either one-sided difference ``|C \\ R|`` or ``|R \\ C|`` lies between 1 and
``threshold - 1``. Checking each side on its own is stricter than the symmetric difference (a
cohort that adds one row and drops fifty is refused), and it also blocks the first step of
three-query attacks that walk towards a person from both sides. A repeated, identical cohort is
allowed: it reveals nothing new.

Cohorts are compressed bitmaps of row ids (Roaring, through ``pyroaring``). A check costs one
``intersection_cardinality`` per remembered cohort and never builds a difference:
``|C \\ R| = |C| - |C ∩ R|``. The refusal says nothing about sizes, only the public threshold.
"""

from __future__ import annotations

import array
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from causeway.model.errors import DataError, DisclosureRefused

__all__ = ["CohortMemory", "cohort_from_ids", "deserialize", "serialize"]

_MAX_ROW_ID = 2**32 - 1  # Roaring bitmaps hold 32-bit values


class CohortMemory:
    """The cohorts one (project, dataset) has released results for."""

    def __init__(self, threshold: int, cohorts: Iterable[AbstractBitMap] = ()) -> None:
        if threshold < 1:
            raise ValueError(f"the differencing threshold must be at least 1, not {threshold}")
        self.threshold = threshold
        # Remembered cohorts with their sizes, in release order.
        self._cohorts: list[tuple[FrozenBitMap, int]] = []
        # The same, by (size, smallest, largest row id): finds an identical cohort with a few
        # cheap equality tests (hashing a FrozenBitMap walks every value).
        self._by_shape: dict[tuple[int, int, int], list[FrozenBitMap]] = {}
        for cohort in cohorts:
            self.remember(cohort)

    def __len__(self) -> int:
        return len(self._cohorts)

    def check(self, cohort: AbstractBitMap) -> None:
        """Raise :class:`DisclosureRefused` if releasing a result for ``cohort`` could single out
        fewer than ``threshold`` rows against a cohort already released."""
        if self._too_close(cohort):
            raise DisclosureRefused(
                "this query's cohort differs from a cohort this node already released results "
                f"for by fewer than {self.threshold} rows; results for it could single out "
                "individuals"
            )

    def remember(self, cohort: AbstractBitMap) -> bool:
        """Remember a released cohort; False when an identical one is already remembered."""
        # A private, run-optimised copy: contiguous ranges (common for real filters) shrink to
        # a few runs, and the caller's bitmap stays the caller's.
        frozen = FrozenBitMap(cohort, optimize=True)
        size = len(frozen)
        same_shape = self._by_shape.setdefault(_shape(frozen, size), [])
        if any(frozen == other for other in same_shape):
            return False
        same_shape.append(frozen)
        self._cohorts.append((frozen, size))
        return True

    def _too_close(self, cohort: AbstractBitMap) -> bool:
        size = len(cohort)
        limit = self.threshold - 1
        # A snapshot: another thread may remember a cohort while this one checks.
        for remembered, remembered_size in tuple(self._cohorts):
            common = cohort.intersection_cardinality(remembered)
            if 0 < size - common <= limit or 0 < remembered_size - common <= limit:
                return True
        return False


def _shape(cohort: AbstractBitMap, size: int) -> tuple[int, int, int]:
    return (size, cohort.min(), cohort.max()) if size else (0, 0, 0)


def cohort_from_ids(ids: npt.NDArray[np.integer]) -> BitMap:
    """The cohort of these row ids (any order, repeats allowed; each must be in 0 .. 2³² - 1)."""
    values = np.asarray(ids).ravel()
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"row ids must be integers, not {values.dtype}")
    if values.size and (int(values.min()) < 0 or int(values.max()) > _MAX_ROW_ID):
        raise DataError(
            "row ids must lie between 0 and 2^32 - 1 for the differencing guard; "
            "this dataset is too large for it"
        )
    # array('I') is pyroaring's fast path: a bulk copy instead of one Python int per row.
    packed = array.array("I")
    packed.frombytes(np.ascontiguousarray(values, dtype=np.uint32).tobytes())
    cohort = BitMap(packed)
    cohort.run_optimize()
    return cohort


def cohort_from_batches(batches: Iterable[npt.NDArray[np.integer]]) -> BitMap:
    """:func:`cohort_from_ids` of row ids given a batch at a time (no batch held beyond its
    own turn: the cohort of 100 million contiguous rows is a few kilobytes)."""
    cohort = BitMap()
    for ids in batches:
        cohort |= cohort_from_ids(ids)
    cohort.run_optimize()
    return cohort


def serialize(cohort: AbstractBitMap) -> bytes:
    """The portable Roaring format of ``cohort``; equal cohorts give equal bytes."""
    # Rebuilt from the sorted values so that the container layout (and so the bytes, and any
    # digest of them) depends only on the content, not on how the bitmap was built.
    canonical = BitMap(cohort.to_array())
    canonical.run_optimize()
    return canonical.serialize()


def deserialize(data: bytes) -> BitMap:
    """The cohort :func:`serialize` wrote."""
    try:
        return BitMap.deserialize(data)
    except ValueError:
        raise DataError("a stored cohort is not a valid Roaring bitmap") from None
