"""The parameters of a GLM, checked, and the design a node builds from them once per task.

Shared by the pooled fit (:mod:`causeway.algorithms.glm`) and the per-site meta-analysis
(:mod:`causeway.algorithms.meta`), which take the same parameters and fit the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt

from causeway.algorithms import design, params
from causeway.algorithms.base import Cache, Help
from causeway.algorithms.family import Family
from causeway.model.data import DataView
from causeway.model.dictionary import ColumnType, Dictionary
from causeway.model.errors import InvalidRequest, ModelError

FloatArray = npt.NDArray[np.float64]
MAX_ITER = 100


@dataclass(frozen=True)
class GLMParams:
    formula: Annotated[str, Help("The model, e.g. 'died ~ age + C(sex) + bmi'.")]
    family: Annotated[Family, Help("The response's distribution.")] = Family.GAUSSIAN
    offset: Annotated[str | None, Help("Offset column (e.g. log exposure).")] = None
    weights: Annotated[
        str | None, Help("Deprecated: the same as var_weights (variance weights).")
    ] = None
    max_iter: Annotated[
        int | None,
        Help(
            f"Most IRLS iterations, 1 to {MAX_ITER} (25 if not given; a differentially private "
            "binomial fit takes 5 rounds)"
        ),
    ] = None
    tol: Annotated[float, Help("Convergence tolerance on the relative deviance change.")] = 1e-10
    var_weights: Annotated[
        str | None,
        Help(
            "Variance (analytic) weights column: row i's variance is scale * V(mu) / w_i, as "
            "statsmodels' var_weights (and R's weights)."
        ),
    ] = None
    freq_weights: Annotated[
        str | None,
        Help(
            "Frequency weights column: row i stands for w_i identical rows (n and the residual "
            "df count them), as statsmodels' freq_weights."
        ),
    ] = None
    inference: Annotated[
        Literal["z", "t"],
        Help(
            "p-values and intervals from the normal distribution (z, as statsmodels' GLM) or "
            "from t with the residual df (t, as R's lm and statsmodels' OLS)."
        ),
    ] = "z"

    def checked(self, dictionary: Dictionary) -> Spec:
        parsed = design.parse("glm", self.formula, dictionary, response=True)
        response = params.lookup(str(parsed.response), dictionary)
        categorical = response.type in (ColumnType.CATEGORICAL, ColumnType.BOOLEAN)
        if categorical and (
            self.family is not Family.BINOMIAL or len(params.levels("glm", response)) != 2
        ):
            raise InvalidRequest(
                f"glm: a categorical response ({response.name!r}) needs family binomial and "
                "exactly two levels"
            )
        if self.weights is not None and self.var_weights is not None:
            raise InvalidRequest(
                "glm: give var_weights only (weights is its deprecated name), not both"
            )
        var_weights = self.var_weights if self.var_weights is not None else self.weights
        for column in (self.offset, var_weights, self.freq_weights):
            if column is not None:
                params.numeric("glm", params.lookup(column, dictionary))
        if self.inference not in ("z", "t"):
            raise InvalidRequest("glm: inference is 'z' (normal) or 't' (t with residual df)")
        max_iter = self.max_iter
        if max_iter is not None:
            params.whole("glm", "max_iter", max_iter, 1, MAX_ITER)
        terms = design.expected_terms("glm", parsed, dictionary)
        if not terms:
            raise InvalidRequest("glm: the formula has no terms to estimate")
        return Spec(
            formula=self.formula,
            parsed=parsed,
            family=self.family,
            offset=self.offset,
            weights=var_weights,
            freq_weights=self.freq_weights,
            inference=self.inference,
            max_iter=25 if max_iter is None else max_iter,
            private_iter=max_iter,
            tol=params.tolerance("glm", "tol", self.tol),
            terms=tuple(terms),
        )


@dataclass(frozen=True)
class Spec:
    """The checked parameters of one GLM task."""

    formula: str
    parsed: design.ParsedFormula
    family: Family
    offset: str | None
    weights: str | None  # variance weights
    freq_weights: str | None
    inference: str
    max_iter: int
    private_iter: int | None  # as asked: a private fit has its own default
    tol: float
    terms: tuple[str, ...]  # the design's columns the dictionary implies

    @property
    def columns(self) -> list[str]:
        extra = [c for c in (self.offset, self.weights, self.freq_weights) if c is not None]
        return [str(self.parsed.response), *self.parsed.variables, *extra]


@dataclass(frozen=True)
class SiteData:
    """What a node caches for the task: the design and response of its complete cases."""

    x: FloatArray
    y: FloatArray
    w: FloatArray  # variance x frequency weights: the IRLS prior weights
    offset: FloatArray
    xtx: FloatArray
    freq: FloatArray  # frequency weights (ones without them)
    var: FloatArray  # variance weights (ones without them)

    @property
    def n(self) -> int:
        return int(self.y.shape[0])


def site_data(view: DataView, s: Spec, terms: list[str], cache: Cache) -> SiteData:
    cached = cache.get("glm")
    if isinstance(cached, SiteData):
        return cached
    frame = design.complete_frame(view, s.columns)
    x = design.design("glm", s.parsed.rhs, frame, terms)
    raw = frame[str(s.parsed.response)]
    if hasattr(raw, "cat"):  # a two-level categorical: 1 for the second level
        y = np.asarray(raw.cat.codes == 1, dtype=np.float64)
    else:
        y = np.asarray(raw, dtype=np.float64)
    s.family.check_response(y)
    var = np.asarray(frame[s.weights], np.float64) if s.weights else np.ones_like(y)
    freq = np.asarray(frame[s.freq_weights], np.float64) if s.freq_weights else np.ones_like(y)
    for name, values in ((s.weights, var), (s.freq_weights, freq)):
        if values.size and values.min() < 0:
            raise ModelError(f"glm: weights column {name!r} holds negative values")
    offset = np.asarray(frame[s.offset], np.float64) if s.offset else np.zeros_like(y)
    data = SiteData(x, y, var * freq, offset, x.T @ x, freq, var)
    cache["glm"] = data
    return data
