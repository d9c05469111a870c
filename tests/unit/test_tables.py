from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from causeway.privacy.tables import _determined_by_rank, determined, protect

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


# An oracle written from the threat model, independently of the module: one equation per cell of
# every margin (every sum over a non-empty subset of axes that aggregates more than one cell).


def margin_equations(shape: tuple[int, ...]) -> Floats:
    index = np.indices(shape).reshape(len(shape), -1)
    rows = []
    for r in range(1, len(shape) + 1):
        for summed in itertools.combinations(range(len(shape)), r):
            if np.prod([shape[k] for k in summed]) == 1:
                continue  # summing over length-1 axes gives back the table itself
            kept = [k for k in range(len(shape)) if k not in summed]
            key = np.ravel_multi_index(index[kept], [shape[k] for k in kept]) if kept else 0
            _, which = np.unique(np.broadcast_to(key, index.shape[1]), return_inverse=True)
            rows.append(np.eye(int(which.max()) + 1)[which].T)
    return np.vstack(rows) if rows else np.zeros((0, int(np.prod(shape))))


def oracle(shape: tuple[int, ...], suppressed: Bools) -> Bools:
    a = margin_equations(shape)[:, suppressed.ravel()]
    rank = np.linalg.matrix_rank(a) if a.size else 0
    exposed = np.zeros(suppressed.size, dtype=np.bool_)
    for j, cell in enumerate(np.flatnonzero(suppressed)):
        unit = np.eye(a.shape[1])[j]
        exposed[cell] = np.linalg.matrix_rank(np.vstack([a, unit])) == rank
    return exposed.reshape(shape)


def tables(min_dims: int, max_dims: int, max_side: int) -> st.SearchStrategy[tuple[Ints, Bools]]:
    shapes = hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)
    return shapes.flatmap(
        lambda shape: st.tuples(
            hnp.arrays(np.int64, shape, elements=st.integers(0, 30)),
            hnp.arrays(np.bool_, shape, elements=st.booleans()),
        )
    )


def sparse(primary: Bools) -> Bools:
    # Realistic gates suppress a few cells; keep at most every third one so tables are not all grey.
    every_third: Bools = np.arange(primary.size).reshape(primary.shape) % 3 == 0
    return primary & every_third


def check_protected(values: Ints, primary: Bools) -> None:
    mask = protect(values, primary)
    assert mask.shape == values.shape
    assert mask[primary].all(), "a primary cell was released"
    assert not oracle(values.shape, mask).any()
    assert not determined(values.shape, mask).any()
    assert np.array_equal(protect(values.copy(), primary.copy()), mask), "not reproducible"
    assert np.array_equal(protect(values, mask), mask), "a safe mask was extended"


@settings(max_examples=50, deadline=None)
@given(tables(1, 1, 8))
def test_protected_1d_tables_pass_the_oracle(table: tuple[Ints, Bools]) -> None:
    check_protected(table[0], sparse(table[1]))


@settings(max_examples=50, deadline=None)
@given(tables(2, 2, 7))
def test_protected_2d_tables_pass_the_oracle(table: tuple[Ints, Bools]) -> None:
    check_protected(table[0], sparse(table[1]))


@settings(max_examples=30, deadline=None)
@given(tables(3, 3, 4))
def test_protected_3d_tables_pass_the_oracle(table: tuple[Ints, Bools]) -> None:
    check_protected(table[0], sparse(table[1]))


@settings(max_examples=50, deadline=None)
@given(tables(2, 2, 8))
def test_fast_2d_check_agrees_with_the_rank_oracles(table: tuple[Ints, Bools]) -> None:
    suppressed = table[1]
    expected = oracle(suppressed.shape, suppressed)
    assert np.array_equal(determined(suppressed.shape, suppressed), expected)
    proper = suppressed.reshape([n for n in suppressed.shape if n != 1])
    assert np.array_equal(_determined_by_rank(proper).reshape(suppressed.shape), expected)


@settings(max_examples=30, deadline=None)
@given(st.one_of(tables(1, 1, 6), tables(3, 3, 3)))
def test_determined_agrees_with_the_oracle_in_1d_and_3d(table: tuple[Ints, Bools]) -> None:
    suppressed = table[1]
    expected = oracle(suppressed.shape, suppressed)
    assert np.array_equal(determined(suppressed.shape, suppressed), expected)


def test_row_total_recovers_a_lone_small_cell_until_it_is_protected() -> None:
    values = np.array([[8, 3, 25], [6, 7, 30], [35, 28, 50]])
    primary = np.zeros(values.shape, dtype=np.bool_)
    primary[0, 1] = True
    assert determined(values.shape, primary).tolist() == primary.tolist()
    assert attack(values, primary) == pytest.approx([3.0])

    mask = protect(values, primary)
    # The cheapest cycle through (0, 1) runs through the small cells 8, 6 and 7.
    assert np.flatnonzero(mask).tolist() == [0, 1, 3, 4]
    assert not determined(values.shape, mask).any()
    for cell in zip(*np.nonzero(mask), strict=True):
        other = another_consistent_table(values, mask, cell)
        assert other[cell] != values[cell]


def attack(values: Ints, suppressed: Bools) -> list[float]:
    """What an attacker solves for with every margin and every published cell known."""
    a = margin_equations(values.shape)
    hidden, shown = suppressed.ravel(), ~suppressed.ravel()
    rhs = a @ values.ravel() - a[:, shown] @ values.ravel()[shown]
    solution, _, rank, _ = np.linalg.lstsq(a[:, hidden], rhs, rcond=None)
    assert rank == hidden.sum(), "no unique solution"
    return [float(x) for x in solution]


def another_consistent_table(values: Ints, suppressed: Bools, cell: tuple[int, ...]) -> Floats:
    """A table with the same margins and published cells but a different value at ``cell``."""
    a = margin_equations(values.shape)
    hidden = np.flatnonzero(suppressed)
    _, singular, vt = np.linalg.svd(a[:, hidden])
    null = vt[int((singular > 1e-9).sum()) :]
    direction = np.zeros(values.size)
    direction[hidden] = (
        null.T @ null[:, list(hidden).index(np.ravel_multi_index(cell, values.shape))]
    )
    other = values.astype(np.float64) + direction.reshape(values.shape)
    assert np.allclose(a @ other.ravel(), a @ values.ravel())
    assert np.array_equal(other[~suppressed], values[~suppressed])
    return other


def test_a_lone_1d_cell_gets_the_smallest_non_zero_partner() -> None:
    values = np.array([5, 2, 0, 7, 3, 3])
    primary = np.array([False, True, False, False, False, False])
    assert protect(values, primary).tolist() == [False, True, False, False, True, False]


def test_a_zero_cell_is_used_when_nothing_else_is_left() -> None:
    assert protect(np.array([3, 0]), np.array([True, False])).tolist() == [True, True]


def test_two_primaries_in_one_row_share_one_complementary_row() -> None:
    values = np.array([[2, 4, 50], [30, 30, 40], [9, 8, 60]])
    primary = np.array([[True, True, False], [False, False, False], [False, False, False]])
    mask = protect(values, primary)
    assert mask.astype(int).tolist() == [[1, 1, 0], [0, 0, 0], [1, 1, 0]]


def test_one_primary_in_a_2x2x2_table_needs_the_whole_box() -> None:
    primary = np.zeros((2, 2, 2), dtype=np.bool_)
    primary[0, 0, 0] = True
    assert protect(np.arange(1, 9).reshape(2, 2, 2), primary).all()


def test_no_primary_means_no_suppression() -> None:
    values = np.arange(12).reshape(3, 4)
    primary = np.zeros((3, 4), dtype=np.bool_)
    mask = protect(values, primary)
    assert not mask.any() and mask is not primary


def test_axes_of_length_one_are_ignored() -> None:
    values = np.array([[5, 2, 9, 4]])
    primary = np.array([[False, True, False, False]])
    assert protect(values, primary).tolist() == [[False, True, False, True]]
    values_3d = np.arange(1, 13).reshape(3, 1, 4)
    primary_3d = np.zeros((3, 1, 4), dtype=np.bool_)
    primary_3d[1, 0, 2] = True
    expected = protect(values_3d.reshape(3, 4), primary_3d.reshape(3, 4))
    assert np.array_equal(protect(values_3d, primary_3d), expected.reshape(3, 1, 4))
    assert expected.sum() == 4


def test_a_single_cell_table_is_withheld_whole() -> None:
    # Its total is the cell itself; the caller withholds both, so nothing is left to solve with.
    for shape in [(1,), (1, 1)]:
        mask = protect(np.full(shape, 3), np.ones(shape, dtype=np.bool_))
        assert mask.all()
        assert not determined(shape, mask).any()


def test_empty_tables_give_empty_masks() -> None:
    empty = np.zeros((0, 3), dtype=np.bool_)
    assert protect(empty.astype(np.int64), empty).shape == (0, 3)
    assert determined((4, 0), np.zeros((4, 0), dtype=np.bool_)).shape == (4, 0)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        protect(np.zeros((2, 3), dtype=np.int64), np.zeros((3, 2), dtype=np.bool_))
    with pytest.raises(ValueError, match="non-negative"):
        protect(np.array([-1, 4]), np.array([True, False]))
