"""GLM families with their canonical links, computed as statsmodels computes them.

Each family gives the pieces one IRLS pass needs at a node (fitted means, working weights, unit
deviances, log-likelihood terms); everything a site returns from them is a sum over its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import special

from causeway.model.choice import parse_choice
from causeway.model.errors import ModelError

FloatArray = npt.NDArray[np.float64]
_EPS = float(np.finfo(float).eps)


class Family(StrEnum):
    GAUSSIAN = "gaussian"
    BINOMIAL = "binomial"
    POISSON = "poisson"

    @classmethod
    def parse(cls, value: object) -> Family:
        return parse_choice(cls, value, "family", prefix="glm: ")

    @property
    def estimates_scale(self) -> bool:
        return self is Family.GAUSSIAN

    def check_response(self, y: FloatArray) -> None:
        if self is Family.BINOMIAL and y.size and (y.min() < 0 or y.max() > 1):
            raise ModelError("glm binomial: the response must be 0/1 (or a proportion in [0, 1])")
        if self is Family.POISSON and y.size and y.min() < 0:
            raise ModelError("glm poisson: the response must be a non-negative count")

    def start(self, y: FloatArray) -> FloatArray:
        """Starting means from each row alone (as R's glm), so round 0 needs no pooled value."""
        if self is Family.BINOMIAL:
            return (y + 0.5) / 2.0
        if self is Family.POISSON:
            return y + 0.1
        return y.copy()

    def link(self, mu: FloatArray) -> FloatArray:
        if self is Family.BINOMIAL:
            p = np.clip(mu, _EPS, 1 - _EPS)
            return np.asarray(np.log(p / (1 - p)), dtype=np.float64)
        if self is Family.POISSON:
            return np.asarray(np.log(np.clip(mu, _EPS, np.inf)), dtype=np.float64)
        return mu

    def mean(self, eta: FloatArray) -> FloatArray:
        if self is Family.BINOMIAL:
            return np.asarray(special.expit(eta), dtype=np.float64)
        if self is Family.POISSON:
            return np.asarray(np.exp(np.clip(eta, -700, 700)), dtype=np.float64)
        return eta

    def variance(self, mu: FloatArray) -> FloatArray:
        """Also dmu/deta: for canonical links the working weight is w * V(mu)."""
        if self is Family.BINOMIAL:
            p = np.clip(mu, _EPS, 1 - _EPS)
            return np.asarray(p * (1 - p), dtype=np.float64)
        if self is Family.POISSON:
            return np.asarray(np.clip(mu, _EPS, np.inf), dtype=np.float64)
        return np.ones_like(mu)

    def unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        if self is Family.BINOMIAL:
            p = np.clip(mu, _EPS, 1 - _EPS)
            out = special.xlogy(y, y) - special.xlogy(y, p)
            out += special.xlogy(1 - y, 1 - y) - special.xlogy(1 - y, 1 - p)
            return np.asarray(2 * out, dtype=np.float64)
        if self is Family.POISSON:
            out = special.xlogy(y, y) - special.xlogy(y, np.clip(mu, _EPS, np.inf)) - (y - mu)
            return np.asarray(2 * out, dtype=np.float64)
        return np.asarray((y - mu) ** 2, dtype=np.float64)

    def loglik(self, y: FloatArray, mu: FloatArray, w: FloatArray) -> float:
        """The log-likelihood at scale 1 (gaussian's is completed at the hub from sums)."""
        if self is Family.BINOMIAL:
            p = np.clip(mu, _EPS, 1 - _EPS)
            obs = special.gammaln(2) - special.gammaln(y + 1) - special.gammaln(2 - y)
            obs = obs + special.xlogy(y, p / (1 - p) + 1e-200) + np.log(1 - p)
            return float(np.sum(obs * w))
        if self is Family.POISSON:
            obs = special.xlogy(y, np.clip(mu, 1e-300, np.inf)) - mu - special.gammaln(y + 1)
            return float(np.sum(obs * w))
        return 0.0


@dataclass(frozen=True)
class Working:
    """One IRLS pass at one site: X'WX, X'Wz and the sums the hub needs at this beta."""

    xtwx: FloatArray
    xtwz: FloatArray
    deviance: float
    pearson: float
    loglik: float
    weight_sum: float


def working(
    family: Family,
    x: FloatArray,
    y: FloatArray,
    w: FloatArray,
    offset: FloatArray,
    eta: FloatArray,
    mu: FloatArray,
) -> Working:
    """The weighted least-squares problem of one IRLS step at (eta, mu)."""
    v = family.variance(mu)
    weights = w * v  # canonical link: dmu/deta = V(mu)
    # z = eta - offset + (y - mu) / V; W z computed without dividing by a vanishing V
    wz = weights * (eta - offset) + w * (y - mu)
    return Working(
        xtwx=x.T @ (x * weights[:, None]),
        xtwz=x.T @ wz,
        deviance=float(np.sum(w * family.unit_deviance(y, mu))),
        pearson=float(np.sum(w * (y - mu) ** 2 / v)),
        loglik=family.loglik(y, mu, w),
        weight_sum=float(np.sum(weights)),
    )
