"""GLM families and their links, computed as statsmodels computes them.

A :class:`Family` is the response's distribution (its variance function, unit deviance and
log-likelihood); a :class:`Model` is a family with a link (:mod:`causeway.algorithms.link`) and,
for the negative binomial, its dispersion ``alpha``. Each gives the pieces one IRLS pass needs at
a node (fitted means, working weights, unit deviances, log-likelihood terms); everything a site
returns from them is a sum over its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import special

from causeway.algorithms import blocks
from causeway.algorithms.link import Link
from causeway.model.choice import parse_choice
from causeway.model.errors import InvalidRequest, ModelError

FloatArray = npt.NDArray[np.float64]
_EPS = float(np.finfo(float).eps)


def _binary(y: FloatArray) -> bool:
    """Whether every response is exactly 0 or 1 (a binary outcome, not proportions)."""
    return bool(np.all((y == 0) | (y == 1)))


def _f(values: object) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


class Family(StrEnum):
    GAUSSIAN = "gaussian"
    BINOMIAL = "binomial"
    POISSON = "poisson"
    GAMMA = "gamma"
    NEGATIVE_BINOMIAL = "negative_binomial"

    @classmethod
    def parse(cls, value: object) -> Family:
        return parse_choice(cls, value, "family", prefix="glm: ")

    @property
    def estimates_scale(self) -> bool:
        """Whether the scale is estimated (Pearson chi2 / df_resid, as statsmodels) or 1."""
        return self in (Family.GAUSSIAN, Family.GAMMA)

    @property
    def default_link(self) -> Link:
        """statsmodels' default: the canonical link, but log for the negative binomial and
        inverse (InversePower) for the gamma."""
        return _LINKS[self][0]

    @property
    def links(self) -> tuple[Link, ...]:
        return _LINKS[self]

    def check_response(self, y: FloatArray) -> None:
        if not y.size:
            return
        if self is Family.BINOMIAL and (y.min() < 0 or y.max() > 1):
            raise ModelError("glm binomial: the response must be 0/1 (or a proportion in [0, 1])")
        if self in (Family.POISSON, Family.NEGATIVE_BINOMIAL) and y.min() < 0:
            raise ModelError(f"glm {self.value}: the response must be a non-negative count")
        if self is Family.GAMMA and y.min() <= 0:
            raise ModelError("glm gamma: the response must be positive (every value above 0)")


# the links each family takes here, statsmodels' default first
_LINKS: dict[Family, tuple[Link, ...]] = {
    Family.GAUSSIAN: (Link.IDENTITY, Link.LOG, Link.INVERSE),
    Family.BINOMIAL: (Link.LOGIT, Link.PROBIT, Link.CLOGLOG, Link.LOG, Link.IDENTITY),
    Family.POISSON: (Link.LOG, Link.IDENTITY),
    Family.GAMMA: (Link.INVERSE, Link.LOG, Link.IDENTITY),
    Family.NEGATIVE_BINOMIAL: (Link.LOG, Link.IDENTITY),
}


@dataclass(frozen=True)
class Model:
    """A family with its link (and, for the negative binomial, the dispersion ``alpha``:
    variance mu + alpha mu^2, statsmodels' NB2)."""

    family: Family
    link: Link
    alpha: float = 1.0

    @classmethod
    def of(cls, family: Family, link: Link | None, alpha: float | None = None) -> Model:
        chosen = family.default_link if link is None else link
        if chosen not in family.links:
            valid = ", ".join(v.value for v in family.links)
            raise InvalidRequest(
                f"glm: the {family.value} family takes the link {valid}, not {chosen.value}"
            )
        return cls(family, chosen, 1.0 if alpha is None else float(alpha))

    @property
    def canonical(self) -> bool:
        """Whether dmu/deta = V(mu): then the observed information equals the expected."""
        canonical = {
            Family.GAUSSIAN: Link.IDENTITY,
            Family.BINOMIAL: Link.LOGIT,
            Family.POISSON: Link.LOG,
        }
        return canonical.get(self.family) is self.link

    @property
    def bounded(self) -> bool:
        """Whether the link can put fitted means outside the family's range (a probability
        outside (0, 1), a mean of a count or gamma at or below 0)."""
        if self.family is Family.BINOMIAL:
            return self.link in (Link.LOG, Link.IDENTITY)
        return self.family is not Family.GAUSSIAN and self.link in (Link.IDENTITY, Link.INVERSE)

    def start(self, y: FloatArray) -> FloatArray:
        """Starting means from each row alone (as R's glm), so round 0 needs no pooled value."""
        if self.family is Family.BINOMIAL:
            return (y + 0.5) / 2.0
        if self.family in (Family.POISSON, Family.NEGATIVE_BINOMIAL):
            return y + 0.1
        return y.copy()

    def eta(self, mu: FloatArray) -> FloatArray:
        return self.link.link(mu)

    def mean(self, eta: FloatArray) -> FloatArray:
        return self.link.mean(eta)

    def _clean(self, mu: FloatArray) -> FloatArray:
        if self.family is Family.BINOMIAL:
            return np.clip(mu, _EPS, 1 - _EPS)
        if self.family is Family.GAUSSIAN:
            return mu
        return np.clip(mu, _EPS, np.inf)

    def variance(self, mu: FloatArray) -> FloatArray:
        p = self._clean(mu)
        if self.family is Family.BINOMIAL:
            return _f(p * (1 - p))
        if self.family is Family.POISSON:
            return p
        if self.family is Family.GAMMA:
            return _f(np.abs(mu) ** 2)
        if self.family is Family.NEGATIVE_BINOMIAL:
            return _f(p + self.alpha * p**2)
        return np.ones_like(mu)

    def variance_deriv(self, mu: FloatArray) -> FloatArray:
        if self.family is Family.BINOMIAL:
            return _f(1 - 2 * self._clean(mu))
        if self.family is Family.POISSON:
            return np.ones_like(mu)
        if self.family is Family.GAMMA:
            return _f(2 * mu)
        if self.family is Family.NEGATIVE_BINOMIAL:
            return _f(1 + 2 * self.alpha * self._clean(mu))
        return np.zeros_like(mu)

    def unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        p = self._clean(mu)
        if self.family is Family.BINOMIAL:
            if _binary(y):  # the same values, one logarithm a row instead of four
                return _f(-2 * np.log(np.where(y == 1, p, 1 - p)))
            out = special.xlogy(y, y) - special.xlogy(y, p)
            out += special.xlogy(1 - y, 1 - y) - special.xlogy(1 - y, 1 - p)
            return _f(2 * out)
        if self.family is Family.POISSON:
            out = special.xlogy(y, y) - special.xlogy(y, p) - (y - mu)
            return _f(2 * out)
        if self.family is Family.GAMMA:
            ratio = np.clip(y / mu, _EPS, np.inf)
            return _f(2 * (-np.log(ratio) + (y - mu) / mu))
        if self.family is Family.NEGATIVE_BINOMIAL:
            inv = 1 / self.alpha
            out = special.xlogy(y, np.clip(y / p, _EPS, np.inf))
            out -= (y + inv) * np.log((y + inv) / (p + inv))
            return _f(2 * out)
        return _f((y - mu) ** 2)

    def loglik(
        self, y: FloatArray, mu: FloatArray, var: FloatArray, freq: FloatArray, scale: float
    ) -> float:
        """The log-likelihood with variance weights ``var``, frequency weights ``freq`` and
        ``scale`` (1 but for the gamma; the gaussian's is completed at the hub from sums)."""
        p = self._clean(mu)
        if self.family is Family.BINOMIAL:
            obs = special.gammaln(2) - special.gammaln(y + 1) - special.gammaln(2 - y)
            obs = obs + special.xlogy(y, p / (1 - p) + 1e-200) + np.log(1 - p)
            return float(np.sum(obs * var * freq))
        if self.family is Family.POISSON:
            obs = special.xlogy(y, np.clip(mu, 1e-300, np.inf)) - mu - special.gammaln(y + 1)
            return float(np.sum(obs * var * freq))
        if self.family is Family.NEGATIVE_BINOMIAL:
            return float(np.sum(nb2_loglik_obs(y, p, self.alpha) * var * freq))
        if self.family is Family.GAMMA:
            kept = var > 0
            ws = var[kept] / scale
            ratio = np.clip(y[kept] / mu[kept], _EPS, np.inf)
            obs = ws * np.log(ws * ratio) - ws * ratio - special.gammaln(ws) - np.log(y[kept])
            return float(np.sum(obs * freq[kept]))
        return 0.0


def nb2_loglik_obs(y: FloatArray, mu: FloatArray, alpha: float) -> FloatArray:
    """Each row's NB2 log-likelihood (mean mu, variance mu + alpha mu^2)."""
    inv = 1 / alpha
    out = special.xlogy(y, alpha * mu) - (y + inv) * np.log1p(alpha * mu)
    out += special.gammaln(y + inv) - special.gammaln(inv) - special.gammaln(y + 1)
    return _f(out)


@dataclass(frozen=True)
class Working:
    """One IRLS pass at one site: X'WX, X'Wz and the sums the hub needs at this beta."""

    xtwx: FloatArray
    xtwz: FloatArray
    deviance: float
    pearson: float
    loglik: float
    weight_sum: float
    weights: FloatArray  # the working weights w / (g'(mu)^2 V(mu))
    score: FloatArray  # each row's score factor w (y - mu) / (g'(mu) V(mu)) (scale 1)


def working(
    model: Model,
    x: FloatArray,
    y: FloatArray,
    w: FloatArray,
    offset: FloatArray,
    eta: FloatArray,
    mu: FloatArray,
    *,
    var: FloatArray | None = None,
    freq: FloatArray | None = None,
    scale: float = 1.0,
    shift: FloatArray | None = None,
) -> Working:
    """The weighted least-squares problem of one IRLS step at (eta, mu): working weights
    W = w / (g'(mu)^2 V(mu)) and response z = eta - offset + g'(mu) (y - mu), as statsmodels.

    Summed over blocks of rows (:mod:`causeway.algorithms.blocks`): the temporaries are a
    block's, never a copy of the design; ``shift`` is subtracted from each column as a block is
    read (the GLM's column shifts)."""
    n, p = x.shape
    var = w if var is None else var
    freq = np.ones_like(w) if freq is None else freq
    weights, score = np.empty(n), np.empty(n)
    xtwx, xtwz = np.zeros((p, p)), np.zeros(p)
    deviance = pearson = loglik = 0.0
    for rows in blocks.spans(n):
        yc, wc, muc = y[rows], w[rows], mu[rows]
        v = model.variance(muc)
        g1 = model.link.deriv(muc)
        weights[rows] = wc / (g1**2 * v)
        # W z without multiplying by g' and dividing again (canonical: score = w (y - mu))
        score[rows] = wc * (yc - muc) / (g1 * v)
        wz = weights[rows] * (eta[rows] - offset[rows]) + score[rows]
        block = blocks.rows(x, rows, shift)
        blocks.add_cross(xtwx, block, weights[rows])
        blocks.add_xtv(xtwz, block, wz)
        unit = float(np.sum(wc * model.unit_deviance(yc, muc)))
        deviance += unit
        pearson += float(np.sum(wc * (yc - muc) ** 2 / v))
        if (
            model.family is Family.BINOMIAL
            and _binary(yc)
            and np.array_equal(var[rows] * freq[rows], wc)
        ):
            # -2 x the log-likelihood for a 0/1 response (one logarithm a row, not three)
            loglik += -0.5 * unit
        else:
            loglik += model.loglik(yc, muc, var[rows], freq[rows], scale)
    return Working(
        xtwx=xtwx,
        xtwz=xtwz,
        deviance=deviance,
        pearson=pearson,
        loglik=loglik,
        weight_sum=float(np.sum(weights)),
        weights=weights,
        score=score,
    )


def observed_factor(model: Model, y: FloatArray, mu: FloatArray, weights: FloatArray) -> FloatArray:
    """Each row's observed-information weight (statsmodels' ``hessian_factor(observed=True)`` at
    scale 1): the expected one times 1 + (y - mu) (V g'' + V' g') / (V g'). Equal to the working
    weights for a canonical link."""
    if model.canonical:
        return weights
    v = model.variance(mu)
    g1, g2 = model.link.deriv(mu), model.link.deriv2(mu)
    extra = (y - mu) * (v * g2 + model.variance_deriv(mu) * g1) / (g1 * v)
    return _f(weights * (1 + extra))
