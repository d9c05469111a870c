"""The parameters of a GLM, checked, and the design a node builds from them once per task.

Shared by the pooled fit (:mod:`causeway.algorithms.glm`) and the per-site meta-analysis
(:mod:`causeway.algorithms.meta`), which take the same parameters and fit the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt

from causeway.algorithms import design, params
from causeway.algorithms.base import Cache, Help, Partition
from causeway.algorithms.family import Family, Model
from causeway.algorithms.link import Link
from causeway.model.data import DataView
from causeway.model.dictionary import ColumnType, Dictionary
from causeway.model.errors import InvalidRequest, ModelError

FloatArray = npt.NDArray[np.float64]
MAX_ITER = 100
CovType = Literal["nonrobust", "HC0", "HC1", "cluster"]
COV_TYPES: tuple[str, ...] = ("nonrobust", "HC0", "HC1", "cluster")


@dataclass(frozen=True)
class GLMParams:
    formula: Annotated[str, Help("The model, e.g. 'died ~ age + C(sex) + bmi'.")]
    family: Annotated[
        Family,
        Help(
            "The response's distribution: gaussian and gamma estimate the scale (Pearson chi2 / "
            "df_resid, as statsmodels); binomial, poisson and negative_binomial (NB2, variance "
            "mu + alpha mu^2) have scale 1."
        ),
    ] = Family.GAUSSIAN
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
    link: Annotated[
        Link | None,
        Help(
            "The link (statsmodels' default if not given: identity for gaussian, logit for "
            "binomial, log for poisson and negative_binomial, inverse for gamma). gaussian: "
            "identity, log, inverse; binomial: logit, probit, cloglog, log (log-binomial, "
            "risk ratios), identity; poisson: log, identity; gamma: inverse, log, identity; "
            "negative_binomial: log, identity. Standard errors of a non-canonical link come "
            "from the expected information (the final IRLS weights), as statsmodels' GLM."
        ),
    ] = None
    alpha: Annotated[
        float | None,
        Help(
            "negative_binomial only: the dispersion alpha (variance mu + alpha mu^2), fixed as "
            "statsmodels' NegativeBinomial(alpha=...); not given: estimated by maximum "
            "likelihood with the coefficients, as statsmodels' discrete NegativeBinomial (nb2)."
        ),
    ] = None
    cov_type: Annotated[
        CovType,
        Help(
            "Standard errors as statsmodels' fit(cov_type=...): nonrobust (model-based); HC0 "
            "(sandwich, observed-information bread, score outer products as meat); HC1 (as "
            "statsmodels' GLM, which applies no small-sample factor to HC1: equal to HC0); "
            "cluster (each site one cluster, correction G/(G-1) (N-1)/(N-p) and t with G-1 df "
            "as statsmodels' use_correction default; at least 2 sites; it runs as glm_cluster, "
            "which releases per-site score products and which a dataset's policy may refuse)."
        ),
    ] = "nonrobust"

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
        if self.cov_type not in COV_TYPES:
            raise InvalidRequest(
                f"glm: cov_type {self.cov_type!r} is not one of {', '.join(COV_TYPES)}"
            )
        model = Model.of(self.family, self.link, self.alpha)
        if self.alpha is not None:
            if self.family is not Family.NEGATIVE_BINOMIAL:
                raise InvalidRequest("glm: alpha is the negative_binomial family's dispersion")
            if not (isinstance(self.alpha, int | float) and 0 < self.alpha < 1e6):
                raise InvalidRequest(
                    f"glm: alpha must be a positive number (the dispersion), not {self.alpha!r}"
                )
        max_iter = self.max_iter
        if max_iter is not None:
            params.whole("glm", "max_iter", max_iter, 1, MAX_ITER)
        terms = design.expected_terms("glm", parsed, dictionary)
        if not terms:
            raise InvalidRequest("glm: the formula has no terms to estimate")
        if self.family is Family.NEGATIVE_BINOMIAL and self.alpha is None:
            _check_alpha_estimable(model, var_weights, self.freq_weights, self.cov_type)
        return Spec(
            formula=self.formula,
            parsed=parsed,
            family=self.family,
            model=model,
            estimate_alpha=self.family is Family.NEGATIVE_BINOMIAL and self.alpha is None,
            cov_type=self.cov_type,
            offset=self.offset,
            weights=var_weights,
            freq_weights=self.freq_weights,
            inference=self.inference,
            max_iter=25 if max_iter is None else max_iter,
            private_iter=max_iter,
            tol=params.tolerance("glm", "tol", self.tol),
            terms=tuple(terms),
        )


def _check_alpha_estimable(
    model: Model, var_weights: str | None, freq_weights: str | None, cov_type: str
) -> None:
    """What estimating alpha by maximum likelihood (as statsmodels' discrete NegativeBinomial,
    nb2) covers: the log link, no weights, model-based standard errors."""
    why = None
    if model.link is not Link.LOG:
        why = f"the {model.link.value} link (the maximum likelihood fit has the log link)"
    elif var_weights is not None or freq_weights is not None:
        why = "weights"
    elif cov_type != "nonrobust":
        why = f"cov_type {cov_type!r} (its standard errors are the joint observed information's)"
    if why is not None:
        raise InvalidRequest(
            f"glm negative_binomial: alpha is estimated (none was given) only without {why}; "
            "give a fixed alpha for it"
        )


@dataclass(frozen=True)
class Spec:
    """The checked parameters of one GLM task."""

    formula: str
    parsed: design.ParsedFormula
    family: Family
    model: Model  # the family with its link (and a fixed negative binomial alpha)
    estimate_alpha: bool  # negative binomial with alpha by maximum likelihood
    cov_type: str
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


def factor_partitions(s: Spec, dictionary: Dictionary) -> tuple[Partition, ...]:
    """The sets whose counts a fit's sums give away: the rows at each level of a categorical or
    boolean covariate (its dummy column's diagonal of X'X) and, for a binomial response, the
    events overall and within each level (X'y in the first round)."""
    factors = [
        name
        for name in dict.fromkeys(s.parsed.variables)
        if name != s.parsed.response
        and (column := dictionary.get(name)) is not None
        and column.type in (ColumnType.CATEGORICAL, ColumnType.BOOLEAN)
    ]
    found = [Partition((name,)) for name in factors]
    response = s.parsed.response
    if response is not None and s.family is Family.BINOMIAL:
        found += [Partition((response,)), *(Partition((name, response)) for name in factors)]
    return tuple(found)


@dataclass(frozen=True)
class SiteData:
    """What a node caches for the task: the design and response of its complete cases (or one
    chunk of them, where the design is over the node's memory budget: :mod:`chunked`)."""

    x: FloatArray
    y: FloatArray
    w: FloatArray  # variance x frequency weights: the IRLS prior weights
    offset: FloatArray
    freq: FloatArray  # frequency weights (ones without them)
    var: FloatArray  # variance weights (ones without them)

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    @cached_property
    def xtx(self) -> FloatArray:
        return np.asarray(self.x.T @ self.x, dtype=np.float64)


def site_data(view: DataView, s: Spec, terms: list[str], cache: Cache) -> SiteData:
    cached = cache.get("glm")
    if isinstance(cached, SiteData):
        return cached
    frame: Any
    if design.plain(view.dictionary, s.columns, terms):
        # plain numeric terms: straight from the engine into one float matrix (the design its
        # first columns, column-major), no DataFrame and no second copy
        x, frame = design.plain_matrix("glm", view, terms, s.columns)
        y = frame[str(s.parsed.response)]
    else:
        frame = design.complete_frame(view, s.columns)
        x = design.design("glm", s.parsed.rhs, frame, terms)
        raw = frame[str(s.parsed.response)]
        if hasattr(raw, "cat"):  # a two-level categorical: 1 for the second level
            y = np.asarray(raw.cat.codes == 1, dtype=np.float64)
        else:
            y = np.asarray(raw, dtype=np.float64)
    data = rows_data(s, x, y, frame)
    data.xtx  # noqa: B018 - counted once, with the rows (every round needs it)
    cache["glm"] = data
    return data


def rows_data(s: Spec, x: FloatArray, y: FloatArray, frame: Any) -> SiteData:
    """The task's rows (or a chunk of them) from their design ``x``, response ``y`` and the
    weight and offset columns in ``frame``, checked."""
    s.family.check_response(y)
    var = np.asarray(frame[s.weights], np.float64) if s.weights else np.ones_like(y)
    freq = np.asarray(frame[s.freq_weights], np.float64) if s.freq_weights else np.ones_like(y)
    for name, values in ((s.weights, var), (s.freq_weights, freq)):
        if values.size and values.min() < 0:
            raise ModelError(f"glm: weights column {name!r} holds negative values")
    offset = np.asarray(frame[s.offset], np.float64) if s.offset else np.zeros_like(y)
    return SiteData(x, y, var * freq, offset, freq, var)
