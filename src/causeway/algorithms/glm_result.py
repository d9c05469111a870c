"""The result of a pooled federated GLM, shaped like statsmodels' GLMResults where it matters."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from causeway.algorithms.family import Family
from causeway.algorithms.link import Link
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

    ``link`` is the link function (``link_name`` gives the family's default for a result of
    before links); ``cov_type`` how the covariance was made (nonrobust, HC0, HC1 or cluster,
    as statsmodels' ``fit(cov_type=...)``; with cluster, ``n_clusters`` sites and t inference on
    ``n_clusters - 1`` df); ``alpha`` a negative binomial's dispersion, with ``alpha_se`` when it
    was estimated by maximum likelihood (AIC and BIC then count it). Every summary prints the
    link and the covariance type.
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
    link: str = ""  # "" for a result of before links: the family's default
    cov_type: str = "nonrobust"
    n_clusters: int | None = None  # cov_type "cluster": the sites (t inference takes G - 1 df)
    alpha: float | None = None  # negative binomial: the dispersion (fixed or estimated)
    alpha_se: float | None = None  # its standard error when estimated (None: fixed)

    @property
    def link_name(self) -> str:
        """The link (the family's default when the result predates links)."""
        return self.link or Family(self.family).default_link.value

    @property
    def df_inference(self) -> float:
        """The t distribution's degrees of freedom: df_resid, or G - 1 for cluster-robust
        standard errors over G sites (as statsmodels' ``df_resid_inference``)."""
        if self.cov_type == "cluster" and self.n_clusters is not None:
            return float(self.n_clusters - 1)
        return self.df_resid

    @property
    def convention(self) -> str:
        """The line every summary prints: how p-values and intervals were made, the covariance
        type and weights."""
        how = "z (normal)" if self.inference == "z" else f"t (df {self.df_inference:g})"
        cov = self.cov_type
        if cov == "cluster" and self.n_clusters is not None:
            cov += f" (by site, {self.n_clusters} clusters)"
        return f"inference: {how}; weights: {self.weights}; covariance: {cov}"

    @property
    def pvalues(self) -> pd.Series[float]:
        if self.inference != "t":
            return super().pvalues
        t = np.abs(self.zvalues.to_numpy())
        values = 2 * stats.t.sf(t, self.df_inference)
        return pd.Series(values, index=list(self.terms), name="p_value")

    @property
    def df_model(self) -> int:
        return len(self.terms) - 1

    @property
    def k_params(self) -> int:
        """The estimated parameters AIC and BIC count: the coefficients, and alpha when it was
        estimated (statsmodels' discrete NegativeBinomial); the gaussian or gamma scale is not
        counted, as statsmodels' GLM."""
        return self.df_model + 1 + (1 if self.alpha_se is not None else 0)

    @property
    def aic(self) -> float:
        """As statsmodels: -2 llf + 2 k_params."""
        return -2.0 * self.llf + 2.0 * self.k_params

    @property
    def bic(self) -> float:
        """As statsmodels' ``bic_llf`` (its GLM ``bic``): -2 llf + k_params log(nobs), with
        nobs = df_model + df_resid + 1 (frequency weights counted); not ``bic_deviance``."""
        return -2.0 * self.llf + self.k_params * math.log(self.df_model + self.df_resid + 1)

    @property
    def bic_llf(self) -> float:
        """statsmodels' name for :attr:`bic`."""
        return self.bic

    def odds_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """Odds ratios of a binomial (logit) fit: exp(coef) with its interval at ``level``
        (columns ``odds_ratio``, ``lower``, ``upper``; the intercept row is the baseline odds)."""
        self._require((Family.BINOMIAL,), Link.LOGIT, "odds ratios")
        return self.exp_params(level, name="odds_ratio")

    def rate_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """Rate ratios of a poisson or negative binomial (log) fit: exp(coef) with its interval
        at ``level`` (columns ``rate_ratio``, ``lower``, ``upper``; the intercept row is the
        baseline rate)."""
        self._require((Family.POISSON, Family.NEGATIVE_BINOMIAL), Link.LOG, "rate ratios")
        return self.exp_params(level, name="rate_ratio")

    def risk_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """Risk ratios of a log-binomial fit (family binomial, link log): exp(coef) with its
        interval at ``level`` (columns ``risk_ratio``, ``lower``, ``upper``; the intercept row
        is the baseline risk)."""
        self._require((Family.BINOMIAL,), Link.LOG, "risk ratios")
        return self.exp_params(level, name="risk_ratio")

    def _require(self, families: tuple[Family, ...], link: Link, what: str) -> None:
        if self.family not in {f.value for f in families} or self.link_name != link.value:
            names = " or ".join(f.value for f in families)
            raise InvalidRequest(
                f"glm: {what} need a {names} fit with the {link.value} link; this one is "
                f"{self.family} ({self.link_name}) (exp_params(level) gives exp(coef) of any fit)"
            )

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """The (1 - alpha) interval of each coefficient: z or t (``inference``)."""
        if self.inference != "t":
            return self.wald_interval(alpha)
        q = float(stats.t.ppf(1 - alpha / 2, self.df_inference))
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
            f"GLM {self.family} ({self.link_name} link): {self.formula}\n"
            f"n = {self.n}{sites}, df_resid = {self.df_resid:g}, "
            f"iterations = {self.iterations}{'' if self.converged else ' (NOT converged)'}\n"
            f"deviance = {self.deviance:.6g}, null deviance = {self.null_deviance:.6g}, "
            f"AIC = {self.aic:.6g}, BIC = {self.bic:.6g}"
        )
        if self.family in ("gaussian", "gamma"):
            head += f", scale = {self.scale:.6g}"
        if self.alpha is not None:
            how = "fixed" if self.alpha_se is None else f"ML, se {self.alpha_se:.6g}"
            head += f", alpha = {self.alpha:.6g} ({how})"
        return head

    def conventions(self) -> tuple[str, ...]:
        """The convention line (inference, weights and covariance type), then any warnings."""
        lines = (
            f"statistic = estimate / std_error; 95% intervals; {self.convention}",
            *(f"WARNING: {w}" for w in self.warnings),
        )
        return lines + self._missing_note()

    def summary(self) -> str:
        """The fit (with its link), the tidy coefficient table (``to_frame``), its convention
        line (inference, weights and covariance type) and any warnings."""
        return super().summary()

    def __str__(self) -> str:
        head = f"{self.heading()}\n{self.convention}"
        lines = [head, self.table().to_string(float_format=lambda v: f"{v:.6g}")]
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)
