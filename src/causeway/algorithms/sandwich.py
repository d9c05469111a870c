"""Robust standard errors of a GLM (``cov_type``), as statsmodels' ``fit(cov_type=...)``.

Each site sends, beside IRLS's sums, the observed information X'DX (the sandwich's bread;
statsmodels' ``hessian`` at scale 1) and the meat: for HC0 and HC1 the sum of its rows' score
outer products X' diag(s^2) X, for the cluster type (each site one cluster) the outer product of
its summed score. The hub adds them and makes H^-1 M H^-1. The scale cancels, so robust errors do
not depend on it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from causeway.algorithms import blocks, diagnostics
from causeway.algorithms.family import Model, observed_factor
from causeway.algorithms.glm_spec import SiteData, Spec
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.errors import ModelError

FloatArray = npt.NDArray[np.float64]


def _sum(value: FloatArray) -> Part:
    return Part(PartKind.CROSS_PRODUCT, np.asarray(value, dtype=np.float64))


def parts(
    cov_type: str,
    model: Model,
    x: FloatArray,
    shift: FloatArray | None,
    data: SiteData,
    mu: FloatArray,
    weights: FloatArray,
    score: FloatArray,
) -> dict[str, Part]:
    """What a sandwich covariance needs from a site: the observed information X'DX (its
    bread; statsmodels' ``hessian`` at scale 1) and the meat: for HC0/HC1 the sum of each
    row's score outer product (statsmodels divides a row's by its frequency weight), for the
    cluster type the outer product of the site's summed score (one cluster per site)."""
    if cov_type == "nonrobust" and model.canonical:
        return {}
    factor = observed_factor(model, data.y, mu, weights)
    parts = {"hessian": _sum(blocks.cross(x, factor, shift))}
    if cov_type == "nonrobust":  # a non-canonical link's Newton steps need only that
        return parts
    if cov_type == "cluster":
        total = blocks.xtv(x, score, shift)
        parts["cluster_meat"] = _sum(np.outer(total, total))
    else:
        squared = score**2 / np.where(data.freq > 0, data.freq, 1.0)
        parts["meat"] = _sum(blocks.cross(x, squared, shift))
    return parts


def covariance(
    total: Aggregate, s: Spec, xtwx: FloatArray, scale: float, n: int, p: int
) -> FloatArray:
    """The coefficients' covariance (of the shifted design) by ``cov_type``, as statsmodels:
    nonrobust, the inverse expected information (the final IRLS weights) times the scale;
    HC0 and HC1 (no small-sample factor in statsmodels' GLM), H^-1 M H^-1 with H the observed
    information and M the summed score outer products; cluster, the same with each site's summed
    score as one cluster's, times G / (G - 1) (N - 1) / (N - p) (statsmodels' use_correction)."""
    if s.cov_type == "nonrobust":
        return diagnostics.inverse(xtwx) * scale
    bread = diagnostics.inverse(total.value("hessian"))
    if s.cov_type != "cluster":
        meat = total.value("meat")
        return np.asarray(bread @ meat @ bread.T, dtype=np.float64)
    sites = total.sites
    if sites < 2:
        raise ModelError(
            f"glm: cluster-robust standard errors cluster by site and need at least 2 sites; "
            f"this fit has {sites}"
        )
    meat = total.value("cluster_meat")
    factor = sites / (sites - 1.0) * (n - 1.0) / (n - p)
    return np.asarray(bread @ meat @ bread.T * factor, dtype=np.float64)
