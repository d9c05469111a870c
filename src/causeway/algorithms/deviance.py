"""Analysis of deviance: the sequential table between nested GLM fits of the same rows.

Like :func:`~causeway.algorithms.lrtest.lr_test`, it is computed from released results at the
researcher's side, with no further round at the sites. The table follows R's ``anova(glm1,
glm2, ..., test=...)``: each row after the first compares a model with the one before it. For
families of known scale (binomial, poisson, negative binomial with fixed alpha) the deviance
drop is chi-square with as many degrees of freedom as the terms added (the likelihood-ratio
test); for estimated scale (gaussian, gamma) it is an F test, (drop / df) / the largest model's
scale, on (df, the largest model's df_resid) degrees of freedom.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats

from causeway.algorithms.family import Family
from causeway.algorithms.glm_result import GLMResult
from causeway.model.errors import InvalidRequest

_COLUMNS = ["model", "df_resid", "deviance", "df", "deviance_drop", "statistic", "p_value"]


@dataclass(frozen=True)
class AnovaRow:
    """One model of the table; the comparison with the model before it (NaN on the first)."""

    formula: str
    df_resid: float
    deviance: float
    df: float
    deviance_drop: float
    statistic: float
    p_value: float


@dataclass(frozen=True)
class AnovaGLM:
    """The sequential analysis-of-deviance table; ``test`` is "Chisq" (known scale) or "F"
    (estimated scale, divided by ``scale``, the largest model's)."""

    family: str
    test: str
    scale: float
    rows: tuple[AnovaRow, ...]

    def to_frame(self) -> pd.DataFrame:
        """One row per model: its residual df and deviance, then the comparison with the
        model before it (df, deviance drop, the chi-square or F statistic and its p-value)."""
        frame = pd.DataFrame(
            [
                (r.formula, r.df_resid, r.deviance, r.df, r.deviance_drop, r.statistic, r.p_value)
                for r in self.rows
            ],
            columns=_COLUMNS,
        )
        frame.attrs["test"] = self.test
        return frame

    def summary(self) -> str:
        scale = f" (scale {self.scale:.6g} of the largest model)" if self.test == "F" else ""
        head = f"Analysis of deviance, GLM {self.family}: {self.test} test{scale}"
        table = self.to_frame().to_string(index=False, float_format=lambda v: f"{v:.6g}")
        return f"{head}\n{table}"

    def _repr_html_(self) -> str:
        from causeway.algorithms.tidy import frame_html

        scale = (
            f"; F divided by the largest model's scale {self.scale:.6g}" if self.test == "F" else ""
        )
        return frame_html(
            f"Analysis of deviance, GLM {self.family}",
            self.to_frame(),
            (f"{self.test} test: each model against the one before it{scale}",),
        )

    def __str__(self) -> str:
        return self.summary()


def _refuse(why: str) -> InvalidRequest:
    return InvalidRequest(f"anova_glm: the models are not nested fits of the same rows: {why}")


def _check_pair(smaller: GLMResult, larger: GLMResult) -> None:
    same = {
        "family": (smaller.family, larger.family),
        "link": (smaller.link_name, larger.link_name),
        "response": (_response(smaller.formula), _response(larger.formula)),
        "weights": (smaller.weights, larger.weights),
        "n": (smaller.n, larger.n),
        "nobs": (smaller.nobs, larger.nobs),
        "rows per site": (smaller.n_per_site, larger.n_per_site),
        "alpha": (smaller.alpha, larger.alpha),
    }
    for what, (a, b) in same.items():
        if a != b:
            raise _refuse(f"different {what} ({a} and {b})")
    extra = [t for t in smaller.terms if t not in larger.terms]
    if extra:
        raise _refuse(
            f"the term(s) {', '.join(extra)} of {smaller.formula!r} are not in {larger.formula!r} "
            "(give the models from the smallest to the largest)"
        )
    if len(larger.terms) <= len(smaller.terms):
        raise _refuse(f"{larger.formula!r} adds no term to {smaller.formula!r}")


def _response(formula: str) -> str:
    return formula.split("~", 1)[0].strip() if "~" in formula else ""


def anova_glm(*models: GLMResult, test: str | None = None) -> AnovaGLM:
    """The sequential analysis-of-deviance table of nested GLM fits, smallest first.

    All must be converged fits of the same family, link, response, weights and rows (and the
    same negative binomial alpha, fixed: an estimated alpha differs between the models), each
    model's terms within the next one's. Each row after the first gives the drop in deviance
    from the model before, its degrees of freedom, and the test: chi-square (the drop itself,
    the likelihood-ratio statistic) for binomial, poisson and negative binomial; F ((drop / df)
    / scale, with the largest model's Pearson scale and df_resid) for gaussian and gamma, as
    R's ``anova(..., test="F")``. ``test="Chisq"`` with an estimated scale gives R's
    ``test="Chisq"`` instead: the drop divided by that scale, chi-square on df.
    """
    if len(models) < 2:
        raise InvalidRequest("anova_glm: give at least two nested GLM fits, smallest first")
    for model in models:
        if not isinstance(model, GLMResult):
            raise InvalidRequest(f"anova_glm: a {type(model).__name__} is not a GLM fit")
        if not model.converged:
            raise InvalidRequest(f"anova_glm: {model.formula!r} did not converge")
        if model.alpha_se is not None:
            raise InvalidRequest(
                "anova_glm: a negative binomial fit with alpha estimated has a different "
                "likelihood per model; fit them with the same fixed alpha (or use lr_test)"
            )
    for smaller, larger in itertools.pairwise(models):
        _check_pair(smaller, larger)
    largest = models[-1]
    estimated = Family(largest.family).estimates_scale
    if test not in (None, "F", "Chisq"):
        raise InvalidRequest(f"anova_glm: test is 'F' or 'Chisq', not {test!r}")
    if test == "F" and not estimated:
        raise InvalidRequest(
            f"anova_glm: the {largest.family} family has scale 1: its test is Chisq (no F test)"
        )
    use_f = estimated and test != "Chisq"
    scale = largest.scale if estimated else 1.0
    first = models[0]
    rows = [AnovaRow(first.formula, first.df_resid, first.deviance, *(4 * [math.nan]))]
    for smaller, larger in itertools.pairwise(models):
        df = smaller.df_resid - larger.df_resid
        drop = smaller.deviance - larger.deviance
        if use_f:
            statistic = drop / df / scale
            p = float(stats.f.sf(statistic, df, largest.df_resid))
        else:
            statistic = drop / scale
            p = float(stats.chi2.sf(max(statistic, 0.0), df))
        row = AnovaRow(larger.formula, larger.df_resid, larger.deviance, df, drop, statistic, p)
        rows.append(row)
    return AnovaGLM(largest.family, "F" if use_f else "Chisq", scale, tuple(rows))
