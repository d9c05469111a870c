"""A coarse grid that every site's data supports, agreed without revealing any site's values.

Histograms and survival tables are counted on fine bins over the dictionary's bounds. Releasing
fine counts would put single patients in cells, and suppressing those cells (as earlier versions
did) made most requests unusable. Instead the sites agree on a coarser grid in two rounds:

1. each site counts its rows in every node of a binary tree over the fine bins (the root covers
   all bins, each node's children halve it) and releases, per node, only whether the count
   passes its minimum cell count (zero, or at least the minimum) — an *indicator* part, never a
   count;
2. the hub cuts the tree where both halves pass at every site (:func:`cut`), and the sites count
   their rows in the resulting intervals, each of which holds zero or at least the minimum at
   every site, so the release gate has nothing left to suppress.

The grid is as fine as the sparsest site allows, and the result states its resolution.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from causeway.model.contribution import Part, PartKind
from causeway.model.errors import InvalidRequest

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Tree:
    """Nodes in breadth-first order: node i covers fine bins [lo[i], hi[i]); ``children[i]`` is
    (-1, -1) for a single bin."""

    bins: int
    lo: IntArray
    hi: IntArray
    children: npt.NDArray[np.int64]

    @property
    def size(self) -> int:
        return int(self.lo.shape[0])


@cache
def tree(bins: int) -> Tree:
    if bins < 1:
        raise InvalidRequest("a grid needs at least one bin")
    lo, hi, children = [0], [bins], []
    i = 0
    while i < len(lo):
        a, b = lo[i], hi[i]
        if b - a > 1:
            mid = a + (b - a) // 2
            children.append((len(lo), len(lo) + 1))
            lo += [a, mid]
            hi += [mid, b]
        else:
            children.append((-1, -1))
        i += 1
    return Tree(bins, np.array(lo), np.array(hi), np.array(children, dtype=np.int64))


def levels(bins: int) -> int:
    """How many levels the tree has: a value lies in exactly one node of each."""
    depth, size = 1, bins
    while size > 1:
        size = size - size // 2  # the larger half
        depth += 1
    return depth


def node_counts(fine: IntArray, bins: int) -> IntArray:
    """Counts per tree node, over the last axis of ``fine`` (shape (..., bins))."""
    t = tree(bins)
    cumulative = np.concatenate(
        [np.zeros((*fine.shape[:-1], 1), dtype=np.int64), np.cumsum(fine, axis=-1)], axis=-1
    )
    return np.asarray(cumulative[..., t.hi] - cumulative[..., t.lo], dtype=np.int64)


def cut(passes: npt.NDArray[np.bool_], bins: int) -> list[int]:
    """Boundaries (fine-bin indices from 0 to ``bins``) of the finest cut of the tree in which a
    node is split only where both of its halves pass; ``passes`` has one flag per node."""
    t = tree(bins)
    if passes.shape != (t.size,):
        raise InvalidRequest(f"a grid over {bins} bins has {t.size} nodes, not {passes.shape}")
    bounds: list[int] = []
    stack = [0]
    while stack:
        node = stack.pop()
        left, right = (int(c) for c in t.children[node])
        if left >= 0 and passes[left] and passes[right]:
            stack += [right, left]  # left first: boundaries come out in order
        else:
            bounds.append(int(t.lo[node]))
    return [*bounds, bins]


def check_boundaries(value: object, bins: int) -> list[int]:
    """The hub's grid, checked: a cut of the tree (every interval one of its nodes), so that the
    intervals released for one cohort in any number of queries are nodes of one tree, each of
    which must pass at the site (the gate refuses the whole release otherwise): no difference of
    releases can then isolate fewer rows than the minimum."""
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise InvalidRequest("the grid must be a list of bin boundaries")
    if not all(isinstance(b, int) and not isinstance(b, bool) for b in value):
        raise InvalidRequest("grid boundaries must be whole numbers")
    bounds = [int(b) for b in value]
    if bounds[0] != 0 or bounds[-1] != bins or any(b <= a for a, b in itertools.pairwise(bounds)):
        raise InvalidRequest(f"grid boundaries must rise strictly from 0 to {bins}")
    t = tree(bins)
    nodes = set(zip(t.lo.tolist(), t.hi.tolist(), strict=True))
    if any((a, b) not in nodes for a, b in itertools.pairwise(bounds)):
        raise InvalidRequest("the grid is not a cut of the bins' tree; this node refuses it")
    return bounds


def agreed_parts(fine: IntArray, bins: int, state: Mapping[str, object]) -> dict[str, Part]:
    """A round of the agreement over fine counts (shape (..., bins)): before the grid is agreed,
    the tree's pass/fail part ``passes``; once it is, the counts in its intervals,
    ``histogram``."""
    if state.get("grid") is None:
        return {"passes": Part(PartKind.COUNT, node_counts(fine, bins))}
    bounds = check_boundaries(state["grid"], bins)
    return {"histogram": Part(PartKind.COUNT, interval_counts(fine, bounds))}


def sensitivities(bins: int) -> dict[str, float]:
    """A row lies in one bin of a histogram, and in one node of each level of the tree."""
    return {"n": 1.0, "histogram": 1.0, "passes": levels(bins) ** 0.5}


def interval_counts(fine: IntArray, bounds: Sequence[int]) -> IntArray:
    """Counts per interval [bounds[j], bounds[j+1]) over the last axis of ``fine``."""
    cumulative = np.concatenate(
        [np.zeros((*fine.shape[:-1], 1), dtype=np.int64), np.cumsum(fine, axis=-1)], axis=-1
    )
    index = np.asarray(bounds, dtype=np.int64)
    return np.asarray(np.diff(cumulative[..., index], axis=-1), dtype=np.int64)


def fine_index(values: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]) -> IntArray:
    """Each value's fine bin: bin j holds (edges[j], edges[j+1]], the first bin also its lower
    edge, so a value rounded up to its interval's end never moves to a later interval."""
    bins = len(edges) - 1
    index = np.searchsorted(edges, values, side="left") - 1
    return np.clip(index, 0, bins - 1).astype(np.int64)
