"""The likelihood-ratio test between two nested fits of the same rows (GLM or Cox).

Both fits are released results already: the test is computed from their log-likelihoods at the
researcher's side, with no further round at the sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats

from causeway.algorithms.cox import CoxResult
from causeway.algorithms.glm_result import GLMResult
from causeway.model.errors import InvalidRequest


@dataclass(frozen=True)
class LRTest:
    """2 (llf of the larger fit - llf of the smaller), its degrees of freedom (the terms the
    larger adds) and the chi-square p-value."""

    statistic: float
    df: int
    p_value: float
    smaller: str
    larger: str

    def to_frame(self) -> pd.DataFrame:
        """One tidy row: ``term`` (the larger model against the smaller), ``statistic``
        (chi-square), ``df`` and ``p_value``."""
        return pd.DataFrame(
            {
                "term": [f"{self.larger} vs {self.smaller}"],
                "statistic": [self.statistic],
                "df": [self.df],
                "p_value": [self.p_value],
            }
        )

    def summary(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        from causeway.algorithms.tidy import frame_html

        return frame_html(
            "Likelihood-ratio test",
            self.to_frame(),
            ("statistic = 2 (llf of the larger fit - llf of the smaller), chi-square on df",),
        )

    def __str__(self) -> str:
        return (
            f"likelihood-ratio test of {self.smaller!r} within {self.larger!r}: "
            f"chi2 = {self.statistic:.6g}, df = {self.df}, p = {self.p_value:.4g}"
        )


def _response(formula: str) -> str:
    return formula.split("~", 1)[0].strip() if "~" in formula else ""


def _fixed_alpha(result: GLMResult) -> float | None:
    return result.alpha if result.alpha_se is None else None


def _refuse(why: str) -> InvalidRequest:
    return InvalidRequest(f"lr_test: the models are not nested on the same rows: {why}")


def lr_test(smaller: GLMResult | CoxResult, larger: GLMResult | CoxResult) -> LRTest:
    """Likelihood-ratio test of ``smaller`` (the null model) within ``larger``.

    Both must be GLM fits (same family, response, weights and rows: ``n``, ``nobs`` and rows per
    site) or both Cox fits (same ``n`` and events), and every term of ``smaller`` must be a term
    of ``larger``. The statistic is 2 (llf_larger - llf_smaller), chi-square with as many degrees
    of freedom as the terms the larger fit adds. For a gaussian GLM, llf is statsmodels' (the
    scale profiled out), so the statistic is statsmodels' ``2 * (llf1 - llf0)``. Fit both models
    with the same filter and formulas whose terms have no missing values beyond the larger's:
    the check on the row counts catches a different filter, not every difference of rows.
    """
    if isinstance(smaller, GLMResult) and isinstance(larger, GLMResult):
        llf0, llf1 = smaller.llf, larger.llf
        same = {
            "family": (smaller.family, larger.family),
            "link": (smaller.link_name, larger.link_name),
            # a fixed negative binomial alpha must be the same; an estimated one is maximised
            "alpha": (_fixed_alpha(smaller), _fixed_alpha(larger)),
            "response": (_response(smaller.formula), _response(larger.formula)),
            "weights": (smaller.weights, larger.weights),
            "n": (smaller.n, larger.n),
            "nobs": (smaller.nobs, larger.nobs),
            "rows per site": (smaller.n_per_site, larger.n_per_site),
        }
    elif isinstance(smaller, CoxResult) and isinstance(larger, CoxResult):
        llf0, llf1 = smaller.log_likelihood, larger.log_likelihood
        same = {
            "n": (smaller.n, larger.n),
            "events": (smaller.events, larger.events),
        }
    else:
        raise _refuse(
            f"a {type(smaller).__name__} and a {type(larger).__name__} (both GLM or both Cox)"
        )
    for what, (a, b) in same.items():
        if a != b:
            raise _refuse(f"different {what} ({a} and {b})")
    extra = [t for t in smaller.terms if t not in larger.terms]
    if extra:
        raise _refuse(f"the smaller model's term(s) {', '.join(extra)} are not in the larger")
    df = len(larger.terms) - len(smaller.terms)
    if df <= 0:
        raise _refuse("the larger model adds no term (pass the smaller model first)")
    if not (smaller.converged and larger.converged):
        raise InvalidRequest("lr_test: a model did not converge; its likelihood is not its maximum")
    statistic = 2.0 * (llf1 - llf0)
    return LRTest(
        statistic,
        df,
        float(stats.chi2.sf(max(statistic, 0.0), df)),
        smaller.formula,
        larger.formula,
    )
