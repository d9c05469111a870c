"""Hub-side checks of a model fit, from summed cross products only (never a peek at rows).

* a **singular design** shows in X'X (summed over sites): some combination of the columns is zero
  at every row, so those terms are aliased;
* **(quasi-)separation** shows in the Fisher information relative to X'X: along a separating
  direction the fitted probabilities (or Poisson means) of every row that moves it go numerically to
  0 or 1 (or 0), so its working weights vanish while the unweighted X'X does not. The smallest
  generalised eigenvalue of (X'WX, X'X) is the mean working weight along the worst direction; far
  below the mean weight over all rows it means the maximum likelihood estimate does not exist;
* **complete separation** of a 0/1 response is *proved* by the deviance alone: a row's unit
  deviance is -2 log(1 - |y - mu|), at least 2 log 2 unless the row is fitted on its own side of
  1/2. A deviance below 2 log 2 (times the smallest prior weight) therefore means that x'beta
  classifies every row correctly: beta is a separating direction, and the estimates diverge along
  it. Where the MLE exists no beta gets there, so the test never refuses a fit that exists, at
  any n (statsmodels warns when every fitted value is within 1e-8 of its 0/1 outcome; this fires
  earlier, as soon as the iterations have found a separating direction).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import linalg

from causeway.model.errors import InvalidRequest, ModelError

FloatArray = npt.NDArray[np.float64]

SINGULAR_TOLERANCE = 1e-10
MONOTONE_RATIO = 1e-6  # information left, relative to beta = 0, below which an estimate diverges
SEPARATION_RATIO = 1e-6
# a mean working weight this small means every row is fitted at a boundary (probability 0 or 1,
# Poisson mean 0): complete separation or a constant response
BOUNDARY_WEIGHT = 1e-8


def _involved(vector: FloatArray, terms: Sequence[str]) -> list[str]:
    weights = np.abs(vector) / np.max(np.abs(vector))
    return [t for t, v in zip(terms, weights, strict=True) if v > 0.05]


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def check_design(
    algorithm: str,
    xtx: FloatArray,
    terms: Sequence[str],
    transform: FloatArray | None = None,
    rows: str = "the pooled rows",
) -> None:
    """Raise ModelError naming the aliased terms when X'X is singular. ``transform`` maps a
    coefficient vector of this design to the one the terms name (for a design whose columns
    were shifted: b = T b~)."""
    if not len(terms):
        raise InvalidRequest(f"{algorithm}: the formula has no terms to estimate")
    diag = np.diag(xtx).copy()
    empty = [t for t, d in zip(terms, diag, strict=True) if d <= 0]
    if empty:
        raise ModelError(
            f"{algorithm}: singular design: term(s) {', '.join(empty)} are zero at every row of "
            "every site (a level nobody has?); drop or merge them"
        )
    scale = 1.0 / np.sqrt(diag)
    scaled = xtx * np.outer(scale, scale)
    values, vectors = np.linalg.eigh(scaled)
    if values[0] < SINGULAR_TOLERANCE * max(values[-1], 1.0):
        null = vectors[:, 0] * scale
        if transform is not None:
            null = transform @ null
        names = _involved(null, terms) if len(terms) > 1 else list(terms)
        raise ModelError(
            f"{algorithm}: singular design: terms {_and(names)} are aliased "
            f"(one is a linear combination of the others over {rows}); drop one"
        )


def separation(
    xtwx: FloatArray,
    xtx: FloatArray,
    weight_sum: float,
    n: int,
    terms: Sequence[str],
    transform: FloatArray | None = None,
) -> list[str]:
    """The terms along which the fit separates (empty when it does not); ``transform`` as for
    :func:`check_design`."""
    if n == 0 or weight_sum / n < BOUNDARY_WEIGHT:
        return list(terms)
    try:
        values, vectors = linalg.eigh(xtwx, xtx)
    except (linalg.LinAlgError, ValueError):
        return list(terms)
    if values[0] >= SEPARATION_RATIO * weight_sum / n:
        return []
    direction = vectors[:, 0] if transform is None else transform @ vectors[:, 0]
    return _involved(direction, terms)


SEPARATED_DEVIANCE = 2.0 * float(np.log(2.0))


def separates(deviance: float, min_weight: float) -> bool:
    """Whether a binomial deviance (0/1 response, prior weights at least ``min_weight`` > 0)
    proves that the current coefficients classify every row correctly (complete separation)."""
    return min_weight > 0 and deviance < SEPARATED_DEVIANCE * min_weight


def diverging(step: FloatArray, xtx: FloatArray, n: int, terms: Sequence[str]) -> list[str]:
    """The terms that carry a diverging step (the change of the coefficients between two IRLS
    iterations), each component scaled by its column's root mean square so that units do not
    decide it."""
    rms = np.sqrt(np.maximum(np.diag(xtx), 0.0) / max(n, 1))
    scaled = np.abs(np.asarray(step, dtype=np.float64)) * rms
    if not np.any(scaled > 0) or not np.all(np.isfinite(scaled)):
        return list(terms)
    return [t for t, v in zip(terms, scaled / scaled.max(), strict=True) if v > 0.05]


def collapsed(information: FloatArray, start: FloatArray, terms: Sequence[str]) -> list[str]:
    """The terms along which the information has collapsed relative to its value at the start
    (a diverging estimate: monotone likelihood); empty when it has not."""
    try:
        values, vectors = linalg.eigh(information, start)
    except (linalg.LinAlgError, ValueError):
        return list(terms)
    if values[0] >= MONOTONE_RATIO:
        return []
    return _involved(vectors[:, 0], terms)


def solve(algorithm: str, a: FloatArray, b: FloatArray, terms: Sequence[str]) -> FloatArray:
    """Solve the symmetric positive-definite system a x = b, or say why it cannot be."""
    try:
        factor = linalg.cho_factor(a)
    except linalg.LinAlgError:
        check_design(algorithm, a, terms)
        raise ModelError(
            f"{algorithm}: the information matrix is not positive definite; the model cannot "
            "be estimated from these data"
        ) from None
    return np.asarray(linalg.cho_solve(factor, b), dtype=np.float64)


def inverse(a: FloatArray) -> FloatArray:
    return np.asarray(linalg.cho_solve(linalg.cho_factor(a), np.eye(a.shape[0])), np.float64)
