"""Estimates with a covariance matrix: standard errors, z, p-values and Wald intervals.

Shared by the model results (GLM, Cox): each is a dataclass with ``terms``, ``coefficients`` and
``covariance`` fields, and gets these views of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from causeway.algorithms.base import Released


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

    def wald_interval(self, alpha: float = 0.05) -> pd.DataFrame:
        """The (1 - alpha) Wald interval of each coefficient."""
        z = float(stats.norm.ppf(1 - alpha / 2))
        return pd.DataFrame(
            {"lower": self.coef - z * self.se, "upper": self.coef + z * self.se},
            index=list(self.terms),
        )
