"""Complementary (secondary) cell suppression for count tables.

The release gate suppresses *primary* cells: counts too small to publish. That alone does not hide
them, because a researcher can learn every margin of the table through other queries: the grand
total, every row and column total and, for tables with three or more axes, every sum over any subset
of axes. A lone suppressed cell in a row is then the row total minus the other cells. `protect` adds
*complementary* cells to the suppression so that this no longer works.

What it protects against
    Exact recovery through linear relations. With every published cell and every margin known, no
    suppressed cell is determined by the resulting linear system: for each suppressed cell there is
    another table with the same published cells and the same margins in which that cell differs.
    `determined` is the check, and `protect`'s result always passes it.

What it does not protect against
    Bounds. Counts are non-negative, so an attacker can still solve two linear programmes per cell
    (minimise and maximise it subject to the margins) and narrow it to an interval, sometimes a
    narrow one; a zero complementary cell, for instance, gives its partner's true value as an upper
    bound. We prefer small non-zero complementary cells partly for that reason, but we do not
    enforce protection intervals (the Cox / Fischetti-Salazar model). Nor does this module protect
    related tables jointly: two releases of overlapping tables must share one suppression pattern.

Conventions
    Summing over an axis of length 1 aggregates nothing: that "margin" is the table itself, which
    is the thing being released, so such axes are ignored (a 1 x n table is protected as a 1-D
    table). A table with a single cell has no margin other than that cell: if the cell is
    suppressed the whole table, total included, must be withheld, and `determined` does not flag it.

How
    The margins over single axes (all line sums) span every other margin, so they are the only
    constraints. 1-D: the total is known, so suppressed cells come in twos or more. 2-D: suppressed
    cells are the edges of a bipartite graph (rows vs columns) and a cell is determined exactly
    when its edge is a bridge; each bridge is closed into a cycle along the cheapest path, in
    O(cells) per bridge. N-D: a rank test, and the hypercube method (suppress the cheapest box
    with the exposed cell at one corner, whose alternating sum is invisible to every margin).

Cost of a complementary cell: its count plus one (so fewer cells also wins ties); zero cells only
when no non-zero choice exists; cells already suppressed are free. Ties break on the lowest index,
so the same table always gets the same mask.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["determined", "protect"]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Cell = tuple[int, ...]
_T = TypeVar("_T")

# A null-space component below this (squared norm) counts as zero; genuine components of the 0/1
# margin systems we see are orders of magnitude larger, float noise orders of magnitude smaller.
_TOLERANCE = 1e-9


def protect(values: IntArray, primary: BoolArray) -> BoolArray:
    """The full suppression mask (primary plus complementary cells) such that, with every margin of
    the table known, no suppressed cell's value is determined by the linear system of margins."""
    values = np.asarray(values)
    mask = _bool_mask(values.shape, primary).copy()
    if not mask.any():
        return mask
    if (values < 0).any():
        raise ValueError("counts must be non-negative")
    shape = _proper_shape(values.shape)
    cost = _cost(values.reshape(shape))
    work = mask.reshape(shape)
    if len(shape) == 1:
        _protect_1d(cost, work)
    elif len(shape) == 2:
        _protect_2d(cost, work)
    elif len(shape) > 2:
        _protect_nd(cost, work)
    return work.reshape(values.shape)


def determined(shape: tuple[int, ...], suppressed: BoolArray) -> BoolArray:
    """Cells among ``suppressed`` whose value an attacker who knows all the unsuppressed cells and
    every margin (all sums over any subset of axes, grand total included) can solve for exactly."""
    mask = _bool_mask(tuple(shape), suppressed)
    proper = mask.reshape(_proper_shape(mask.shape))
    if proper.ndim == 1:
        exposed = _determined_1d(proper)
    elif proper.ndim == 2:
        exposed = _determined_2d(proper)
    else:
        exposed = _determined_by_rank(proper)
    return exposed.reshape(mask.shape)


def _bool_mask(shape: tuple[int, ...], mask: BoolArray) -> BoolArray:
    mask = np.asarray(mask, dtype=np.bool_)
    if mask.shape != shape:
        raise ValueError(f"mask shape {mask.shape} does not match table shape {shape}")
    return mask


def _proper_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(n for n in shape if n != 1)


def _cost(values: IntArray) -> FloatArray:
    counts = values.astype(np.float64)
    # Larger than any set of non-zero cells, so zeros are used only when nothing else will do.
    zero_cost = counts.sum() + counts.size + 1.0
    return np.where(counts > 0, counts + 1.0, zero_cost)


# 1-D ---------------------------------------------------------------------------------------------


def _determined_1d(mask: BoolArray) -> BoolArray:
    # The grand total is the only margin: it pins a suppressed cell only when it is alone.
    return mask.copy() if mask.sum() == 1 else np.zeros_like(mask)


def _protect_1d(cost: FloatArray, mask: BoolArray) -> None:
    if mask.sum() == 1:
        mask[int(np.argmin(np.where(mask, np.inf, cost)))] = True


# 2-D ---------------------------------------------------------------------------------------------


def _determined_2d(mask: BoolArray) -> BoolArray:
    rows, cols = np.nonzero(mask)
    exposed = np.zeros_like(mask)
    edges = list(zip(rows.tolist(), (mask.shape[0] + cols).tolist(), strict=True))
    bridges = _bridges(mask.shape[0] + mask.shape[1], edges)
    exposed[rows[bridges], cols[bridges]] = True
    return exposed


def _bridges(n_nodes: int, edges: list[tuple[int, int]]) -> npt.NDArray[np.bool_]:
    """Which edges are bridges (on no cycle): Tarjan's low-link, iterative to spare the stack."""
    adjacent: list[list[tuple[int, int]]] = [[] for _ in range(n_nodes)]
    for edge, (a, b) in enumerate(edges):
        adjacent[a].append((b, edge))
        adjacent[b].append((a, edge))
    found = np.zeros(len(edges), dtype=np.bool_)
    order = [-1] * n_nodes
    low = [0] * n_nodes
    clock = 0
    for root in range(n_nodes):
        if order[root] != -1 or not adjacent[root]:
            continue
        order[root] = low[root] = clock
        clock += 1
        stack: list[tuple[int, int, Iterator[tuple[int, int]]]] = [(root, -1, iter(adjacent[root]))]
        while stack:
            node, via, pending = stack[-1]
            for neighbour, edge in pending:
                if edge == via:
                    continue
                if order[neighbour] == -1:
                    order[neighbour] = low[neighbour] = clock
                    clock += 1
                    stack.append((neighbour, edge, iter(adjacent[neighbour])))
                    break
                low[node] = min(low[node], order[neighbour])
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    found[via] = low[node] > order[parent]
    return found


def _protect_2d(cost: FloatArray, mask: BoolArray) -> None:
    # Adding edges never breaks a cycle, so every round removes at least one bridge for good.
    for _ in range(mask.size):
        exposed = np.flatnonzero(_determined_2d(mask))
        if not exposed.size:
            return
        row, col = np.unravel_index(exposed[0], mask.shape)
        for cell in _cheapest_cycle(np.where(mask, 0.0, cost), int(row), int(col)):
            mask[cell] = True
    raise RuntimeError("complementary suppression did not converge")


def _cheapest_cycle(weights: FloatArray, row: int, col: int) -> list[Cell]:
    """The cells of the cheapest path from column ``col`` back to ``row`` avoiding cell
    (row, col) itself; with that cell it closes a cycle. Dense Dijkstra over rows and columns."""
    n_rows = weights.shape[0]
    weights = weights.copy()
    weights[row, col] = np.inf
    n_nodes = n_rows + weights.shape[1]
    distance = np.full(n_nodes, np.inf)
    previous = np.full(n_nodes, -1)
    settled = np.zeros(n_nodes, dtype=np.bool_)
    distance[n_rows + col] = 0.0
    while not settled[row]:
        node = int(np.argmin(np.where(settled, np.inf, distance)))
        settled[node] = True
        if node < n_rows:
            span, step = slice(n_rows, None), weights[node, :]
        else:
            span, step = slice(0, n_rows), weights[:, node - n_rows]
        offer = distance[node] + step
        better = (offer < distance[span]) & ~settled[span]
        distance[span][better] = offer[better]
        previous[span][better] = node
    return _path_cells(previous, row, n_rows)


def _path_cells(previous: npt.NDArray[np.int_], end: int, n_rows: int) -> list[Cell]:
    cells: list[Cell] = []
    node = end
    while previous[node] != -1:
        a, b = sorted((node, int(previous[node])))
        cells.append((a, b - n_rows))
        node = int(previous[node])
    return cells


# N-D ---------------------------------------------------------------------------------------------


def _determined_by_rank(mask: BoolArray) -> BoolArray:
    """The generic test: a suppressed cell is determined iff its unit vector lies in the row space
    of the line-sum equations restricted to the suppressed cells, i.e. iff no null vector of that
    system touches it."""
    cells = np.flatnonzero(mask)
    exposed = np.zeros_like(mask)
    if cells.size == 0 or mask.ndim == 0:
        return exposed
    equations = _line_sums(mask.shape, cells)
    _, singular, vt = np.linalg.svd(equations)
    tolerance = singular.max(initial=0.0) * max(equations.shape) * np.finfo(np.float64).eps
    rank = int((singular > tolerance).sum())
    freedom = (vt[rank:] ** 2).sum(axis=0)
    exposed.flat[cells] = freedom < _TOLERANCE
    return exposed


def _line_sums(shape: tuple[int, ...], cells: IntArray) -> FloatArray:
    """One row per line (all axes fixed but one) through a suppressed cell, one column per
    suppressed cell. A sum over several axes is a sum of line sums, so these span every margin."""
    index = np.unravel_index(cells, shape)
    blocks = []
    for axis in range(len(shape)):
        others = [k for k in range(len(shape)) if k != axis]
        line = np.ravel_multi_index([index[k] for k in others], [shape[k] for k in others])
        _, row = np.unique(line, return_inverse=True)
        block = np.zeros((int(row.max()) + 1, cells.size))
        block[row, np.arange(cells.size)] = 1.0
        blocks.append(block)
    return np.vstack(blocks)


def _protect_nd(cost: FloatArray, mask: BoolArray) -> None:
    # As in 2-D, suppressing more never exposes a cell, so each round fixes one for good.
    for _ in range(mask.size):
        exposed = np.flatnonzero(_determined_by_rank(mask))
        if not exposed.size:
            return
        corner = tuple(int(i) for i in np.unravel_index(exposed[0], mask.shape))
        for cell in _cheapest_box(np.where(mask, 0.0, cost), corner):
            mask[cell] = True
    raise RuntimeError("complementary suppression did not converge")


def _cheapest_box(weights: FloatArray, corner: Cell) -> list[Cell]:
    """The other corners of the cheapest box with ``corner`` as one corner: its +1/-1 alternating
    pattern sums to zero along every line, so the margins cannot see it."""
    alternatives = [np.delete(np.arange(n), i) for n, i in zip(weights.shape, corner, strict=True)]
    along = [
        a.reshape([-1 if k == axis else 1 for k in range(weights.ndim)])
        for axis, a in enumerate(alternatives)
    ]
    flips = [f for f in itertools.product((False, True), repeat=weights.ndim) if any(f)]
    total = np.zeros([a.size for a in alternatives])
    for flip in flips:
        total += weights[_corner_index(flip, along, corner)]
    best = np.unravel_index(int(np.argmin(total)), total.shape)
    chosen = [int(a[i]) for a, i in zip(alternatives, best, strict=True)]
    return [_corner_index(flip, chosen, corner) for flip in flips]


def _corner_index(
    flip: tuple[bool, ...], other: Sequence[_T], corner: Cell
) -> tuple[_T | int, ...]:
    return tuple(o if f else c for f, o, c in zip(flip, other, corner, strict=True))
