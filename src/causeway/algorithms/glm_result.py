"""The result of a pooled federated GLM, shaped like statsmodels' GLMResults where it matters."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from causeway.algorithms.wald import WaldEstimates


@dataclass(frozen=True)
class GLMResult(WaldEstimates):
    """Coefficients, their covariance (already multiplied by ``scale``) and fit statistics.

    p-values and intervals use the normal distribution, as statsmodels' GLM does by default.
    ``warnings`` (e.g. non-convergence) are shown by ``str`` and ``table``.
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
    df_resid: int
    n: int
    n_per_site: tuple[int, ...]
    iterations: int
    converged: bool
    warnings: tuple[str, ...] = ()

    @property
    def df_model(self) -> int:
        return len(self.terms) - 1

    @property
    def aic(self) -> float:
        """As statsmodels: -2 llf + 2 (df_model + 1); the gaussian scale is not counted."""
        return -2.0 * self.llf + 2.0 * (self.df_model + 1)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        return self.wald_interval(alpha)

    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        ci = self.conf_int(alpha)
        out = pd.DataFrame(
            {
                "coef": self.coef,
                "se": self.se,
                "z": self.zvalues,
                "p_value": self.pvalues,
                "lower": ci["lower"],
                "upper": ci["upper"],
            }
        )
        if self.warnings:
            out.attrs["warnings"] = list(self.warnings)
        return out

    def __str__(self) -> str:
        sites = f" over {len(self.n_per_site)} sites" if self.n_per_site else ""
        head = (
            f"GLM {self.family}: {self.formula}\n"
            f"n = {self.n}{sites}, df_resid = {self.df_resid}, "
            f"iterations = {self.iterations}{'' if self.converged else ' (NOT converged)'}\n"
            f"deviance = {self.deviance:.6g}, null deviance = {self.null_deviance:.6g}, "
            f"AIC = {self.aic:.6g}"
        )
        if self.family == "gaussian":
            head += f", scale = {self.scale:.6g}"
        lines = [head, self.table().to_string(float_format=lambda v: f"{v:.6g}")]
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)
