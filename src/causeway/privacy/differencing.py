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
import bisect
import itertools
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from causeway.model.errors import DataError, DisclosureRefused

__all__ = ["CohortMemory", "cohort_from_ids", "deserialize", "serialize"]

_MAX_ROW_ID = 2**32 - 1  # Roaring bitmaps hold 32-bit values


class CohortMemory:
    """The cohorts one (project, dataset) has released results for, and the sets within them
    (groups, cells, intervals) whose counts or sums those results gave.

    A set is remembered with its *kind*: the columns that define it (``"diagnosis,sex"``), so
    that the cells of the same table released for two cohorts are compared, and the cells of
    two different tables (linked tables, which the gate's complementary suppression and the
    policy's minimum weigh) are not. A set is judged *close* to a cohort or to a set of its
    kind when both one-sided differences are below the threshold and one is not zero: one
    within a few rows of the other (``count(sex == f & age != v)`` against the females of a
    crosstab). Two cohorts keep the stricter one-sided rule of :meth:`check`.
    """

    def __init__(
        self,
        threshold: int,
        cohorts: Iterable[AbstractBitMap] = (),
        sets: Iterable[tuple[str, AbstractBitMap]] = (),
    ) -> None:
        if threshold < 1:
            raise ValueError(f"the differencing threshold must be at least 1, not {threshold}")
        self.threshold = threshold
        # Remembered cohorts with their sizes, in release order.
        self._cohorts: list[tuple[FrozenBitMap, int]] = []
        # Remembered sets by kind, each list sorted by size (a set is judged only against sets
        # of nearly its size: sizes that differ by the threshold differ by as many rows).
        self._sets: dict[str, list[tuple[int, FrozenBitMap]]] = {}
        # The same sets, each filed under its k (threshold) smallest row ids, per kind. Two sets
        # of at least k rows within k - 1 rows of each other on both sides share a row, and the
        # smallest row they share has fewer than k rows of either set below it (those lie in one
        # set only): it is among the k smallest of both. So a new set need only look up its own k
        # smallest rows to meet every remembered set it could be close to.
        self._index: dict[str, dict[int, list[tuple[int, FrozenBitMap]]]] = {}
        # Everything remembered, by (size, smallest, largest row id): finds an identical one with
        # a few cheap equality tests (hashing a FrozenBitMap walks every value); True = a cohort.
        self._by_shape: dict[tuple[int, int, int], list[tuple[FrozenBitMap, bool]]] = {}
        for cohort in cohorts:
            self.remember(cohort)
        for kind, group in sets:
            self.remember(group, kind=kind)

    def __len__(self) -> int:
        return len(self._cohorts) + sum(len(v) for v in self._sets.values())

    def check(self, cohort: AbstractBitMap) -> None:
        """Raise :class:`DisclosureRefused` if releasing a result for ``cohort`` could single out
        fewer than ``threshold`` rows against a cohort or set already released."""
        if self._too_close(cohort):
            raise DisclosureRefused(
                "this query's cohort differs from a cohort this node already released results "
                f"for by fewer than {self.threshold} rows; results for it could single out "
                "individuals"
            )

    def check_sets(
        self, sets: Iterable[tuple[str, AbstractBitMap]], within: AbstractBitMap | None = None
    ) -> None:
        """Raise :class:`DisclosureRefused` if a set whose count or sums a result gives (a group,
        a cell, an interval; with its kind) is close to a remembered cohort or to a remembered
        set of its kind. A set released before reveals nothing new and passes; so does a set
        below the threshold, which the release gate withholds. The sets' own cohort
        (``within``), when released before, is not a cohort to judge them against: how a
        table's cells add up to its total is the release gate's to judge (complementary
        suppression, which takes the total as known), as it is within one release."""
        limit = self.threshold - 1
        own = None if within is None else self._remembered_cohort(within)
        cohorts = tuple(c for c in self._cohorts if c[0] is not own)
        for kind, group in sets:
            size = len(group)
            if size <= limit or self._known(group, size):
                continue
            near = [c for c in cohorts if abs(c[1] - size) <= limit]
            near += [(b, n) for n, b in self._candidates(kind, group, size)]
            for other, other_size in near:
                common = group.intersection_cardinality(other)
                if _close(size - common, other_size - common, limit):
                    raise DisclosureRefused(
                        "a group, cell or interval this query would give counts for differs "
                        f"from a cohort or group this node already released by fewer than "
                        f"{self.threshold} rows; results for it could single out individuals"
                    )

    def remember(self, released: AbstractBitMap, *, kind: str | None = None) -> bool:
        """Remember a released cohort (or, with its ``kind``, a set within one); False when an
        identical one is already remembered as such (a set remembered again as a cohort is
        judged as a cohort from then on)."""
        # A private, run-optimised copy: contiguous ranges (common for real filters) shrink to
        # a few runs, and the caller's bitmap stays the caller's.
        frozen = FrozenBitMap(released, optimize=True)
        size = len(frozen)
        same_shape = self._by_shape.setdefault(_shape(frozen, size), [])
        as_cohort = [
            i for i, (other, cohort) in enumerate(same_shape) if cohort and other == frozen
        ]
        if kind is None:
            if as_cohort:
                return False
            same_shape.append((frozen, True))
            self._cohorts.append((frozen, size))
            return True
        if as_cohort or any(frozen == other for other, _ in self._sets_of(kind, size)):
            return False
        same_shape.append((frozen, False))
        bisect.insort_right(self._sets.setdefault(kind, []), (size, frozen), key=_size)
        index = self._index.setdefault(kind, {})
        for row in itertools.islice(frozen, self.threshold):
            index.setdefault(row, []).append((size, frozen))
        return True

    def _candidates(
        self, kind: str, group: AbstractBitMap, size: int
    ) -> list[tuple[int, FrozenBitMap]]:
        """The remembered sets of ``kind`` that ``group`` could be close to (a superset of
        them, each once)."""
        index = self._index.get(kind, {})
        limit = self.threshold - 1
        seen: dict[int, tuple[int, FrozenBitMap]] = {}
        for row in itertools.islice(group, self.threshold):
            for n, other in tuple(index.get(row, ())):
                if abs(n - size) <= limit:
                    seen[id(other)] = (n, other)
        return list(seen.values())

    def _sets_of(self, kind: str, size: int) -> list[tuple[FrozenBitMap, int]]:
        found = self._sets.get(kind, [])
        low = bisect.bisect_left(found, size, key=_size)
        high = bisect.bisect_right(found, size, key=_size)
        return [(b, n) for n, b in found[low:high]]

    def _near(
        self, found: Sequence[tuple[int, FrozenBitMap]], size: int
    ) -> Sequence[tuple[int, FrozenBitMap]]:
        limit = self.threshold - 1
        low = bisect.bisect_left(found, size - limit, key=_size)
        high = bisect.bisect_right(found, size + limit, key=_size)
        return found[low:high]

    def _remembered_cohort(self, cohort: AbstractBitMap) -> FrozenBitMap | None:
        same = self._by_shape.get(_shape(cohort, len(cohort)), ())
        return next((other for other, c in tuple(same) if c and other == cohort), None)

    def _known(self, released: AbstractBitMap, size: int) -> bool:
        same = self._by_shape.get(_shape(released, size), ())
        return any(released == other for other, _ in tuple(same))

    def _too_close(self, cohort: AbstractBitMap) -> bool:
        size = len(cohort)
        limit = self.threshold - 1
        if self._remembered_cohort(cohort) is not None:
            return False  # a cohort released before: its results reveal nothing new
        # A snapshot: another thread may remember a cohort while this one checks.
        for remembered, remembered_size in tuple(self._cohorts):
            common = cohort.intersection_cardinality(remembered)
            if 0 < size - common <= limit or 0 < remembered_size - common <= limit:
                return True
        for found in tuple(self._sets.values()):
            for other_size, other in self._near(tuple(found), size):
                common = cohort.intersection_cardinality(other)
                if _close(size - common, other_size - common, limit):
                    return True
        return False


def _close(only_here: int, only_there: int, limit: int) -> bool:
    """Two row sets within a few rows of each other: each side's difference at most ``limit``,
    and not identical."""
    return only_here <= limit and only_there <= limit and only_here + only_there > 0


def _size(item: tuple[int, FrozenBitMap]) -> int:
    return item[0]


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
