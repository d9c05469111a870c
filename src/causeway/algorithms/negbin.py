"""The negative binomial (NB2) dispersion alpha by maximum likelihood, federated.

statsmodels' discrete ``NegativeBinomial(loglike_method="nb2")`` maximises the likelihood over the
coefficients and alpha together. Here the hub first fits the coefficients by IRLS at alpha = 1,
then takes joint Newton-Raphson steps in (beta, log alpha). Every piece a step needs is a sum over
rows, so each site sends sums only (with the IRLS parts of the same round):

- the score in beta, X' (y - mu) / (1 + alpha mu), and in log alpha, sum of alpha dl/dalpha;
- the observed information: X' diag(mu (1 + alpha y) / (1 + alpha mu)^2) X, the cross term
  X' (alpha (y - mu) mu / (1 + alpha mu)^2) and the second derivative in log alpha,

where dl/dalpha = (y - mu) / (alpha (1 + alpha mu)) + (log(1 + alpha mu) + digamma(1/alpha)
- digamma(y + 1/alpha)) / alpha^2 needs the digamma and trigamma functions at each row. Log alpha
keeps alpha positive; the step in it is at most 1 (alpha changes by a factor e at most).
The covariance is the inverse of the joint observed information, as statsmodels reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from causeway.algorithms import diagnostics
from causeway.model.errors import ModelError

FloatArray = npt.NDArray[np.float64]
MAX_LOG_STEP = 1.0
PARTS = ("nb_score", "nb_hessian", "nb_cross", "nb_theta")


def sums(x: FloatArray, y: FloatArray, mu: FloatArray, alpha: float) -> dict[str, FloatArray]:
    """One site's sums at (beta, alpha) for the joint Newton step (log link, no weights):
    ``nb_score`` X' dl/deta, ``nb_hessian`` X' diag(-d2l/deta2) X, ``nb_cross``
    X' (-d2l/deta dtheta) and ``nb_theta`` [dl/dtheta, -d2l/dtheta2] with theta = log alpha."""
    a = alpha
    inv = 1.0 / a
    one = 1.0 + a * mu
    d_eta = (y - mu) / one
    h_eta = mu * (1.0 + a * y) / one**2
    d_alpha_a = (y - mu) / (a * one)
    log_term = np.log1p(a * mu) + special.digamma(inv) - special.digamma(y + inv)
    d_alpha = d_alpha_a + log_term / a**2
    # second derivative in alpha
    dd_a = -(y - mu) * (1.0 + 2.0 * a * mu) / (a * one) ** 2
    dd_b = (
        -2.0 * log_term / a**3
        + (mu / one - special.polygamma(1, inv) / a**2 + special.polygamma(1, y + inv) / a**2)
        / a**2
    )
    d_theta = a * d_alpha
    h_theta = a * a * (dd_a + dd_b) + d_theta  # d2l/dtheta2
    cross = a * (-(y - mu) * mu / one**2)  # d2l/deta dtheta
    return {
        "nb_score": x.T @ d_eta,
        "nb_hessian": x.T @ (x * h_eta[:, None]),
        "nb_cross": -(x.T @ cross),
        "nb_theta": np.array([float(np.sum(d_theta)), -float(np.sum(h_theta))]),
    }


@dataclass(frozen=True)
class Step:
    """The joint Newton step and the information it came from (negative Hessian)."""

    beta: FloatArray
    alpha: float
    information: FloatArray  # of (beta, log alpha)
    moved: float  # largest step in standard errors


def information(
    score: FloatArray, hessian: FloatArray, cross: FloatArray, theta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """The joint gradient and information (negative Hessian) of (beta, log alpha)."""
    p = hessian.shape[0]
    info = np.zeros((p + 1, p + 1))
    info[:p, :p] = hessian
    info[:p, p] = cross
    info[p, :p] = cross
    info[p, p] = theta[1]
    gradient = np.concatenate([score, theta[:1]])
    return gradient, info


def newton(
    beta: FloatArray,
    alpha: float,
    parts: dict[str, FloatArray],
    terms: list[str],
) -> Step:
    """The next (beta, alpha): one Newton-Raphson step on the summed pieces."""
    gradient, info = information(
        parts["nb_score"], parts["nb_hessian"], parts["nb_cross"], parts["nb_theta"]
    )
    names = [*terms, "log(alpha)"]
    try:
        step = diagnostics.solve("glm negative_binomial", info, gradient, names)
        cov = diagnostics.inverse(info)
    except ModelError:
        raise ModelError(
            "glm negative_binomial: the likelihood is flat or not concave in alpha here, so "
            "alpha cannot be estimated from these rows; give a fixed alpha"
        ) from None
    if not np.all(np.diag(cov) > 0):
        raise ModelError(
            "glm negative_binomial: the likelihood is not concave at these estimates, so alpha "
            "cannot be estimated from these rows; give a fixed alpha"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        moved = float(np.max(np.abs(step) / np.sqrt(np.diag(cov))))
    log_step = float(np.clip(step[-1], -MAX_LOG_STEP, MAX_LOG_STEP))
    return Step(beta + step[:-1], float(alpha * np.exp(log_step)), info, moved)
