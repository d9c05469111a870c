"""The result of a pooled federated GLM, shaped like statsmodels' GLMResults where it matters."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from causeway.algorithms.family import Family
from causeway.algorithms.wald import WaldEstimates
from causeway.model.errors import InvalidRequest

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class GLMResult(WaldEstimates):
    """Coefficients, their covariance (already multiplied by ``scale``) and fit statistics.

    p-values and intervals use the normal distribution (``inference="z"``), as statsmodels' GLM
    does by default, or t with ``df_resid`` degrees of freedom (``inference="t"``, as R's lm and
    statsmodels' OLS). ``weights`` says how prior weights were taken: none, variance (as
    statsmodels' var_weights) or frequency (freq_weights: ``nobs`` and ``df_resid`` count them).
    ``warnings`` (e.g. non-convergence) are shown by ``str``, ``summary()`` and ``table``.
    """

    formula: str
    family: str
    terms: tuple[str, ...]
    coefficients: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    deviance: float
    null_deviance: float
    pearson_chi2: float
    scale: float
    llf: float
    df_resid: float
    n: int
    n_per_site: tuple[int, ...]
    iterations: int
    converged: bool
    warnings: tuple[str, ...] = ()
    inference: str = "z"
    weights: str = "none"
    nobs: float | None = None  # rows, or the sum of the frequency weights (None: n)

    @property
    def convention(self) -> str:
        """The line every summary prints: how p-values and intervals were made, and weights."""
        how = "z (normal)" if self.inference == "z" else f"t (df {self.df_resid:g})"
        return f"inference: {how}; weights: {self.weights}"

    @property
    def pvalues(self) -> pd.Series[float]:
        if self.inference != "t":
            return super().pvalues
        t = np.abs(self.zvalues.to_numpy())
        values = 2 * stats.t.sf(t, self.df_resid)
        return pd.Series(values, index=list(self.terms), name="p_value")

    @property
    def df_model(self) -> int:
        return len(self.terms) - 1

    @property
    def aic(self) -> float:
        """As statsmodels: -2 llf + 2 (df_model + 1); the gaussian scale is not counted."""
        return -2.0 * self.llf + 2.0 * (self.df_model + 1)

    @property
    def bic(self) -> float:
        """As statsmodels' ``bic_llf`` (its GLM ``bic``): -2 llf + (df_model + 1) log(nobs), with
        nobs = df_model + df_resid + 1 (frequency weights counted); not ``bic_deviance``."""
        return -2.0 * self.llf + (self.df_model + 1) * math.log(self.df_model + self.df_resid + 1)

    def odds_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """Odds ratios of a binomial (logit) fit: exp(coef) with its interval at ``level``
        (columns ``odds_ratio``, ``lower``, ``upper``; the intercept row is the baseline odds)."""
        self._require(Family.BINOMIAL, "odds ratios")
        return self.exp_params(level, name="odds_ratio")

    def rate_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """Rate ratios of a poisson (log) fit: exp(coef) with its interval at ``level``
        (columns ``rate_ratio``, ``lower``, ``upper``; the intercept row is the baseline rate)."""
        self._require(Family.POISSON, "rate ratios")
        return self.exp_params(level, name="rate_ratio")

    def _require(self, family: Family, what: str) -> None:
        if self.family != family.value:
            link = "logit" if family is Family.BINOMIAL else "log"
            raise InvalidRequest(
                f"glm: {what} need a {family.value} ({link}) fit; this one is {self.family} "
                "(exp_params(level) gives exp(coef) of any fit)"
            )

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """The (1 - alpha) interval of each coefficient: z or t (``inference``)."""
        if self.inference != "t":
            return self.wald_interval(alpha)
        q = float(stats.t.ppf(1 - alpha / 2, self.df_resid))
        return pd.DataFrame(
            {"lower": self.coef - q * self.se, "upper": self.coef + q * self.se},
            index=list(self.terms),
        )

    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        ci = self.conf_int(alpha)
        out = pd.DataFrame(
            {
                "coef": self.coef,
                "se": self.se,
                self.inference: self.zvalues,
                "p_value": self.pvalues,
                "lower": ci["lower"],
                "upper": ci["upper"],
            }
        )
        if self.warnings:
            out.attrs["warnings"] = list(self.warnings)
        return out

    def plot(
        self, level: float = 0.95, *, ax: Axes | None = None, intercept: bool = False
    ) -> Figure:
        """A forest of the terms at ``level``: odds ratios (binomial) or rate ratios (poisson) on
        a log axis with a reference line at 1, the coefficients of other families around 0; the
        intercept only with ``intercept=True``. Needs matplotlib (``pip install causeway[plot]``).
        """
        from causeway.algorithms.figures.forest import glm_figure

        return glm_figure(self, level=level, ax=ax, intercept=intercept)

    def heading(self) -> str:
        """The model, n, iterations and fit statistics."""
        sites = f" over {len(self.n_per_site)} sites" if self.n_per_site else ""
        head = (
            f"GLM {self.family}: {self.formula}\n"
            f"n = {self.n}{sites}, df_resid = {self.df_resid:g}, "
            f"iterations = {self.iterations}{'' if self.converged else ' (NOT converged)'}\n"
            f"deviance = {self.deviance:.6g}, null deviance = {self.null_deviance:.6g}, "
            f"AIC = {self.aic:.6g}, BIC = {self.bic:.6g}"
        )
        if self.family == "gaussian":
            head += f", scale = {self.scale:.6g}"
        return head

    def conventions(self) -> tuple[str, ...]:
        """The convention line (inference and weights), then any warnings."""
        lines = (
            f"statistic = estimate / std_error; 95% intervals; {self.convention}",
            *(f"WARNING: {w}" for w in self.warnings),
        )
        return lines + self._missing_note()

    def summary(self) -> str:
        """The fit, the tidy coefficient table (``to_frame``), its convention line (inference
        and weights) and any warnings."""
        return super().summary()

    def __str__(self) -> str:
        head = f"{self.heading()}\n{self.convention}"
        lines = [head, self.table().to_string(float_format=lambda v: f"{v:.6g}")]
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)
