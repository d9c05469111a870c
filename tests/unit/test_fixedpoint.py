"""Fixed point for secure aggregation: encodings summed mod 2**64 over sites, masked or not, decode
to the exact fixed-point total, rounded once to float64, checked against Python's exact arithmetic
(``Fraction`` and ``int``) on the float64 inputs."""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from causeway.model.contribution import Part, PartKind
from causeway.model.errors import InvalidRequest
from causeway.model.fixedpoint import (
    FLOAT_LIMBS,
    FLOAT_RANGE,
    FRACTION_BITS,
    LIMB_BITS,
    MAX_SITES,
    RESOLUTION,
    FixedPointOverflow,
    decode,
    encode,
    slots,
)

EXAMPLES = settings(max_examples=50 if os.environ.get("CI") else 300, deadline=None)
FLOAT_KINDS = [kind for kind in PartKind if kind is not PartKind.COUNT]
LARGEST = float(np.nextafter(FLOAT_RANGE, 0.0))
HALF_RESOLUTION = Fraction(1, 2 ** (FRACTION_BITS + 1))
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _floats(bound: float) -> st.SearchStrategy[float]:
    """Floats below ``bound`` in magnitude: Hypothesis's own mix, every decade from 1e-20 to 1e23,
    and the edges of the grid (zeros, subnormals, ties between two multiples of 2**-64)."""
    decades = st.tuples(
        st.floats(1.0, 9.999), st.integers(-20, 23), st.sampled_from([1.0, -1.0])
    ).map(lambda t: t[2] * t[0] * 10.0 ** t[1])
    edges = st.sampled_from(
        [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, RESOLUTION, -RESOLUTION]
        + [k * 2.0**-65 for k in (1, -1, 3, -3, 5, -5)]
        + [LARGEST, -LARGEST, 2.0**78, -(2.0**78)]
    )
    anything = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    return st.one_of(anything, decades, edges).filter(lambda x: abs(x) < bound)


def _part(values: Any, kind: PartKind = PartKind.SUM) -> Part:
    return Part(kind, np.asarray(values))


def _fixed(x: float) -> int:
    """The exact fixed-point integer of a float: x * 2**64 rounded to nearest, ties to even."""
    return round(Fraction(x) * 2**FRACTION_BITS)


def _as_ints(encoding: npt.NDArray[np.uint64]) -> list[int]:
    """Read limb-major slots back as signed 144-bit integers, in plain Python ints."""
    limbs = encoding.reshape(FLOAT_LIMBS, -1)
    width = LIMB_BITS * FLOAT_LIMBS
    out = []
    for column in limbs.T:
        n = sum(int(limb) << (LIMB_BITS * i) for i, limb in enumerate(column))
        out.append(n - (1 << width) if n >> (width - 1) else n)
    return out


def _total(encodings: list[npt.NDArray[np.uint64]]) -> npt.NDArray[np.uint64]:
    """What the hub computes: the slot-wise sum, wrapping mod 2**64."""
    return np.sum(np.stack(encodings), axis=0, dtype=np.uint64)


def _masked(encodings: list[npt.NDArray[np.uint64]], seed: int) -> list[npt.NDArray[np.uint64]]:
    """Pairwise masks as secure aggregation draws them: site i adds r_ij, site j subtracts it."""
    rng = np.random.default_rng(seed)
    out = [encoding.copy() for encoding in encodings]
    for i in range(len(out)):
        for j in range(i + 1, len(out)):
            r = rng.integers(0, 2**64, size=out[i].shape, dtype=np.uint64, endpoint=False)
            out[i] += r
            out[j] -= r
    return out


@st.composite
def _float_sites(draw: st.DrawFn, bound: float) -> list[npt.NDArray[np.float64]]:
    n = draw(st.integers(2, 50))
    size = draw(st.integers(1, 6))
    shape = st.just((size,))
    return [draw(hnp.arrays(np.float64, shape, elements=_floats(bound))) for _ in range(n)]


@st.composite
def _count_sites(draw: st.DrawFn) -> list[npt.NDArray[np.int64]]:
    n = draw(st.integers(2, 50))
    size = draw(st.integers(1, 6))
    cells = st.integers(INT64_MIN // n, INT64_MAX // n)
    return [np.array(draw(st.lists(cells, min_size=size, max_size=size))) for _ in range(n)]


# --- the layout -------------------------------------------------------------------------------


def test_slots_are_one_per_count_and_three_limbs_per_float() -> None:
    assert slots(PartKind.COUNT, 7) == 7
    for kind in FLOAT_KINDS:
        assert slots(kind, 7) == FLOAT_LIMBS * 7
    assert slots(PartKind.SUM, 0) == 0


def test_constants_agree_with_each_other() -> None:
    assert FLOAT_RANGE == 2.0**79 and RESOLUTION == 2.0**-64
    # limb sums of MAX_SITES sites stay below 2**64 even with the carry of the limb below
    assert MAX_SITES * (2**LIMB_BITS - 1) + MAX_SITES < 2**64


def test_float_layout_is_limb_major_least_significant_first() -> None:
    limb = 2**LIMB_BITS
    encoding = encode("x", _part([1.0, -1.0]))
    # 1.0 is 2**64 = 2**16 * 2**48; -1.0 is 2**144 - 2**64
    assert encoding.dtype == np.uint64
    assert encoding.tolist() == [0, 0, 2**16, limb - 2**16, 0, limb - 1]


def test_count_layout_is_the_twos_complement_of_each_cell() -> None:
    encoding = encode("n", _part([[3, -1], [INT64_MIN, INT64_MAX]], PartKind.COUNT))
    assert encoding.tolist() == [3, 2**64 - 1, 2**63, 2**63 - 1]


def test_encoding_is_a_fresh_array_so_masking_it_leaves_the_part_alone() -> None:
    part = _part([5, 6], PartKind.COUNT)
    encoding = encode("n", part)
    encoding += np.uint64(99)
    assert part.values.tolist() == [5, 6]


# --- one site -------------------------------------------------------------------------------


@EXAMPLES
@given(hnp.arrays(np.float64, st.integers(1, 20), elements=_floats(FLOAT_RANGE)))
def test_a_float_encodes_to_its_nearest_multiple_of_the_resolution(
    values: npt.NDArray[np.float64],
) -> None:
    encoding = encode("x", _part(values))
    assert encoding.shape == (FLOAT_LIMBS * values.size,)
    assert bool(np.all(encoding < 2**LIMB_BITS))
    fixed = _as_ints(encoding)
    assert fixed == [_fixed(float(x)) for x in values]
    for x, n in zip(values.tolist(), fixed, strict=True):
        assert abs(Fraction(n, 2**FRACTION_BITS) - Fraction(x)) <= HALF_RESOLUTION


@EXAMPLES
@given(
    st.sampled_from(FLOAT_KINDS),
    hnp.arrays(np.float64, st.integers(1, 20), elements=_floats(FLOAT_RANGE)),
)
def test_a_float_part_round_trips_through_one_site(
    kind: PartKind, values: npt.NDArray[np.float64]
) -> None:
    decoded = decode(kind, values.shape, encode("x", _part(values, kind)), sites=1)
    assert decoded.dtype == np.float64
    expected = [float(Fraction(_fixed(x), 2**FRACTION_BITS)) for x in values.tolist()]
    assert decoded.tolist() == expected
    assert bool(np.all(np.abs(decoded - values) <= 2.0**-65))
    big = np.abs(values) >= 2.0**-11  # the 53 bits of these floats are on the grid
    assert decoded[big].tolist() == values[big].tolist()


def test_zeros_and_subnormals_become_zero_and_ties_go_to_even() -> None:
    values = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.0**-65, 3 * 2.0**-65]
    decoded = decode(PartKind.SUM, (7,), encode("x", _part(values)), sites=1)
    assert decoded.tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0**-63]
    assert not np.signbit(decoded[:2]).any()
    assert _as_ints(encode("x", _part([-3 * 2.0**-65, 5 * 2.0**-65]))) == [-2, 2]


def test_the_extremes_of_the_range_round_trip_exactly() -> None:
    values = np.array([LARGEST, -LARGEST, 2.0**78, -(2.0**78), 6.0e23, -6.0e23])
    decoded = decode(PartKind.MOMENT, values.shape, encode("x", _part(values)), sites=1)
    assert decoded.tolist() == values.tolist()


def test_decode_gives_back_the_parts_shape() -> None:
    values = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7
    decoded = decode(PartKind.CROSS_PRODUCT, (2, 3, 4), encode("x", _part(values)), sites=1)
    assert decoded.shape == (2, 3, 4)
    assert np.array_equal(decoded, values)
    scalar = decode(PartKind.SUM, (), encode("x", _part(np.float64(2.5))), sites=1)
    assert scalar.shape == () and float(scalar) == 2.5
    empty = decode(PartKind.SUM, (0,), encode("x", _part(np.zeros(0))), sites=1)
    assert empty.shape == (0,)


@pytest.mark.parametrize("cells", [[INT64_MIN, INT64_MAX, 0, -1, 1], [[7, -7], [2**40, -(2**40)]]])
def test_a_count_part_round_trips_through_one_site(cells: list[Any]) -> None:
    part = _part(cells, PartKind.COUNT)
    decoded = decode(PartKind.COUNT, part.values.shape, encode("n", part), sites=1)
    assert decoded.dtype == np.int64
    assert decoded.tolist() == cells


# --- many sites, masked or not -------------------------------------------------------------


@EXAMPLES
@given(_float_sites(FLOAT_RANGE / 64), st.integers(0, 2**32))
def test_summed_float_encodings_decode_to_the_exact_sum_within_n_half_resolutions(
    sites: list[npt.NDArray[np.float64]], seed: int
) -> None:
    n, size = len(sites), sites[0].size
    encodings = [encode("x", _part(values)) for values in sites]
    decoded = decode(PartKind.SUM, (size,), _total(encodings), sites=n)
    masked = decode(PartKind.SUM, (size,), _total(_masked(encodings, seed)), sites=n)
    for cell in range(size):
        inputs = [float(values[cell]) for values in sites]
        fixed = Fraction(sum(_fixed(x) for x in inputs), 2**FRACTION_BITS)
        assert abs(fixed - sum(Fraction(x) for x in inputs)) <= n * HALF_RESOLUTION
        assert decoded[cell] == float(fixed)  # correctly rounded, not merely within an ulp
    assert decoded.tolist() == masked.tolist()


@EXAMPLES
@given(_count_sites(), st.integers(0, 2**32))
def test_summed_count_encodings_decode_to_the_exact_total(
    sites: list[npt.NDArray[np.int64]], seed: int
) -> None:
    n, size = len(sites), sites[0].size
    encodings = [encode("n", _part(cells, PartKind.COUNT)) for cells in sites]
    exact = [sum(int(cells[i]) for cells in sites) for i in range(size)]
    for encoded in (encodings, _masked(encodings, seed)):
        assert decode(PartKind.COUNT, (size,), _total(encoded), sites=n).tolist() == exact


def test_counts_at_the_int64_extremes_sum_exactly_when_the_total_fits() -> None:
    a = encode("n", _part([INT64_MAX, INT64_MIN, INT64_MIN + 1], PartKind.COUNT))
    b = encode("n", _part([INT64_MIN, INT64_MAX, INT64_MAX], PartKind.COUNT))
    assert decode(PartKind.COUNT, (3,), _total([a, b]), sites=2).tolist() == [-1, -1, 0]


@EXAMPLES
@given(
    st.lists(
        st.tuples(_floats(FLOAT_RANGE / MAX_SITES), st.integers(1, 2**12)), min_size=1, max_size=8
    ),
    st.integers(0, 2**32),
)
def test_limb_sums_of_max_sites_sites_carry_without_overflow(
    groups: list[tuple[float, int]], seed: int
) -> None:
    """Sites that send the same value are summed by multiplication; up to MAX_SITES in all."""
    total_sites = sum(count for _, count in groups)
    groups.append((-RESOLUTION, MAX_SITES - total_sites))  # every limb 2**48 - 1: the most carry
    groups = [(x, count) for x, count in groups if count > 0]
    encodings = [encode("x", _part([x])) * np.uint64(count) for x, count in groups]
    masked = _masked(encodings, seed)
    fixed = Fraction(sum(count * _fixed(x) for x, count in groups), 2**FRACTION_BITS)
    for encoded in (encodings, masked):
        assert decode(PartKind.SUM, (1,), _total(encoded), sites=MAX_SITES).tolist() == [
            float(fixed)
        ]


def test_max_sites_of_the_smallest_negative_value_decode_exactly() -> None:
    total = encode("x", _part([-RESOLUTION])) * np.uint64(MAX_SITES)
    assert decode(PartKind.SUM, (1,), total, sites=MAX_SITES).tolist() == [-(2.0**-49)]


def test_a_large_part_encodes_and_decodes_in_one_vectorised_pass() -> None:
    rng = np.random.default_rng(14)
    values = rng.standard_normal(100_000) * 10.0 ** rng.integers(-20, 23, size=100_000)
    other = -values[::-1].copy()
    encodings = [encode("big", _part(values)), encode("big", _part(other))]
    assert encodings[0].shape == (300_000,)
    one = decode(PartKind.SUM, values.shape, encodings[0], sites=1)
    assert np.array_equal(one, np.ldexp(np.rint(np.ldexp(values, 64)), -64))
    two = decode(PartKind.SUM, values.shape, _total(_masked(encodings, 1)), sites=2)
    # Both inputs on the grid: IEEE subtraction rounds their exact difference once, as decode must.
    grid = np.ldexp(np.rint(np.ldexp(values, 64)), -64)
    assert np.array_equal(two, grid - grid[::-1])


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [7.2e25, FLOAT_RANGE, -FLOAT_RANGE, 1e308, np.inf, -np.inf, np.nan])
def test_values_beyond_the_range_or_not_finite_are_refused_by_name(bad: float) -> None:
    values = np.array([1.0, 2.0, bad, 3.0])
    with pytest.raises(FixedPointOverflow, match="part 'xtx'") as raised:
        encode("xtx", _part(values, PartKind.CROSS_PRODUCT))
    assert isinstance(raised.value, InvalidRequest)
    assert "secure aggregation" in raised.value.detail


def test_the_overflow_message_gives_the_range_and_a_remedy_but_never_the_value() -> None:
    """The message leaves the node: it names the part, not the site's value."""
    with pytest.raises(FixedPointOverflow) as raised:
        encode("xtx", _part([7.2e25], PartKind.CROSS_PRODUCT))
    detail = raised.value.detail
    assert "part 'xtx' holds a value beyond the fixed-point range of ±6.0e+23" in detail
    assert "rescale the column" in detail
    assert "7.2" not in detail


def test_a_non_finite_value_is_named_as_such() -> None:
    with pytest.raises(FixedPointOverflow, match=r"not finite.*missing or infinite"):
        encode("mean", _part([np.nan]))


@pytest.mark.parametrize("sites", [0, -1, MAX_SITES + 1])
def test_decode_refuses_a_number_of_sites_fixed_point_cannot_carry(sites: int) -> None:
    total = np.zeros(FLOAT_LIMBS, dtype=np.uint64)
    with pytest.raises(ValueError, match="sites"):
        decode(PartKind.SUM, (1,), total, sites=sites)
    with pytest.raises(ValueError, match="sites"):
        decode(PartKind.COUNT, (3,), total, sites=sites)


def test_decode_refuses_a_total_of_the_wrong_size_or_type() -> None:
    with pytest.raises(ValueError, match="takes 6 uint64 slots"):
        decode(PartKind.SUM, (2,), np.zeros(3, dtype=np.uint64), sites=1)
    with pytest.raises(ValueError, match="takes 2 uint64 slots"):
        decode(PartKind.COUNT, (2,), np.zeros(2, dtype=np.int64), sites=1)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ([1.0, 2.0**-53], 1.0),  # a tie: to even
        ([1.0, 3 * 2.0**-53], 1.0 + 2.0**-51),  # a tie: to even, upwards
        ([1.0, 2.0**-53, RESOLUTION], 1.0 + 2.0**-52),  # just above the tie: up
        ([1.0, 2.0**-53, -RESOLUTION], 1.0),  # just below: down
        ([-1.0, -(2.0**-53), -RESOLUTION], -1.0 - 2.0**-52),
        ([2.0**78, 2.0**25, RESOLUTION], 2.0**78 + 2.0**26),
    ],
)
def test_decode_rounds_the_exact_total_once_to_nearest_ties_to_even(
    inputs: list[float], expected: float
) -> None:
    encodings = [encode("x", _part([x])) for x in inputs]
    assert decode(PartKind.SUM, (1,), _total(encodings), sites=len(inputs)).tolist() == [expected]
