"""Estimates with a covariance matrix: standard errors, z, p-values and Wald intervals.

Shared by the model results (GLM, Cox): each is a dataclass with ``terms``, ``coefficients`` and
``covariance`` fields, and gets these views of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from causeway.algorithms.base import Released
from causeway.model.errors import InvalidRequest


class WaldEstimates(Released):
    terms: tuple[str, ...]
    coefficients: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]

    @property
    def coef(self) -> pd.Series[float]:
        return pd.Series(self.coefficients, index=list(self.terms), name="coef", dtype=float)

    @property
    def cov(self) -> pd.DataFrame:
        return pd.DataFrame(np.array(self.covariance), index=self.terms, columns=self.terms)

    @property
    def se(self) -> pd.Series[float]:
        values = np.sqrt(np.diag(np.array(self.covariance, dtype=float)))
        return pd.Series(values, index=list(self.terms), name="se", dtype=float)

    @property
    def zvalues(self) -> pd.Series[float]:
        return (self.coef / self.se).rename("z")

    @property
    def pvalues(self) -> pd.Series[float]:
        z = self.zvalues.to_numpy()
        return pd.Series(2 * stats.norm.sf(np.abs(z)), index=list(self.terms), name="p_value")

    @property
    def params(self) -> pd.Series[float]:
        """The estimates (statsmodels' name; the same as ``coef``)."""
        return self.coef

    @property
    def bse(self) -> pd.Series[float]:
        """Their standard errors (statsmodels' name; the same as ``se``)."""
        return self.se

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """The (1 - alpha) interval of each coefficient (Wald, unless a result says otherwise)."""
        return self.wald_interval(alpha)

    def exp_params(self, level: float = 0.95, *, name: str = "exp_coef") -> pd.DataFrame:
        """exp(estimate) of every term with its interval at ``level`` (exp of the coefficient's
        interval from ``conf_int``): odds, rate or hazard ratios, as the model's link makes them.

        Columns ``name``, ``lower`` and ``upper``; ``attrs["level"]`` holds the level."""
        ci = self.conf_int(alpha_of(level))
        out = pd.DataFrame(
            {name: np.exp(self.coef), "lower": np.exp(ci["lower"]), "upper": np.exp(ci["upper"])},
            index=list(self.terms),
        )
        out.attrs["level"] = level
        return out

    def to_frame(self, level: float = 0.95, *, exponentiate: bool = False) -> pd.DataFrame:
        """One row per term: ``term``, ``estimate``, ``std_error``, ``statistic`` (z, or t where
        the result's inference is t), ``p_value``, ``conf_low`` and ``conf_high`` at ``level``
        (statsmodels' ``summary2().tables[1]``, broom's ``tidy``). With ``exponentiate`` the
        estimate and its interval are exp'd (odds, rate or hazard ratios); ``std_error``,
        ``statistic`` and ``p_value`` stay those of the coefficient, as broom's."""
        ci = self.conf_int(alpha_of(level))
        values = [self.coef, ci["lower"], ci["upper"]]
        estimate, low, high = (np.asarray(v, dtype=float) for v in values)
        if exponentiate:
            estimate, low, high = np.exp(estimate), np.exp(low), np.exp(high)
        out = pd.DataFrame(
            {
                "term": list(self.terms),
                "estimate": estimate,
                "std_error": self.se.to_numpy(dtype=float),
                "statistic": self.zvalues.to_numpy(dtype=float),
                "p_value": self.pvalues.to_numpy(dtype=float),
                "conf_low": low,
                "conf_high": high,
            }
        )
        out.attrs["level"] = level
        return out

    def conventions(self) -> tuple[str, ...]:
        return (
            "statistic = estimate / std_error; p-values and 95% intervals Wald (normal)",
            *self._missing_note(),
        )

    def wald_interval(self, alpha: float = 0.05) -> pd.DataFrame:
        """The (1 - alpha) Wald interval of each coefficient."""
        z = float(stats.norm.ppf(1 - alpha / 2))
        return pd.DataFrame(
            {"lower": self.coef - z * self.se, "upper": self.coef + z * self.se},
            index=list(self.terms),
        )


def alpha_of(level: float) -> float:
    """1 - level, refusing a level outside (0, 1)."""
    if not isinstance(level, int | float) or not 0.0 < float(level) < 1.0:
        raise InvalidRequest(f"level must be a number between 0 and 1 (e.g. 0.95), not {level!r}")
    return 1.0 - float(level)
