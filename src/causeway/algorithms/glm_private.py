"""A GLM with differential privacy (L2, L3): IRLS on noisy per-round statistics.

Each round a site releases only n, X'WX, X'Wz and the deviance at the hub's coefficients, each with
calibrated noise (the release gate adds it; this module states how far one row can move each). To
bound that, every design row is clipped to a norm C fixed by the data dictionary alone (the largest
row the dictionary's bounds allow), and the response to its dictionary bounds. With |x| <= C and
working weight w <= w_max, one row moves X'WX by at most w_max C^2 (Frobenius) and X'Wz by at most
C |w eta + y - mu|, bounded through |eta| <= C |beta| with the hub's coefficients, which are public.

The number of rounds is fixed in advance (the gaussian model needs one: X'X and X'y do not depend on
the coefficients; the binomial ``max_iter``, default 6), so the node can divide a query's privacy
budget over them; there is no convergence test on noisy deviances. ``inference`` is honoured as in
the exact fit (t takes the noisy residual df, n - p). Per-site fits, weights, offsets, the poisson,
gamma and negative binomial families, non-canonical links and robust standard errors are not
available with privacy: :func:`check` refuses them before any data is read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from causeway.algorithms import design, diagnostics
from causeway.algorithms.base import Evidence, Final, LocalResult, NextRound, Outcome, State
from causeway.algorithms.family import Family, Model
from causeway.algorithms.glm_result import GLMResult
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.dictionary import Column, Dictionary
from causeway.model.errors import InvalidRequest, ModelError

FloatArray = npt.NDArray[np.float64]
BINOMIAL_ROUNDS = 5
_EPS = float(np.finfo(float).eps)


def rounds(family: Family, max_iter: int | None) -> int:
    """How many rounds a private fit takes, known before it starts."""
    if family is Family.GAUSSIAN:
        return 1
    return max_iter if max_iter is not None else BINOMIAL_ROUNDS


def check(model: Model, weights: str | None, offset: str | None, cov_type: str) -> None:
    """Refuse what the private fit cannot do, before any data is read: only the gaussian
    (identity) and binomial (logit) models, model-based standard errors, no weights, no offset."""
    if model.family not in (Family.GAUSSIAN, Family.BINOMIAL):
        raise InvalidRequest(
            f"glm: the {model.family.value} family is not available with differential privacy "
            "(gaussian and binomial are)"
        )
    if not model.canonical:
        raise InvalidRequest(
            f"glm: the {model.link.value} link is not available with differential privacy: its "
            "working weights have no bound to calibrate the noise to (the private fit uses "
            f"the {model.family.default_link.value} link)"
        )
    if cov_type != "nonrobust":
        raise InvalidRequest(
            f"glm: cov_type {cov_type!r} is not available with differential privacy: the "
            "private fit releases no score outer products (its standard errors are model-based)"
        )
    if weights is not None or offset is not None:
        raise InvalidRequest("glm: weights and offsets are not available with differential privacy")


@dataclass(frozen=True)
class Scaling:
    """How a private fit scales its data, from the dictionary alone (so hub and nodes agree):
    each design column (but the intercept) centred at the middle of the range the dictionary's
    bounds allow it (``shifts``) and divided by its half-width (``columns``), rows clipped to norm
    ``bound`` (at most the square root of the number of columns); a gaussian response centred at
    ``center`` and divided by ``half_range``, so it lies in [-1, 1]. Centring keeps the noisy
    cross-product matrix well conditioned."""

    columns: FloatArray
    shifts: FloatArray
    bound: float
    center: float
    half_range: float

    def design(self, x: FloatArray) -> FloatArray:
        scaled = (x - self.shifts) / self.columns
        norms = np.sqrt(np.einsum("ij,ij->i", scaled, scaled))
        factor = np.minimum(1.0, self.bound / np.maximum(norms, 1e-300))
        return np.asarray(scaled * factor[:, None], dtype=np.float64)

    def response(self, y: FloatArray) -> FloatArray:
        return np.clip((y - self.center) / self.half_range, -1.0, 1.0)


def scaling(
    rhs: str,
    variables: tuple[str, ...],
    response: Column,
    family: Family,
    dictionary: Dictionary,
    terms: list[str],
) -> Scaling:
    """The design evaluated at every corner of the variables' bounds (up to 2^10 corners) and at
    every level of each categorical gives each column's largest magnitude. Rows beyond the bound
    are clipped, so privacy holds whatever the corners miss."""
    x = design.corners("glm", rhs, variables, dictionary, terms)
    intercept = "Intercept" in terms
    if x.size and intercept:
        shifts = (x.max(axis=0) + x.min(axis=0)) / 2
        shifts[terms.index("Intercept")] = 0.0
    else:
        shifts = np.zeros(len(terms))
    magnitude = np.max(np.abs(x - shifts), axis=0) if x.size else np.ones(len(terms))
    magnitude = np.where(magnitude > 0, magnitude, 1.0)
    scaled = (x - shifts) / magnitude
    bound = float(np.sqrt(np.max(np.einsum("ij,ij->i", scaled, scaled)))) if x.size else 1.0
    center, half = 0.0, 1.0
    if family is Family.GAUSSIAN:
        if response.minimum is None or response.maximum is None:
            raise InvalidRequest(
                f"glm: the response {response.name!r} needs bounds in the dictionary for privacy"
            )
        if "Intercept" in terms:
            center = (response.maximum + response.minimum) / 2
            half = max((response.maximum - response.minimum) / 2, 1e-12)
        else:
            half = max(abs(response.minimum), abs(response.maximum), 1e-12)
    return Scaling(
        np.asarray(magnitude, dtype=np.float64),
        np.asarray(shifts, dtype=np.float64),
        max(bound, 1e-12),
        center,
        half,
    )


def local(
    x: FloatArray, y: FloatArray, family: Family, state: State, c: float, rounds: int
) -> LocalResult:
    """One private round at the hub's coefficients (zeros in round 0), on the scaled and clipped
    design (rows of norm at most ``c``) and, for the gaussian family, the scaled response. Only
    what the round needs is released (n in the first, the deviance in the last), so the
    round's budget is split over as few values as possible."""
    y_bound = 1.0
    p = x.shape[1]
    beta = np.asarray(state.get("beta") or [0.0] * p, dtype=np.float64)
    if beta.shape != (p,) or not np.all(np.isfinite(beta)):
        raise InvalidRequest("glm: the hub's coefficients do not fit this design")
    eta = x @ beta
    reach = c * float(np.linalg.norm(beta))  # |eta| <= |x| |beta| <= C |beta|
    if family is Family.GAUSSIAN:
        w, wz = np.ones_like(y), y
        deviance = float(np.sum((y - eta) ** 2))
        sensitivity = {"xtwx": c * c, "xtwz": c * y_bound, "deviance": (y_bound + reach) ** 2}
    else:
        mu = np.asarray(special.expit(eta), dtype=np.float64)
        w = mu * (1 - mu)
        wz = w * eta + (y - mu)
        p_clip = np.clip(mu, _EPS, 1 - _EPS)
        deviance = float(-2 * np.sum(special.xlogy(y, p_clip) + special.xlogy(1 - y, 1 - p_clip)))
        sensitivity = {
            "xtwx": c * c / 4,
            "xtwz": c * (reach / 4 + 1),
            "deviance": 2 * (reach + math.log(2)),
        }
    parts = {
        "xtwx": Part(PartKind.CROSS_PRODUCT, x.T @ (x * w[:, None])),
        "xtwz": Part(PartKind.CROSS_PRODUCT, x.T @ wz),
    }
    k = int(state.get("round", 0))
    if k == 0:
        parts["n"] = Part(PartKind.COUNT, np.array(x.shape[0]))
    if k == rounds - 1:
        parts["deviance"] = Part(PartKind.SUM, np.array(deviance))
    sensitivity = {name: value for name, value in sensitivity.items() if name in parts}
    return LocalResult(parts, evidence=Evidence(sensitivity={"n": 1.0, **sensitivity}))


def combine(
    total: Aggregate,
    formula: str,
    family: Family,
    state: State,
    terms: list[str],
    rounds: int,
    scale_by: Scaling,
    inference: str = "z",
) -> Outcome:
    k = int(state.get("round", 0))
    if k == 0:
        if total.suppressed("n").any():
            raise ModelError("glm: a site's complete cases are below its disclosure threshold")
        state = {**state, "n": int(total.value("n"))}
    xtwx, xtwz = total.value("xtwx"), total.value("xtwz")
    try:
        beta = diagnostics.solve("glm", (xtwx + xtwx.T) / 2, xtwz, terms)
    except ModelError:
        raise ModelError(
            "glm: with the noise differential privacy adds, these statistics do not determine "
            "the model (too few rows for the privacy budget, or too many terms)"
        ) from None
    if k + 1 < rounds:
        return NextRound(
            {**state, "round": k + 1, "beta": beta.tolist()},
            note=f"private iteration {k + 1} of {rounds}",
        )
    n = max(int(state["n"]), len(terms) + 1)
    deviance = float(total.value("deviance"))
    if family is Family.GAUSSIAN:  # one round at beta = 0: the deviance is y'y
        deviance = max(deviance - float(beta @ xtwz), 0.0)
        scale = deviance / (n - len(terms))
    else:
        scale = 1.0
    try:
        cov = diagnostics.inverse((xtwx + xtwx.T) / 2) * scale
    except (np.linalg.LinAlgError, ValueError):
        raise ModelError("glm: the noise overwhelms the information in the data") from None
    # back to the data's units: beta = T beta' + (centre on the intercept), with
    # beta_j = h beta'_j / s_j and the intercept h (beta'_0 - sum_j beta'_j m_j / s_j) + c
    h = scale_by.half_range
    transform = np.diag(h / scale_by.columns)
    if "Intercept" in terms:
        row = terms.index("Intercept")
        transform[row] = -h * scale_by.shifts / scale_by.columns
        transform[row, row] = h
    coefficients = transform @ beta
    if "Intercept" in terms:
        coefficients[terms.index("Intercept")] += scale_by.center
    cov = transform @ cov @ transform.T
    deviance, scale = deviance * h * h, scale * h * h
    warning = (
        f"differentially private fit: {rounds} fixed IRLS iteration(s) on noisy statistics "
        "(rows clipped to the dictionary's bounds); no convergence test, and the null deviance, "
        "Pearson chi2 and log-likelihood are not released"
    )
    return Final(
        GLMResult(
            formula=formula,
            family=family.value,
            terms=tuple(terms),
            coefficients=tuple(float(b) for b in coefficients),
            covariance=tuple(tuple(float(v) for v in row) for row in cov),
            deviance=deviance,
            null_deviance=math.nan,
            pearson_chi2=math.nan,
            scale=scale,
            llf=math.nan,
            df_resid=n - len(terms),
            n=n,
            n_per_site=(),
            iterations=rounds,
            converged=False,
            warnings=(warning,),
            inference=inference,
        )
    )
