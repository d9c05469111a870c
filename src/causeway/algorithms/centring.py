"""Sums about a centre, and when a second round about the pooled mean is needed for precision.

The moment algorithms (``summary``, ``ttest``, ``corr``) send n and the sums of (x - c) and
(x - c)² about a centre c. In round 0 it is the column's dictionary centre (the midpoint of its
bounds). The variance follows as (S2 - S1²/n) / (n - 1), whose cancellation costs a relative error
of about machine epsilon × ((mean - c) / sd)²: nothing when the data sit near the centre, about
1e-4 at a ratio of 5e6, and nonsense beyond 1e8. When round 0's sums show that the error could
exceed :data:`PRECISION`, the hub asks for a round 1 about the pooled mean it has just learnt
(one centre per group or column). Then x - c is exact (Sterbenz: x and c are within a factor of
two), S1 is close to 0, and the variance is accurate to a few ulps at any offset.

A second round discloses nothing new: the sums about any centre m are an exact function of the
round-0 sums (S1(m) = S1(c) - n (m - c), S2(m) = S2(c) - 2 (m - c) S1(c) + n (m - c)²), which are
already released; it only recovers the digits that floating point lost. With differential privacy
(L2, L3) there is no second round: the noise on S2, calibrated to the squared distance from the
dictionary's centre to its farthest bound, exceeds the cancellation error for any n below 1e15.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from causeway.model.errors import DisclosureRefused

FloatArray = npt.NDArray[np.float64]
# the relative error of a variance (or covariance) beyond which the hub asks for round 1
PRECISION = 1e-12
_EPS = float(np.finfo(float).eps)
# rounding of (x - c), its square and the sums over rows and sites: a generous multiple of eps
_ROUNDING = 16.0


def needs_refinement(n: Any, s1: Any, s2: Any) -> npt.NDArray[np.bool_]:
    """Per cell: whether the variance from n, S1 and S2 about a centre may be off by more than
    :data:`PRECISION` relative (and a second round about the mean would help)."""
    count = np.asarray(n, dtype=np.float64)
    first = np.asarray(s1, dtype=np.float64)
    second = np.asarray(s2, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        square = first * first / count
        spread = second - square
        bound = _ROUNDING * _EPS * (second + square) / spread
    exact_enough = (spread > 0) & (bound <= PRECISION)
    return np.asarray((count > 1) & ~exact_enough, dtype=np.bool_)


def means(center: Any, n: Any, s1: Any) -> FloatArray:
    """The pooled mean of each cell (its dictionary centre where it has no rows)."""
    count = np.asarray(n, dtype=np.float64)
    c = np.broadcast_to(np.asarray(center, dtype=np.float64), count.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = c + np.asarray(s1, dtype=np.float64) / count
    return np.asarray(np.where((count > 0) & np.isfinite(out), out, c), dtype=np.float64)


def centres(state: Any, key: str, default: Sequence[float]) -> FloatArray:
    """The centres a round's state sets under ``key`` (round 1), or ``default`` (round 0),
    refusing a state (set by the hub, which a node does not trust) that is not one finite value
    per cell."""
    value = state.get(key) if state is not None else None
    if value is None:
        return np.asarray(default, dtype=np.float64)
    try:
        found = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        found = np.asarray([math.nan])
    if found.shape != (len(default),) or not np.all(np.isfinite(found)):
        raise DisclosureRefused(
            f"the centres sent for this round are not {len(default)} finite number(s); this "
            "node releases nothing for them"
        )
    return found
