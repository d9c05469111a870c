"""GLM link functions g (eta = g(mu)), with the derivatives IRLS and the sandwich need.

Each is computed as statsmodels' ``sm.families.links`` computes it (the same clipping of the
mean into the link's domain), so that a federated fit equals statsmodels' on the pooled rows.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from causeway.model.choice import parse_choice

FloatArray = npt.NDArray[np.float64]
_EPS = float(np.finfo(float).eps)


def _f(values: object) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


class Link(StrEnum):
    """A link function: ``identity``, ``log``, ``logit``, ``probit``, ``cloglog``
    (complementary log-log) or ``inverse`` (statsmodels' InversePower, 1 / mu)."""

    IDENTITY = "identity"
    LOG = "log"
    LOGIT = "logit"
    PROBIT = "probit"
    CLOGLOG = "cloglog"
    INVERSE = "inverse"

    @classmethod
    def parse(cls, value: object) -> Link:
        return parse_choice(cls, value, "link", prefix="glm: ")

    @property
    def saturates(self) -> bool:
        """Whether the link maps a steep linear predictor to means of exactly 0 or 1 (or 0 for
        a count): the released sums then turn into counts of outcomes on either side of a
        threshold, which a node refuses (see ``GLM.check_state``)."""
        return self in (Link.LOGIT, Link.PROBIT, Link.CLOGLOG, Link.LOG)

    def _clean(self, mu: FloatArray) -> FloatArray:
        if self in (Link.LOGIT, Link.PROBIT, Link.CLOGLOG):
            return np.clip(mu, _EPS, 1 - _EPS)
        if self is Link.LOG:
            return np.clip(mu, _EPS, np.inf)
        return mu

    def link(self, mu: FloatArray) -> FloatArray:
        """eta = g(mu)."""
        p = self._clean(mu)
        if self is Link.LOGIT:
            return _f(np.log(p / (1 - p)))
        if self is Link.PROBIT:
            return _f(stats.norm.ppf(p))
        if self is Link.CLOGLOG:
            return _f(np.log(-np.log1p(-p)))
        if self is Link.LOG:
            return _f(np.log(p))
        if self is Link.INVERSE:
            return _f(1.0 / p)
        return _f(p)

    def mean(self, eta: FloatArray) -> FloatArray:
        """mu = g^-1(eta)."""
        if self is Link.LOGIT:
            return _f(special.expit(eta))
        if self is Link.PROBIT:
            return _f(stats.norm.cdf(eta))
        if self is Link.CLOGLOG:
            return _f(1 - np.exp(-np.exp(np.clip(eta, -700, 700))))
        if self is Link.LOG:
            return _f(np.exp(np.clip(eta, -700, 700)))
        if self is Link.INVERSE:
            return _f(1.0 / eta)
        return _f(eta)

    def deriv(self, mu: FloatArray) -> FloatArray:
        """g'(mu) = deta / dmu."""
        p = self._clean(mu)
        if self is Link.LOGIT:
            return _f(1 / (p * (1 - p)))
        if self is Link.PROBIT:
            return _f(1 / stats.norm.pdf(stats.norm.ppf(p)))
        if self is Link.CLOGLOG:
            return _f(1.0 / ((p - 1) * np.log1p(-p)))
        if self is Link.LOG:
            return _f(1.0 / p)
        if self is Link.INVERSE:
            return _f(-1.0 / p**2)
        return np.ones_like(p)

    def deriv2(self, mu: FloatArray) -> FloatArray:
        """g''(mu), for the observed information (the sandwich's bread)."""
        p = self._clean(mu)
        if self is Link.LOGIT:
            return _f((2 * p - 1) / (p * (1 - p)) ** 2)
        if self is Link.PROBIT:
            z = stats.norm.ppf(p)
            return _f(z / stats.norm.pdf(z) ** 2)
        if self is Link.CLOGLOG:
            q = 1 - p
            log_q = np.log(q)
            return _f(-(log_q + 1) / (q * log_q) ** 2)
        if self is Link.LOG:
            return _f(-1.0 / p**2)
        if self is Link.INVERSE:
            return _f(2.0 / p**3)
        return np.zeros_like(p)
