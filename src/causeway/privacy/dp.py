"""Differential-privacy noise for L2/L3 releases, through OpenDP.

Every mechanism here is a Gaussian one accounted in zero-concentrated DP (zCDP): a release that spends
``rho`` composes with others by adding their rhos, and a total is reported as (epsilon, delta) through
OpenDP's zCDP-to-approximate-DP conversion. Counts get the discrete Gaussian (integers stay integers);
sums get OpenDP's floating-point-safe Gaussian. Noise is calibrated here, sampled by OpenDP, and the
calibration is checked against OpenDP's own privacy map before anything is released.

OpenDP's samplers draw from a cryptographically secure generator and cannot be seeded, by design:
tests check the noise statistically, never by replaying it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import opendp.prelude as dp

from causeway.model.errors import InternalError, InvalidRequest

# "contrib" is needed for make_gaussian and make_zCDP_to_approxDP: OpenDP gates every constructor
# whose proof has not finished its vetting process behind it. "floating-point" (constructors open to
# floating-point attacks) is not needed and stays off: the Gaussian on floats samples exactly on a
# fine binary grid and its privacy map accounts for rounding onto it, so OpenDP does not gate it.
dp.enable_features("contrib")

DISCRETE_GAUSSIAN = "discrete Gaussian (Canonne, Kamath, Steinke 2020)"
GAUSSIAN = "Gaussian (OpenDP, floating-point safe)"

# OpenDP rounds its privacy maps up, so a measurement calibrated to rho may report rho plus an ulp.
CALIBRATION_TOLERANCE = 1e-9
_RHO_PRECISION = 1e-12

_COUNTS = dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T=float)
_SUMS = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float)
_REAL = dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float)

# Measurements are held as Any: OpenDP's Measurement.map has no annotations for mypy --strict.
# A Gaussian of scale 1 on one real spends exactly rho at sensitivity sqrt(2 rho), so its converted
# privacy profile is OpenDP's (epsilon, delta) curve for rho-zCDP.
_ZCDP_TO_APPROX_DP: Any = dp.c.make_zCDP_to_approxDP(dp.m.make_gaussian(*_REAL, scale=1.0))


@dataclass(frozen=True)
class Noise:
    """What a release states about its noise.

    ``sigma`` is the Gaussian's scale. For the discrete Gaussian the standard deviation is at most
    sigma, and equal to it within one part in 10^7 once sigma >= 1.
    """

    mechanism: str
    rho: float
    sigma: float
    l2_sensitivity: float


def sigma_for(l2_sensitivity: float, rho: float) -> float:
    """The Gaussian scale that makes a query of this L2 sensitivity rho-zCDP: Δ / sqrt(2 rho)."""
    _check_sensitivity(l2_sensitivity)
    _check_rho(rho)
    return l2_sensitivity / math.sqrt(2.0 * rho)


@lru_cache(maxsize=1024)
def epsilon_from_rho(rho: float, delta: float) -> float:
    """The epsilon at which rho-zCDP implies (epsilon, delta)-DP, from OpenDP's privacy profile.

    OpenDP's conversion is the one of Canonne, Kamath & Steinke 2020, §2.3 (tighter than the
    ``rho + 2 sqrt(rho log(1/delta))`` of Bun & Steinke 2016, Prop. 1.3).
    """
    _check_rho(rho)
    _check_delta(delta)
    return float(_profile(rho).epsilon(delta))


@lru_cache(maxsize=1024)
def rho_from_epsilon(epsilon: float, delta: float) -> float:
    """The largest rho (to one part in 10^12) whose conversion at this delta is at most epsilon."""
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise InvalidRequest(f"epsilon must be a positive finite number, not {epsilon!r}")
    _check_delta(delta)

    # Searching on the profile's delta at this epsilon is 30 times faster than on its epsilon,
    # which OpenDP finds by a search of its own.
    def fits(rho: float) -> bool:
        return float(_profile(rho).delta(epsilon)) <= delta

    lo = _bun_steinke_rho(epsilon, delta)  # a lower bound: OpenDP's conversion is tighter
    while not fits(lo):
        lo /= 2.0
    hi = 2.0 * lo
    while fits(hi):
        lo, hi = hi, 2.0 * hi
    while hi - lo > _RHO_PRECISION * lo:
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    # The two searches may disagree in the last bits: keep epsilon_from_rho(result) <= epsilon.
    while epsilon_from_rho(lo, delta) > epsilon:
        lo *= 1.0 - _RHO_PRECISION
    return lo


def noisy_counts(
    values: npt.NDArray[np.int64], rho: float, *, l2_sensitivity: float = 1.0
) -> tuple[npt.NDArray[np.int64], Noise]:
    """Counts (any shape) plus discrete Gaussian noise, rho-zCDP for this L2 sensitivity.

    Results stay integers and may be negative; they saturate at the int64 bounds.
    """
    raw = np.asarray(values)
    if raw.dtype.kind not in "iu" or not np.can_cast(raw.dtype, np.int64):
        raise InvalidRequest(f"counts must be integers that fit int64, not {raw.dtype}")
    counts = raw.astype(np.int64)
    noisy, noise = _release(counts, _COUNTS, rho, l2_sensitivity, DISCRETE_GAUSSIAN)
    return np.asarray(noisy, dtype=np.int64).reshape(counts.shape), noise


def noisy_sums(
    values: npt.NDArray[np.float64], rho: float, *, l2_sensitivity: float
) -> tuple[npt.NDArray[np.float64], Noise]:
    """Sums (any shape, all finite) plus Gaussian noise, rho-zCDP for this L2 sensitivity."""
    sums = np.asarray(values, dtype=np.float64)
    # OpenDP trusts its domain and does not check it at release: NaN and infinities must stop here.
    if not np.all(np.isfinite(sums)):
        raise InvalidRequest("sums to be released must all be finite")
    noisy, noise = _release(sums, _SUMS, rho, l2_sensitivity, GAUSSIAN)
    return np.asarray(noisy, dtype=np.float64).reshape(sums.shape), noise


def _release(
    values: npt.NDArray[Any],
    space: tuple[dp.Domain, dp.Metric],
    rho: float,
    l2_sensitivity: float,
    mechanism: str,
) -> tuple[list[Any], Noise]:
    sigma = sigma_for(l2_sensitivity, rho)
    measurement: Any = dp.m.make_gaussian(*space, scale=sigma)
    spent = float(measurement.map(float(l2_sensitivity)))
    if spent > rho * (1.0 + CALIBRATION_TOLERANCE):
        raise InternalError(f"noise calibrated for rho={rho} costs rho={spent} according to OpenDP")
    noisy = measurement(np.ascontiguousarray(values.ravel()))
    return noisy, Noise(mechanism, spent, sigma, float(l2_sensitivity))


def _profile(rho: float) -> Any:
    # Round the sensitivity up so that the rho OpenDP sees is never below the one asked about.
    return _ZCDP_TO_APPROX_DP.map(math.nextafter(math.sqrt(2.0 * rho), math.inf))


def _bun_steinke_rho(epsilon: float, delta: float) -> float:
    """Inverse of eps = rho + 2 sqrt(rho log(1/delta)), written to avoid cancellation."""
    log_term = math.log(1.0 / delta)
    return epsilon**2 / (math.sqrt(log_term + epsilon) + math.sqrt(log_term)) ** 2


def _check_rho(rho: float) -> None:
    if not (math.isfinite(rho) and rho > 0):
        raise InvalidRequest(f"rho must be a positive finite number, not {rho!r}")


def _check_delta(delta: float) -> None:
    if not (0.0 < delta < 1.0):
        raise InvalidRequest(f"delta must be strictly between 0 and 1, not {delta!r}")


def _check_sensitivity(l2_sensitivity: float) -> None:
    if not (math.isfinite(l2_sensitivity) and l2_sensitivity > 0):
        raise InvalidRequest(
            f"the L2 sensitivity must be a positive finite number, not {l2_sensitivity!r}"
        )
