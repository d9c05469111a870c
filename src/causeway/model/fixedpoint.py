"""Fixed-point encoding of additive parts over the ring of uint64 slots (issue #14).

Secure aggregation masks each site's parts with pairwise masks that cancel only modulo 2**64, so a
part must become integers mod 2**64 whose slot-wise sum over sites (wrapping) decodes to the
exact total. ``encode`` turns one part into such slots, ``decode`` turns the summed slots back.

* **count** parts (int64) take one slot per cell: the cell's two's complement. The sum mod 2**64,
  read back as signed, is the exact total (as long as that total fits an int64).
* **every other kind** (float64) is fixed point with ``FRACTION_BITS`` fractional bits: a value x
  becomes the integer N = x * 2**64 rounded to the nearest integer, ties to even (so ties go to the
  even multiple of 2**-64, without bias). N is written as a 144-bit two's complement integer split
  into ``FLOAT_LIMBS`` limbs of ``LIMB_BITS`` bits, least significant limb first, each limb in a
  slot of its own. A limb is below 2**48, so the sum of up to ``MAX_SITES`` limbs never reaches
  2**64: the masked sum mod 2**64 of a limb slot is its true sum, and ``decode`` can propagate
  the carries, reduce mod 2**144 and read the result as signed.

Layout of a float part of n values (C order) is limb-major: slots ``[0, n)`` hold limb 0 (least
significant) of every value, ``[n, 2n)`` limb 1 and ``[2n, 3n)`` limb 2.

Precision: each float is within 2**-65 of its encoding, so a sum over n sites is within
n * 2**-65 of the exact sum of the float64 inputs. ``decode`` then rounds that exact fixed-point
sum once, correctly (to nearest, ties to even), to float64. Values must satisfy
|x| < ``FLOAT_RANGE`` (2**79, about 6.0e23), and so must the total: a total beyond it wraps
around the ring and cannot be detected after masking.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from causeway.model.contribution import Part, PartKind
from causeway.model.errors import InvalidRequest

FRACTION_BITS = 64
LIMB_BITS = 48
FLOAT_LIMBS = 3
MAX_SITES = 2**15
FLOAT_RANGE: float = 2.0 ** (LIMB_BITS * FLOAT_LIMBS - FRACTION_BITS - 1)
RESOLUTION: float = 2.0**-FRACTION_BITS

_LIMB_MASK = np.uint64((1 << LIMB_BITS) - 1)
_SIGN_BIT = np.uint64(1 << (LIMB_BITS - 1))  # of the top limb
# A magnitude is shifted down to this many bits before its conversion to float64: at least two
# bits beyond float64's 53, so OR-ing the lost bits into the last one rounds correctly (round to
# odd, then to nearest), and few enough to fit an int64, whose conversion rounds to nearest even.
_WINDOW_BITS = 62

Limbs = npt.NDArray[np.uint64]  # shape (FLOAT_LIMBS, n), least significant limb first


class FixedPointOverflow(InvalidRequest):
    """A part holds a value that fixed point cannot carry (non-finite, or too large)."""


def slots(kind: PartKind, size: int) -> int:
    """How many uint64 slots the encoding of a part of ``size`` values takes."""
    if size < 0:
        raise ValueError(f"a part cannot hold {size} values")
    return size if kind is PartKind.COUNT else FLOAT_LIMBS * size


def encode(name: str, part: Part) -> npt.NDArray[np.uint64]:
    """The part as a fresh vector of ``slots(part.kind, part.values.size)`` uint64 slots."""
    if part.kind is PartKind.COUNT:
        counts = np.array(part.values, dtype=np.int64, copy=True).reshape(-1)
        return counts.view(np.uint64)
    values = np.asarray(part.values, dtype=np.float64).reshape(-1)
    _check_range(name, values)
    scaled = np.rint(np.ldexp(values, FRACTION_BITS))  # exact scaling, then one rounding
    limbs = _split(np.abs(scaled))
    return np.where(scaled < 0, _negate(limbs), limbs).reshape(-1)


def decode(
    kind: PartKind, shape: tuple[int, ...], total: npt.NDArray[np.uint64], sites: int
) -> npt.NDArray[Any]:
    """The part of ``shape`` whose encodings, summed slot-wise mod 2**64 over ``sites``, are ``total``."""
    if not 1 <= sites <= MAX_SITES:
        raise ValueError(f"fixed point sums 1 to {MAX_SITES} sites, not {sites}")
    size = math.prod(shape)
    total = np.asarray(total)
    if total.dtype != np.uint64 or total.shape != (slots(kind, size),):
        raise ValueError(
            f"a {kind.value} part of shape {shape} takes {slots(kind, size)} uint64 slots, "
            f"not an array of {total.dtype} and shape {total.shape}"
        )
    if kind is PartKind.COUNT:
        return total.view(np.int64).reshape(shape).copy()
    limbs = _carry(total.reshape(FLOAT_LIMBS, size))
    negative = (limbs[-1] & _SIGN_BIT) != 0
    magnitude = np.where(negative, _negate(limbs), limbs)
    values = _to_float(magnitude)
    return np.where(negative, -values, values).reshape(shape)


def _check_range(name: str, values: npt.NDArray[np.float64]) -> None:
    """Refuse a value fixed point cannot carry, naming the part but not the value (which would
    describe the site's data: the message leaves the node)."""
    bad = ~(np.abs(values) < FLOAT_RANGE)  # also catches nan
    if not bad.any():
        return
    if not np.isfinite(values[bad]).all():
        raise FixedPointOverflow(
            f"secure aggregation: part {name!r} holds a value that is not finite, which fixed "
            "point cannot carry; check the inputs for missing or infinite values"
        )
    raise FixedPointOverflow(
        f"secure aggregation: part {name!r} holds a value beyond the fixed-point range of "
        f"±{FLOAT_RANGE:.1e}; rescale the column (e.g. to thousands or millions of its unit) so "
        "its sums, squares and products stay within the range"
    )


def _split(magnitude: npt.NDArray[np.float64]) -> Limbs:
    """Limbs of integer-valued floats in [0, 2**143]; every step is exact in float64."""
    limbs = np.empty((FLOAT_LIMBS, magnitude.size), dtype=np.uint64)
    rest = magnitude
    for i in reversed(range(FLOAT_LIMBS)):
        # ``high`` keeps the bits of ``rest`` from bit 48*i up; ``rest - high * 2**(48*i)`` is a
        # multiple of ulp(rest) below 2**(48*i), so it fits float64's 53 bits and is exact.
        high = np.floor(np.ldexp(rest, -LIMB_BITS * i))
        limbs[i] = high.astype(np.uint64)
        rest = rest - np.ldexp(high, LIMB_BITS * i)
    return limbs


def _negate(limbs: Limbs) -> Limbs:
    """Two's complement negation mod 2**144: invert every limb, then add one with carries."""
    out = np.empty_like(limbs)
    carry = np.ones(limbs.shape[1:], dtype=np.uint64)
    for i in range(FLOAT_LIMBS):
        limb = (_LIMB_MASK - limbs[i]) + carry
        out[i] = limb & _LIMB_MASK
        carry = limb >> np.uint64(LIMB_BITS)
    return out


def _carry(sums: Limbs) -> Limbs:
    """Normalise limb sums (each below 2**63) to limbs below 2**48, mod 2**144."""
    out = np.empty_like(sums)
    carry = np.zeros(sums.shape[1:], dtype=np.uint64)
    for i in range(FLOAT_LIMBS):
        limb = sums[i] + carry  # below 2**63 + 2**15: no wrap
        out[i] = limb & _LIMB_MASK
        carry = limb >> np.uint64(LIMB_BITS)
    return out  # the carry out of the top limb is the multiple of 2**144 dropped


def _to_float(magnitude: Limbs) -> npt.NDArray[np.float64]:
    """Magnitudes in [0, 2**143], scaled by 2**-64 and rounded once to the nearest float64."""
    length = _bit_length(magnitude)
    shift = np.maximum(length - _WINDOW_BITS, 0)  # 0 .. 82
    window = np.zeros(magnitude.shape[1:], dtype=np.uint64)
    sticky = np.zeros(magnitude.shape[1:], dtype=bool)
    for i in range(FLOAT_LIMBS):
        limb = magnitude[i]
        offset = LIMB_BITS * i - shift  # where this limb's bit 0 lands in the window
        up = np.clip(offset, 0, 63).astype(np.uint64)
        down = np.clip(-offset, 0, 63).astype(np.uint64)
        window |= np.where(offset >= 0, limb << up, limb >> down)
        below = np.clip(-offset, 0, LIMB_BITS).astype(np.uint64)  # how many bits fall off
        sticky |= (limb & ((np.uint64(1) << below) - np.uint64(1))) != 0
    window |= sticky.astype(np.uint64)
    scaled: npt.NDArray[np.float64] = np.ldexp(
        window.astype(np.int64).astype(np.float64), shift - FRACTION_BITS
    )
    return scaled


def _bit_length(magnitude: Limbs) -> npt.NDArray[np.int64]:
    """Bit length of each multi-limb magnitude (0 for 0)."""
    length = np.zeros(magnitude.shape[1:], dtype=np.int64)
    for i in range(FLOAT_LIMBS):
        limb = magnitude[i]
        # A limb is below 2**53, so its float is exact and frexp's exponent is its bit length.
        bits = np.frexp(limb.astype(np.float64))[1].astype(np.int64)
        length = np.where(limb != 0, LIMB_BITS * i + bits, length)
    return length
