"""``glm``: generalised linear models (gaussian, binomial, poisson, gamma, NB2) by federated IRLS.

Round k: every node evaluates the model at the hub's current coefficients and returns X'WX, X'Wz
and the deviance, Pearson and log-likelihood sums there; the hub adds them, solves for the next
coefficients and stops when the deviance settles (relative change below ``tol``). The summed
normal equations are exactly the pooled ones, so the fit equals statsmodels on the stacked rows.
An intercept-only model (with the same offset and weights) is fitted alongside for the null deviance.

With an intercept, every other design column is shifted by a constant every site shares (state
``shifts``): the centre of its range over the dictionary's bounds, and, when round 0's X'X shows
the pooled mean of a column still far from it (|mean - shift| / sd above 100), the pooled means in
a fresh start. The fit is exact reparametrisation (x - s)'b~ = x'b, transformed back at the end;
without it, a covariate of large offset (|mean| / sd ~ 1e5) makes X'X numerically singular. The
shifted sums are an exact function of the unshifted ones, so they disclose nothing more.

Links other than the canonical one (:mod:`causeway.algorithms.link`) use the general working
weights w / (g'(mu)^2 V(mu)) (Fisher scoring, as statsmodels' IRLS) and, once near the maximum,
Newton steps with the observed information (the same maximum, reached quadratically where
Fisher scoring is linear); their standard errors come from the expected information at the
final weights, as statsmodels reports them. Such a fit also waits for its next step to be below
sqrt(tol) / 1000 of a standard error, since the deviance is flat near the maximum.

Robust standard errors (``cov_type`` HC0, HC1; :mod:`causeway.algorithms.sandwich`) add the
observed information and the summed score outer products to each round; cluster-robust ones,
each site a cluster, are the ``glm_cluster`` algorithm (:mod:`causeway.algorithms.glm_cluster`),
which releases per-site products. A gamma fit takes one more round at the fitted coefficients,
for its log-likelihood at the estimated scale; a negative binomial fit with alpha estimated
switches from IRLS to joint Newton steps in (beta, log alpha) (:mod:`causeway.algorithms.negbin`).

Nodes build the design matrix once per task and cache it: a formula of plain numeric or boolean
columns straight from the engine into one float matrix (:func:`design.plain_block`, no
DataFrame), any other through formulaic with the dictionary's levels. Each round's sums are taken
over blocks of rows (:mod:`causeway.algorithms.blocks`), the shifts applied block by block, so a
round holds no copy of the design; the intercept-only model's sums, whose mean is one number
for every row, are taken over the response's distinct values.
A design of plain terms beyond the node's memory budget is not cached: every round reads its
rows again from the engine in chunks and adds up each chunk's sums (:mod:`chunked`), and the
release gate judges the design by reading it again (the DP fit still holds its design).
A per-site fit combined by meta-analysis is its own algorithm (:mod:`causeway.algorithms.meta`),
with the same parameters (:mod:`causeway.algorithms.glm_spec`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from causeway.algorithms import (
    blocks,
    bounds,
    chunked,
    design,
    diagnostics,
    glm_private,
    negbin,
    params,
    sandwich,
)
from causeway.algorithms.base import (
    Algorithm,
    Cache,
    DisclosureProfile,
    Evidence,
    Final,
    LocalResult,
    NextRound,
    Outcome,
    Partition,
    State,
)
from causeway.algorithms.family import Family, Model, Working, working
from causeway.algorithms.glm_result import GLMResult
from causeway.algorithms.glm_spec import (
    MAX_ITER,
    GLMParams,
    SiteData,
    Spec,
    factor_partitions,
    rows_data,
    site_data,
)
from causeway.algorithms.link import Link
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.errors import DisclosureRefused, InvalidRequest, ModelError
from causeway.model.release import WeightRange

FloatArray = npt.NDArray[np.float64]


CONVENTIONS = """\
Conventions (each equal to statsmodels' `GLM` on the pooled rows; `glm_cluster` takes the same):

| family | links (default first) | variance | scale | log-likelihood |
|---|---|---|---|---|
| `gaussian` | identity, log, inverse | 1 | Pearson chi2 / df_resid | profiled scale (identity), else at the Pearson scale |
| `binomial` | logit, probit, cloglog, log, identity | mu (1 - mu) | 1 | binomial |
| `poisson` | log, identity | mu | 1 | poisson |
| `gamma` | inverse, log, identity | mu^2 | Pearson chi2 / df_resid | gamma at the Pearson scale (one more round) |
| `negative_binomial` | log, identity | mu + alpha mu^2 (NB2) | 1 | NB2 at alpha |

- Links: a non-canonical link uses the working weights w / (g'(mu)^2 V(mu)); `nonrobust` standard
  errors are the inverse expected information at the final IRLS weights times the scale
  (statsmodels' IRLS default). `log` with `binomial` is the log-binomial model:
  `risk_ratios(level)`. A link that can leave the family's range (log or identity binomial:
  probabilities in (0, 1); identity or inverse for a count or gamma mean: means above 0) keeps
  its fitted means in range over the whole range the dictionary allows: the hub halves each
  IRLS step that would leave it, a node refuses coefficients that do (its clipped rows would
  count outcomes beyond a threshold the hub chose), and a fit whose maximum lies beyond is
  refused, where statsmodels would clip the means (or return negative ones).
  `odds_ratios` needs binomial-logit, `rate_ratios` poisson- or negative_binomial-log.
- `alpha` (negative_binomial): fixed as `NegativeBinomial(alpha=a)`; not given, estimated by
  maximum likelihood jointly with the coefficients, as `statsmodels.discrete.NegativeBinomial`
  (`nb2`): standard errors (and `alpha_se`) from the joint observed information, AIC and BIC
  counting alpha; log link, no weights, `nonrobust` only.
- `cov_type`: `HC0` is H^-1 M H^-1 with H the observed information and M the sum of the rows'
  score outer products (a row's divided by its frequency weight); `HC1` is the same (statsmodels'
  GLM applies no small-sample factor to HC1); `cluster` runs `glm_cluster`: each site one
  cluster, M the sum over sites of s s' with s the site's summed score, times
  G / (G - 1) (N - 1) / (N - p) (`use_correction=True`), and `inference="t"` takes G - 1 degrees of
  freedom (statsmodels' `df_resid_inference`); it needs at least 2 sites. Every summary prints its
  covariance type. Robust standard errors do not depend on the scale.
- AIC = -2 llf + 2 k and BIC = -2 llf + k log(nobs) (statsmodels' `aic`, `bic_llf`), k the
  coefficients (and alpha when estimated); the scale is not counted.
- Differential privacy (L2, L3): gaussian-identity and binomial-logit only, `nonrobust`, no
  weights or offset; `inference` is honoured.
- `causeway.anova_glm(m0, m1, ...)`: the sequential analysis of deviance of nested fits (chi-square
  for scale 1, F with the largest model's scale for gaussian and gamma, as R's `anova.glm`).
"""


def _count(value: int) -> Part:
    return Part(PartKind.COUNT, np.array(value))


def _sum(value: float | FloatArray, kind: PartKind = PartKind.SUM) -> Part:
    return Part(kind, np.asarray(value, dtype=np.float64))


class GLM(Algorithm[GLMParams, Spec, GLMResult]):
    name = "glm"
    parameters = GLMParams
    reference_notes: ClassVar[str] = CONVENTIONS
    result_type = GLMResult
    # and one fresh start about the pooled means, one round for the gamma log-likelihood
    max_rounds = MAX_ITER + 4
    profile = DisclosureProfile(
        parts={
            "n": PartKind.COUNT,
            "support": PartKind.COUNT,
            "xtx": PartKind.CROSS_PRODUCT,
            "xtwx": PartKind.CROSS_PRODUCT,
            "xtwz": PartKind.CROSS_PRODUCT,
            "deviance": PartKind.SUM,
            "pearson": PartKind.SUM,
            "loglik": PartKind.SUM,
            "sum_log_w": PartKind.SUM,
            "weight_sum": PartKind.SUM,
            "freq_sum": PartKind.SUM,
            "null_xtwx": PartKind.CROSS_PRODUCT,
            "null_xtwz": PartKind.CROSS_PRODUCT,
            "null_deviance": PartKind.SUM,
            "hessian": PartKind.CROSS_PRODUCT,
            "meat": PartKind.CROSS_PRODUCT,
            "nb_score": PartKind.CROSS_PRODUCT,
            "nb_hessian": PartKind.CROSS_PRODUCT,
            "nb_cross": PartKind.CROSS_PRODUCT,
            "nb_theta": PartKind.SUM,
        },
        free_cells=frozenset({"support"}),
        # a suppressed cell of support beside its unsuppressed partner (n, the rows with the
        # other outcome) gives it back: the whole part is released or nothing is
        whole=frozenset({"support"}),
        meta=frozenset({"n_used"}),
        # Every sum is guarded by "support": n, the rows where each design column is non-zero and,
        # for 0/1 columns, where it is zero. A rare level (or an interaction with one) would
        # otherwise put a handful of patients' values into X'X and X'Wz.
        guards={
            **{k: "support" for k in ("xtx", "xtwx", "xtwz", "deviance", "pearson", "loglik")},
            **{
                k: "support"
                for k in (
                    "sum_log_w",
                    "weight_sum",
                    "freq_sum",
                    "null_xtwx",
                    "null_xtwz",
                    "hessian",
                    "meat",
                    *negbin.PARTS,
                )
            },
            "null_deviance": "support",
        },
        description=(
            "per round: complete-case n, X'X, X'WX, X'Wz and deviance / Pearson / log-likelihood "
            "sums at the hub's coefficients; for a non-canonical link or robust standard errors "
            "also the observed information X'DX; for HC0, HC1 the sum of score outer products "
            "X' diag(s^2) X; meta "
            "negative binomial with alpha estimated, the score and observed information in "
            "(beta, log alpha) (sums of digamma / trigamma terms); meta "
            "n_used (the site's complete cases). A link that can leave the family's range "
            "(log-binomial, identity, inverse) takes only coefficients whose fitted means stay "
            "in it over the dictionary's bounds"
        ),
    )

    def prepare(self, raw: Mapping[str, Any] | GLMParams, dictionary: Dictionary) -> Spec:
        s = self.parse(raw).checked(dictionary)
        if s.cov_type == "cluster":
            raise InvalidRequest(
                "glm: cov_type='cluster' runs as the glm_cluster analysis (client.glm and "
                "`causeway run glm` choose it), since it releases per-site score products that a "
                "dataset's policy may refuse"
            )
        return s

    def check_state(self, s: Spec, state: State, dictionary: Dictionary) -> None:
        """The hub's coefficients must keep the linear predictor within +-36 over the whole
        range the dictionary allows: steeper coefficients turn the link into a step over a
        covariate, and the released sums (deviance, Pearson, X'Wz) into exact counts of outcomes
        on either side of a threshold the hub chose."""
        _state_model(s, state)  # a scale or alpha the hub sends must be a positive number
        if s.model.bounded and not state.get("private"):
            terms = [str(t) for t in state.get("terms") or []]
            shifts = _shifts(state, terms)
            betas = [
                beta if key == "null_beta" else _unshift(beta, shifts, terms)
                for key, beta in design.coefficients(state, "beta", "null_beta")
            ]
            bounds.refuse_outside(s, s.model, dictionary, terms, betas)
        if s.family is Family.GAUSSIAN or not s.model.link.saturates or state.get("private"):
            return  # no link to saturate; the private fit clips rows and adds noise instead
        if s.family is Family.GAMMA:
            return  # a positive continuous response: no counts of outcomes to give away
        terms = [str(t) for t in state.get("terms") or []]
        shifts = _shifts(state, terms)
        offset = 0.0  # the offset adds to the linear predictor as it is
        if s.offset is not None:
            column = params.lookup(s.offset, dictionary)
            low, high = column.minimum, column.maximum
            offset = math.inf if low is None or high is None else max(abs(low), abs(high))
        reaches = (
            offset
            + (
                float(np.abs(beta).sum())
                if key == "null_beta"
                else design.linear_reach(
                    "glm", s.parsed, dictionary, terms, _unshift(beta, shifts, terms)
                )
            )
            for key, beta in design.coefficients(state, "beta", "null_beta")
        )
        design.refuse_steep(
            reaches,
            "glm: the coefficients sent for this round would drive the model to fitted values "
            "of 0 or 1 over the dictionary's range (separation, or a hub that is not to be "
            "trusted); this node releases nothing for them",
        )

    def check_private(self, s: Spec, dictionary: Dictionary) -> None:
        glm_private.check(s.model, s.weights or s.freq_weights, s.offset, s.cov_type)
        _scaling(s, dictionary, list(s.terms))

    def private_rounds(self, s: Spec) -> int:
        return glm_private.rounds(s.family, s.private_iter)

    def initial_state(self, s: Spec, dictionary: Dictionary) -> State:
        terms = list(s.terms)
        shifts = [0.0] * len(terms)
        if "Intercept" in terms:
            try:
                corners = design.corners("glm", s.parsed.rhs, s.parsed.variables, dictionary, terms)
            except (ModelError, InvalidRequest):
                # a transform undefined at a bound (log at 0): no dictionary shifts; round 0's
                # X'X still recentres a column far from zero
                corners = np.zeros((0, len(terms)))
            if corners.size:
                middle = (corners.max(axis=0) + corners.min(axis=0)) / 2
                shifts = [
                    0.0 if t == "Intercept" else float(m)
                    for t, m in zip(terms, middle, strict=True)
                ]
        return {"round": 0, "terms": terms, "beta": None, "null_beta": None, "shifts": shifts}

    def partitions(self, s: Spec, state: State, dictionary: Dictionary) -> tuple[Partition, ...]:
        return factor_partitions(s, dictionary)

    def local(self, view: DataView, s: Spec, state: State, cache: Cache) -> LocalResult:
        terms = [str(t) for t in state["terms"]]
        if not state.get("private"):
            rows = _streamed_rows(view, s, terms, cache)
            if rows is not None:
                return _streamed_local(self.profile, s, state, terms, rows, cache)
        data = site_data(view, s, terms, cache)
        prior = {} if np.all(data.w == 1) else {"design": data.w}
        evidence = Evidence(designs={"design": data.x}, weights=prior)
        if state.get("private"):
            rounds = self.private_rounds(s)
            return self._private_local(
                view.dictionary, s, terms, data, state, cache, evidence, rounds
            )
        model, scale = _state_model(s, state)
        shifts = _shifts(state, terms)
        shift = shifts if np.any(shifts) else None
        xtx = _shifted_xtx(data, shift, cache)
        eta, mu, full = _step(model, data, state.get("beta"), scale, shift)
        null_beta = _opt_list(state.get("null_beta"))
        null = _null_working(model, data, null_beta, cache, _start(state.get("beta"), eta, full))
        if not (s.family is Family.GAUSSIAN and model.canonical):
            # the working weights follow the hub's coefficients
            evidence = Evidence(designs=evidence.designs, weights={"design": full.weights})
        parts = {
            "n": _count(data.n),
            "support": Part(PartKind.COUNT, _cached_support(data, s.family, cache)),
            "xtx": _sum(xtx, PartKind.CROSS_PRODUCT),
            "xtwx": _sum(full.xtwx, PartKind.CROSS_PRODUCT),
            "xtwz": _sum(full.xtwz, PartKind.CROSS_PRODUCT),
            "deviance": _sum(full.deviance),
            "pearson": _sum(full.pearson),
            "loglik": _sum(full.loglik),
            "sum_log_w": _sum(_constants(data, cache)[0]),
            "freq_sum": _sum(_constants(data, cache)[1]),
            "weight_sum": _sum(full.weight_sum),
            "null_xtwx": _sum(null.xtwx, PartKind.CROSS_PRODUCT),
            "null_xtwz": _sum(null.xtwz, PartKind.CROSS_PRODUCT),
            "null_deviance": _sum(null.deviance),
        }
        parts.update(
            sandwich.parts(s.cov_type, model, data.x, shift, data, mu, full.weights, full.score)
        )
        if s.estimate_alpha:
            x = data.x if shift is None else data.x - shift
            for name, value in negbin.sums(x, data.y, mu, model.alpha).items():
                parts[name] = _sum(value, self.profile.parts[name])
        return LocalResult(parts, {"n_used": data.n}, evidence)

    def combine(self, total: Aggregate, s: Spec, state: State, dictionary: Dictionary) -> Outcome:
        if state.get("private"):
            terms = [str(t) for t in state["terms"]]
            rounds = self.private_rounds(s)
            how = _scaling(s, dictionary, terms)
            return glm_private.combine(
                total, s.formula, s.family, state, terms, rounds, how, s.inference
            )
        params_refuse(total)
        terms = [str(t) for t in state["terms"]]
        n = int(total.value("n"))
        if n <= len(terms):
            raise ModelError(
                f"glm: {n} complete rows over all sites for {len(terms)} terms; too few to fit"
            )
        k = int(state["round"])
        xtx = total.value("xtx")
        if k == 0:
            restart = _recentre(state, terms, xtx, n)
            if restart is not None:
                return restart
            diagnostics.check_design("glm", xtx, terms, _transform(_shifts(state, terms), terms))
        dev = float(total.value("deviance"))
        _check_complete_separation(total, s, state, terms, dev, dictionary)
        if state.get("final"):  # the gamma's log-likelihood at the fitted coefficients' scale
            converged, change = bool(state.get("converged")), float(state.get("change") or 0.0)
            return Final(_result(total, s, state, terms, converged, change))
        null_dev = float(total.value("null_deviance"))
        change = _relative_change(dev, state.get("deviance"))
        null_change = _relative_change(null_dev, state.get("null_deviance"))
        converged = k > 0 and change < s.tol and null_change < s.tol
        near = k > 0 and change < max(s.tol, NEWTON_FROM)
        if s.estimate_alpha and (near or state.get("phase") == "newton"):
            return _alpha_round(total, s, state, terms, null_change, change)
        beta = None
        if not s.model.canonical and k > 0:
            beta = _next_beta(total, state, terms, near)
            # a settled deviance can leave the estimates short of the maximum by ~1e-5 of a
            # standard error (the deviance is flat there), so the next step must be small too
            converged = converged and _settled(total, state, beta, s.tol)
        if converged or k >= s.max_iter:
            if s.family is Family.GAMMA:
                # its log-likelihood needs the scale, known only now: one more round there
                scale = float(total.value("pearson")) / (_nobs(total, s) - len(terms))
                return NextRound(
                    {
                        **state,
                        "round": k + 1,
                        "final": True,
                        "converged": converged,
                        "change": min(change, 1e300),
                        "scale": scale,
                    },
                    note=f"log-likelihood at scale {scale:.6g}",
                )
            return Final(_result(total, s, state, terms, converged, change))
        if beta is None:
            try:
                beta = diagnostics.solve("glm", total.value("xtwx"), total.value("xtwz"), terms)
            except ModelError:
                _check_separation(total, s, state, terms)
                raise
        null_beta = float(total.value("null_xtwz")[0] / total.value("null_xtwx")[0, 0])
        halved = False
        if s.model.bounded:
            beta, null_beta, halved = _keep_inside(s, state, terms, beta, null_beta, dictionary)
        return NextRound(
            {
                "round": k + 1,
                "terms": terms,
                "beta": beta.tolist(),
                "previous_beta": state.get("beta"),
                "null_beta": [null_beta],
                "halved": halved,
                "deviance": dev,
                "null_deviance": null_dev,
                "shifts": _shifts(state, terms).tolist(),
                "recentred": bool(state.get("recentred")),
            },
            note=f"iteration {k + 1}, deviance {dev:.10g}",
        )

    @staticmethod
    def _private_local(
        dictionary: Dictionary,
        s: Spec,
        terms: list[str],
        data: SiteData,
        state: State,
        cache: Cache,
        evidence: Evidence,
        rounds: int,
    ) -> LocalResult:
        """A round of the differentially private fit (see :mod:`glm_private`)."""
        if "glm_private" not in cache:
            how = _scaling(s, dictionary, terms)
            y = how.response(data.y) if s.family is Family.GAUSSIAN else data.y
            cache["glm_private"] = (how.bound, how.design(data.x), y)
        bound, x, y = cache["glm_private"]
        local = glm_private.local(x, y, s.family, state, bound, rounds)
        both = Evidence(designs=evidence.designs, sensitivity=local.evidence.sensitivity)
        return LocalResult(local.parts, evidence=both)


def _streamed_rows(
    view: DataView, s: Spec, terms: list[str], cache: Cache
) -> chunked.PlainRows | None:
    """The task's rows read in chunks each round (:mod:`chunked`) when its design is of plain
    terms and over the node's memory budget; None when it is held (:func:`site_data`)."""
    cached = cache.get("glm_rows")
    if isinstance(cached, chunked.PlainRows):
        return cached
    if "glm" in cache or not design.plain(view.dictionary, s.columns, terms):
        return None
    width = len(design.plain_columns(terms, s.columns))
    if not chunked.over_budget(view, view.count(), width):
        return None
    rows = chunked.PlainRows("glm", view, terms, s.columns)
    cache["glm_rows"] = rows
    return rows


def _chunk_data(s: Spec, x: FloatArray, columns: chunked.Columns) -> SiteData:
    return rows_data(s, x, columns[str(s.parsed.response)], columns)


def _streamed_local(
    profile: DisclosureProfile,
    s: Spec,
    state: State,
    terms: list[str],
    rows: chunked.PlainRows,
    cache: Cache,
) -> LocalResult:
    """A round over rows read again in chunks (:mod:`chunked`): each chunk's sums as the held
    design's round takes them (:meth:`GLM.local`), added up; the sums of the rows alone (X'X,
    support, weight sums) in the first pass only. The gate judges the same rows, read again."""
    model, scale = _state_model(s, state)
    shifts = _shifts(state, terms)
    shift = shifts if np.any(shifts) else None
    beta, null_beta = state.get("beta"), _opt_list(state.get("null_beta"))
    key = None if shift is None else tuple(float(v) for v in shift)
    held = cache.get("glm_rows_xtx")
    first = cache.get("glm_rows_once") is None
    sums = _Sums()
    counts = _StreamSupport(len(terms), s.family)
    prior_weights = s.family is Family.GAUSSIAN and model.canonical
    weights = _Range()
    for data in _chunks_or_empty(rows, s):
        eta, mu, full = _step(model, data, beta, scale, shift)
        null = _null_working(model, data, null_beta, cache, _start(beta, eta, full))
        sums.add_all(
            {
                "xtwx": full.xtwx,
                "xtwz": full.xtwz,
                "deviance": full.deviance,
                "pearson": full.pearson,
                "loglik": full.loglik,
                "weight_sum": full.weight_sum,
                "null_xtwx": null.xtwx,
                "null_xtwz": null.xtwz,
                "null_deviance": null.deviance,
            }
        )
        for name, part in sandwich.parts(
            s.cov_type, model, data.x, shift, data, mu, full.weights, full.score
        ).items():
            sums.add(name, part.values)
        if s.estimate_alpha:
            x = data.x if shift is None else data.x - shift
            sums.add_all(negbin.sums(x, data.y, mu, model.alpha))
        if held is None or held[0] != key:
            sums.add("xtx", blocks.cross(data.x, shift=shift))
        if first:
            counts.add(data)
            sums.add_all({"sum_log_w": _sum_log_w(data), "freq_sum": float(np.sum(data.freq))})
        weights.add(data.w if prior_weights else full.weights)
    cache.pop("glm_response_groups", None)  # a chunk's: not the task's
    if held is None or held[0] != key:
        held = (key, sums.value("xtx"))
        cache["glm_rows_xtx"] = held
    if first:
        cache["glm_rows_once"] = (
            counts.value(),
            sums.value("sum_log_w"),
            sums.value("freq_sum"),
        )
    support, sum_log_w, freq_sum = cache["glm_rows_once"]
    n = int(support[0])
    parts = {
        "n": _count(n),
        "support": Part(PartKind.COUNT, np.array(support)),
        "xtx": _sum(np.array(held[1]), PartKind.CROSS_PRODUCT),
        "sum_log_w": _sum(sum_log_w),
        "freq_sum": _sum(freq_sum),
    }
    for name in sums.names:
        if name not in ("xtx", "sum_log_w", "freq_sum"):
            parts[name] = _sum(sums.value(name), profile.parts[name])
    evidence_weights: dict[str, FloatArray | WeightRange] = {}
    if not (prior_weights and weights.all_ones):
        weigh = _prior_weights(s) if prior_weights else _working_weights(s, model, beta, shift)
        evidence_weights["design"] = weights.range(chunked.Weighted(rows, weigh))
    evidence = Evidence(designs={"design": rows}, weights=evidence_weights)
    return LocalResult(parts, {"n_used": n}, evidence)


def _chunks_or_empty(rows: chunked.PlainRows, s: Spec) -> Iterator[SiteData]:
    """Each chunk's data; one with no rows when there are none (the sums' shapes)."""
    seen = False
    for x, columns in rows.chunks():
        seen = True
        yield _chunk_data(s, x, columns)
    if not seen:
        empty = {c: np.zeros(0) for c in s.columns}
        yield _chunk_data(s, np.zeros((0, len(rows.terms))), empty)


def _prior_weights(s: Spec) -> Callable[[FloatArray, chunked.Columns], FloatArray]:
    def weigh(x: FloatArray, columns: chunked.Columns) -> FloatArray:
        return _chunk_data(s, x, columns).w

    return weigh


def _step(
    model: Model, data: SiteData, beta: Any, scale: float, shift: FloatArray | None
) -> tuple[FloatArray, FloatArray, Working]:
    """The linear predictor and the fitted means over these rows at the hub's ``beta``, and the
    IRLS step's weighted least-squares problem there."""
    eta, mu = _linear(model, data.x, data.offset, data.y, beta, shift)
    return (
        eta,
        mu,
        working(
            model,
            data.x,
            data.y,
            data.w,
            data.offset,
            eta,
            mu,
            var=data.var,
            freq=data.freq,
            scale=scale,
            shift=shift,
        ),
    )


def _working_weights(
    s: Spec, model: Model, beta: Any, shift: FloatArray | None
) -> Callable[[FloatArray, chunked.Columns], FloatArray]:
    """A chunk's IRLS working weights at ``beta`` (as :func:`working` computes them)."""

    def weigh(x: FloatArray, columns: chunked.Columns) -> FloatArray:
        data = _chunk_data(s, x, columns)
        _, mu = _linear(model, data.x, data.offset, data.y, beta, shift)
        return np.asarray(data.w / (model.link.deriv(mu) ** 2 * model.variance(mu)))

    return weigh


class _Sums:
    """Named sums added up over chunks."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    @property
    def names(self) -> list[str]:
        return list(self._values)

    def add(self, name: str, value: Any) -> None:
        value = np.asarray(value, dtype=np.float64)
        found = self._values.get(name)
        self._values[name] = value.copy() if found is None else found + value

    def add_all(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            self.add(name, value)

    def value(self, name: str) -> Any:
        found = self._values[name]
        return float(found) if found.ndim == 0 else found


class _StreamSupport:
    """:func:`_support` of all chunks: the design's counts added up (0/1 columns by all), the
    outcome's counted only if every chunk's response is 0/1."""

    def __init__(self, p: int, family: Family) -> None:
        self._n = 0
        self._nonzero = np.zeros(p, dtype=np.int64)
        self._binary = np.ones(p, dtype=bool)
        self._outcome = np.zeros(2 + 2 * p, dtype=np.int64)
        self._response_binary = family is Family.BINOMIAL

    def add(self, data: SiteData) -> None:
        nonzero, binary = design.support_counts(data.x)
        self._n += data.n
        self._nonzero += nonzero
        self._binary &= binary
        if self._response_binary and bool(np.all((data.y == 0) | (data.y == 1))):
            self._outcome += design.outcome_support(data.x, data.y)
        else:
            self._response_binary = False

    def value(self) -> npt.NDArray[np.int64]:
        rows = design.support_of(self._n, self._nonzero, self._binary)
        outcome = self._outcome if self._response_binary else np.zeros_like(self._outcome)
        return np.concatenate([rows, outcome])


class _Range:
    """The smallest and largest positive row weight over chunks, and whether all are positive
    (and all are one)."""

    def __init__(self) -> None:
        self.low, self.high = math.inf, 0.0
        self.all_positive, self.all_ones = True, True

    def add(self, w: FloatArray) -> None:
        if not w.size:
            return
        positive = w[w > 0]
        self.all_positive &= positive.size == w.size
        self.all_ones &= bool(np.all(w == 1))
        if positive.size:
            self.low = min(self.low, float(positive.min()))
            self.high = max(self.high, float(positive.max()))

    def range(self, rows: chunked.Weighted) -> WeightRange:
        positive = self.all_positive and self.high > 0
        return WeightRange(rows, self.low, self.high, positive)


def _shifts(state: State, terms: list[str]) -> FloatArray:
    """The shift of each design column (0 for the intercept), checked: the state comes from the
    hub, which a node does not trust."""
    raw = state.get("shifts")
    if raw is None:
        return np.zeros(len(terms))
    shifts = np.asarray(raw, dtype=np.float64)
    if shifts.shape != (len(terms),) or not np.all(np.isfinite(shifts)):
        raise DisclosureRefused(
            "glm: the column shifts sent for this round are not one finite number per term; "
            "this node releases nothing for them"
        )
    if "Intercept" not in terms and np.any(shifts != 0):
        raise DisclosureRefused("glm: a model without an intercept takes no column shifts")
    if "Intercept" in terms and shifts[terms.index("Intercept")] != 0:
        raise DisclosureRefused("glm: the intercept column is never shifted")
    return shifts


def _shifted_xtx(data: SiteData, shift: FloatArray | None, cache: Cache) -> FloatArray:
    """X'X of the design with each column less its shift (cached per shifts); the shifted
    design itself is never kept (:mod:`blocks` shifts each block as it reads it)."""
    if shift is None:
        return data.xtx
    key = tuple(float(v) for v in shift)
    cached = cache.get("glm_shifted")
    if cached is not None and cached[0] == key and cached[1] is data:
        return np.array(cached[2])
    xtx = blocks.cross(data.x, shift=shift)
    cache["glm_shifted"] = (key, data, xtx)
    return np.array(xtx)


def _transform(shifts: FloatArray, terms: list[str]) -> FloatArray:
    """T with b = T b~ for coefficients b~ of the shifted design: b_0 = b~_0 - sum_j s_j b~_j."""
    transform = np.eye(len(terms))
    if "Intercept" in terms:
        transform[terms.index("Intercept")] -= shifts
        transform[terms.index("Intercept"), terms.index("Intercept")] = 1.0
    return transform


def _unshift(beta: FloatArray, shifts: FloatArray, terms: list[str]) -> FloatArray:
    if beta.shape != (len(terms),):
        return beta
    return np.asarray(_transform(shifts, terms) @ beta, dtype=np.float64)


# |pooled mean - shift| / sd of a column above which the fit starts again about the pooled means
RECENTRE_RATIO = 100.0


def _recentre(state: State, terms: list[str], xtx: FloatArray, n: int) -> NextRound | None:
    """Round 0's X'X (of the shifted design) gives each column's pooled mean; when one lies far
    from its shift, relative to its spread, start again about the pooled means (once)."""
    if "Intercept" not in terms or state.get("recentred") or n < 2:
        return None
    i = terms.index("Intercept")
    shifts = _shifts(state, terms)
    mean = xtx[i] / n
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.diag(xtx) / n - mean * mean
        ratio = np.abs(mean) / np.sqrt(np.maximum(spread, 0.0))
    far = np.isfinite(mean) & ~(ratio <= RECENTRE_RATIO)
    far[i] = False
    if not far.any():
        return None
    moved = np.where(far, shifts + mean, shifts)
    moved[i] = 0.0
    return NextRound(
        {
            "round": 0,
            "terms": terms,
            "beta": None,
            "null_beta": None,
            "shifts": moved.tolist(),
            "recentred": True,
        },
        note="columns far from their centres: starting again about the pooled means",
    )


def _scaling(s: Spec, dictionary: Dictionary, terms: list[str]) -> glm_private.Scaling:
    response = params.lookup(str(s.parsed.response), dictionary)
    return glm_private.scaling(
        s.parsed.rhs, s.parsed.variables, response, s.family, dictionary, terms
    )


def _sum_log_w(data: SiteData) -> float:
    """Sum over rows of freq * log(var weight), for the gaussian log-likelihood (exactly 0
    without variance weights: every log is 0, and the masked copies cost a model's round 0
    more than its first IRLS pass's weights)."""
    if not np.any(data.var != 1.0):
        return 0.0
    kept = (data.var > 0) & (data.freq > 0)
    return float(np.sum(data.freq[kept] * np.log(data.var[kept])))


def _nobs(total: Aggregate, s: Spec) -> float:
    """Observations as statsmodels counts them: rows, or the sum of the frequency weights."""
    return float(total.value("freq_sum")) if s.freq_weights else float(total.value("n"))


def _support(data: SiteData, family: Family) -> npt.NDArray[np.int64]:
    """Rows behind each design column and, for a 0/1 response, how many of them have each
    outcome: a model of a binary response releases counts of that outcome (n expit(b) of an
    intercept-only model is the number of cases), which must pass the minimum cell count too."""
    rows = design.support(data.x)
    binary = family is Family.BINOMIAL and bool(np.all((data.y == 0) | (data.y == 1)))
    return np.concatenate([rows, design.outcome_support(data.x, data.y if binary else None)])


def _start(beta: Any, eta: FloatArray, full: Working) -> tuple[FloatArray, Working] | None:
    """The full model's first step (its linear predictor and sums) when it started from each
    row's own mean (no ``beta`` yet), for :func:`_null_working`; else None."""
    return (eta, full) if beta is None else None


def _null_working(
    model: Model,
    data: SiteData,
    null_beta: list[float] | None,
    cache: Cache,
    start: tuple[FloatArray, Working] | None = None,
) -> NullWorking:
    """The intercept-only model's IRLS sums at ``null_beta``. Without an offset its mean is one
    number for every row, so each sum is one over the response's distinct values, weighted by
    the prior weights of the rows holding each (counted once per task): the same sums as over
    the rows, in a handful of operations (a binary response has two values). In round 0 (no
    ``null_beta``) with the full model's ``start``, both models start from each row's own mean
    (:meth:`Model.start`), so every row's working weight, response and deviance are the full
    model's: the sums are theirs over a column of ones. Otherwise (an offset, a response with
    many distinct values) they are taken over the rows."""
    if null_beta is None and start is not None:
        eta, full = start
        wz = full.weights * (eta - data.offset) + full.score
        return NullWorking(
            np.array([[float(np.sum(full.weights))]]), np.array([float(np.sum(wz))]), full.deviance
        )
    groups = _response_groups(data, cache) if null_beta is not None else None
    if groups is None or null_beta is None:
        ones = np.ones((data.n, 1))
        eta0, mu0 = _linear(model, ones, data.offset, data.y, null_beta)
        full = working(model, ones, data.y, data.w, data.offset, eta0, mu0)
        return NullWorking(full.xtwx, full.xtwz, full.deviance)
    values, prior = groups
    eta = np.full(values.shape, float(null_beta[0]))
    mu = model.mean(eta)
    v = model.variance(mu)
    g1 = model.link.deriv(mu)
    weights = prior / (g1**2 * v)
    wz = weights * eta + prior * (values - mu) / (g1 * v)
    deviance = float(np.sum(prior * model.unit_deviance(values, mu)))
    return NullWorking(
        np.array([[float(np.sum(weights))]]), np.array([float(np.sum(wz))]), deviance
    )


@dataclass(frozen=True)
class NullWorking:
    """The intercept-only model's X'WX (1 x 1), X'Wz and deviance at a site."""

    xtwx: FloatArray
    xtwz: FloatArray
    deviance: float


# distinct responses beyond which the null model's sums are taken over the rows
MAX_RESPONSE_GROUPS = 1_000


def _response_groups(data: SiteData, cache: Cache) -> tuple[FloatArray, FloatArray] | None:
    """The response's distinct values and the summed prior weights of the rows holding each,
    when there is no offset and at most :data:`MAX_RESPONSE_GROUPS` values (else None)."""
    cached = cache.get("glm_response_groups")
    if cached is not None and cached[0] is data:
        return cached[1]  # type: ignore[no-any-return]
    groups = None
    if not np.any(data.offset):
        ones = data.y == 1
        if np.all(ones | (data.y == 0)):  # 0/1: no sort needed
            with_one = float(np.sum(data.w[ones]))
            return_groups = (np.array([0.0, 1.0]), np.array([np.sum(data.w) - with_one, with_one]))
            cache["glm_response_groups"] = (data, return_groups)
            return return_groups
        values, inverse = np.unique(data.y, return_inverse=True)
        if values.size <= MAX_RESPONSE_GROUPS:
            prior = np.bincount(inverse, weights=data.w, minlength=values.size)
            groups = (values.astype(np.float64), prior.astype(np.float64))
    cache["glm_response_groups"] = (data, groups)
    return groups


def _constants(data: SiteData, cache: Cache) -> tuple[float, float]:
    """The sums that depend on the rows alone (the gaussian's log-weight sum, the frequency
    weights' sum), counted once per task."""
    cached = cache.get("glm_constants")
    if cached is None or cached[0] is not data:
        cached = (data, (_sum_log_w(data), float(np.sum(data.freq))))
        cache["glm_constants"] = cached
    return cached[1]


def _cached_support(data: SiteData, family: Family, cache: Cache) -> npt.NDArray[np.int64]:
    """:func:`_support` of the task's design, counted once (it depends on the rows alone)."""
    cached = cache.get("glm_support")
    if cached is None or cached[0] is not data:
        cached = (data, _support(data, family))
        cache["glm_support"] = cached
    return np.array(cached[1])


def params_refuse(total: Aggregate) -> None:
    params.refuse_if_suppressed(total, ["n", "support"], "glm")


def _opt_list(value: Any) -> list[float] | None:
    return None if value is None else [float(v) for v in value]


def _linear(
    model: Model,
    x: FloatArray,
    offset: FloatArray,
    y: FloatArray,
    beta: Any,
    shift: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    if beta is None:
        mu = model.start(y)
        return model.eta(mu), mu
    eta = blocks.linear(x, np.asarray(beta, dtype=np.float64), shift) + offset
    return eta, model.mean(eta)


def _positive(state: State, key: str) -> float | None:
    """A positive, finite number the hub sent (None when it sent none), checked: the state
    comes from the hub, which a node does not trust."""
    raw = state.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw < math.inf:
        raise DisclosureRefused(
            f"glm: the {key} sent for this round is not a positive number; this node releases "
            "nothing for it"
        )
    return float(raw)


def _state_model(s: Spec, state: State) -> tuple[Model, float]:
    """The model of this round (a negative binomial's alpha as the hub estimates it) and the
    scale the log-likelihood is evaluated at (the gamma's last round; 1 otherwise)."""
    model = s.model
    alpha = _positive(state, "alpha")
    if alpha is not None and s.estimate_alpha:
        model = Model(model.family, model.link, alpha)
    scale = _positive(state, "scale")
    return model, 1.0 if scale is None else scale


def _next_beta(total: Aggregate, state: State, terms: list[str], near: bool) -> FloatArray | None:
    """The next coefficients of a non-canonical fit: a Fisher scoring (IRLS) step, or, once near
    the maximum (``near``), a Newton step with the observed information (quadratic where
    Fisher scoring is linear; the same maximum). None where the system is singular (the
    caller's own solve then names the terms)."""
    xtwx, xtwz = total.value("xtwx"), total.value("xtwz")
    beta = np.asarray(state["beta"], dtype=np.float64)
    try:
        fisher = diagnostics.solve("glm", xtwx, xtwz, terms)
    except ModelError:
        return None
    if not near:
        return fisher
    observed = total.value("hessian")
    try:
        if np.linalg.eigvalsh((observed + observed.T) / 2).min() <= 0:
            return fisher  # not concave here: Fisher scoring goes on
        step = diagnostics.solve("glm", observed, xtwz - xtwx @ beta, terms)
    except (ModelError, np.linalg.LinAlgError):
        return fisher
    return np.asarray(beta + step, dtype=np.float64)


def _settled(total: Aggregate, state: State, beta: FloatArray | None, tol: float) -> bool:
    """Whether the next step moves no coefficient by more than sqrt(tol) / 1000 of its
    standard error (at scale 1): the estimates then equal the maximum to that precision."""
    if beta is None:
        return True  # the convergence test stands; the result's checks say what is wrong
    try:
        se = np.sqrt(np.diag(diagnostics.inverse(total.value("xtwx"))))
    except (ModelError, np.linalg.LinAlgError, ValueError):
        return True
    step = beta - np.asarray(state["beta"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        moved = np.abs(step) / se
    return bool(np.all(~(moved > math.sqrt(tol) * 1e-3)))


def _relative_change(value: float, previous: Any) -> float:
    if previous is None:
        return math.inf
    return abs(value - float(previous)) / (abs(value) + 0.1)


def _check_separation(total: Aggregate, s: Spec, state: State, terms: list[str]) -> None:
    if s.family in (Family.GAUSSIAN, Family.GAMMA) or not s.model.link.saturates:
        return
    if s.family is Family.BINOMIAL and s.model.link is Link.LOG:
        return  # its weights mu / (1 - mu) vanish only as mu -> 0; _check_range guards mu -> 1
    found = diagnostics.separation(
        total.value("xtwx"),
        total.value("xtx"),
        float(total.value("weight_sum")),
        int(total.value("n")),
        terms,
        _transform(_shifts(state, terms), terms),
    )
    if found:
        what = (
            "fitted probabilities are numerically 0 or 1"
            if s.family is Family.BINOMIAL
            else "fitted means are numerically 0"
        )
        raise ModelError(
            f"glm: quasi-complete separation suspected: {what} along term(s) "
            f"{', '.join(found)}, whose estimates diverge (the maximum likelihood estimate does "
            "not exist); drop or merge these terms, or use a penalised model"
        )


def _binary_response(total: Aggregate, n: int, p: int) -> bool:
    """Whether every site's response is 0/1 (``support`` counts each outcome only then)."""
    support = total.value("support")
    head = 1 + 2 * p  # after n, the non-zero and zero rows per column
    return n > 0 and int(support[head]) + int(support[head + 1]) == n


def _check_complete_separation(
    total: Aggregate, s: Spec, state: State, terms: list[str], dev: float, dictionary: Dictionary
) -> None:
    """Refuse a binomial fit whose deviance proves complete separation (see
    :func:`diagnostics.separates`), at any n, naming the terms the estimates diverge along."""
    beta = state.get("beta")
    if s.family is not Family.BINOMIAL or beta is None:
        return
    n = int(total.value("n"))
    if not _binary_response(total, n, len(terms)):
        return
    min_weight = 1.0
    for column in (s.weights, s.freq_weights):
        if column is not None:
            low = params.lookup(column, dictionary).minimum
            min_weight *= 0.0 if low is None else max(float(low), 0.0)
    if not diagnostics.separates(dev, min_weight):
        return
    current = np.asarray(beta, dtype=np.float64)
    previous = state.get("previous_beta")
    step = current - np.asarray(previous, dtype=np.float64) if previous is not None else current
    # in the terms' own coordinates: b = T b~, and X'X = M^-1 X~'X~ M^-T with M^-1 = I + s e0'
    transform = _transform(_shifts(state, terms), terms)
    back = np.linalg.inv(transform.T)
    xtx = back @ total.value("xtx") @ back.T
    found = diagnostics.diverging(transform @ step, xtx, n, terms)
    raise ModelError(
        "glm: complete separation: the fitted probabilities go to 0 or 1 for every row (the "
        f"linear predictor in term(s) {', '.join(found)} classifies each row's outcome exactly), "
        "so the estimates diverge and the maximum likelihood estimate does not exist; drop or "
        "merge these terms, or use a penalised model"
    )


def _result(
    total: Aggregate,
    s: Spec,
    state: State,
    terms: list[str],
    converged: bool,
    change: float,
    joint: FloatArray | None = None,
) -> GLMResult:
    """The result at the state's coefficients; ``joint``: the observed information of
    (beta, log alpha) of a negative binomial fit with alpha estimated."""
    _check_separation(total, s, state, terms)
    n = int(total.value("n"))
    p = len(terms)
    nobs = _nobs(total, s)
    df_resid = nobs - p
    xtwx = total.value("xtwx")
    dev = float(total.value("deviance"))
    pearson = float(total.value("pearson"))
    model = _state_model(s, state)[0]
    _check_range(s, state)
    scale = pearson / df_resid if s.family.estimates_scale else 1.0
    transform = _transform(_shifts(state, terms), terms)
    alpha_se = None
    if joint is None:
        inner = sandwich.covariance(total, s, xtwx, scale, n, p)
    else:  # the joint inverse information, as statsmodels' discrete NegativeBinomial
        both = diagnostics.inverse(joint)
        inner, alpha_se = both[:p, :p], model.alpha * math.sqrt(max(float(both[p, p]), 0.0))
    cov = transform @ inner @ transform.T
    beta = transform @ np.asarray(state["beta"], dtype=np.float64)
    if s.family is Family.GAUSSIAN and dev <= 0:
        raise ModelError(
            "glm: a perfect fit (deviance 0): the response is an exact function of the terms "
            "(or of the offset), so there is nothing to estimate"
        )
    if s.family is Family.GAUSSIAN:
        # statsmodels: the scale profiled out with the identity link, the Pearson scale else
        ll_scale = dev / nobs if model.link is Link.IDENTITY else scale
        llf = -0.5 * (
            dev / ll_scale
            + nobs * math.log(ll_scale)
            - float(total.value("sum_log_w"))
            + nobs * math.log(2 * math.pi)
        )
    else:
        llf = float(total.value("loglik"))
    warnings: tuple[str, ...] = ()
    if not converged:
        warnings = (
            f"IRLS did not converge in {s.max_iter} iterations (last relative deviance change "
            f"{change:.3g} > tol {s.tol:.3g}); the estimates are not reliable",
        )
    return GLMResult(
        formula=s.formula,
        family=s.family.value,
        terms=tuple(terms),
        coefficients=tuple(float(b) for b in beta),
        covariance=tuple(tuple(float(v) for v in row) for row in cov),
        deviance=dev,
        null_deviance=float(total.value("null_deviance")),
        pearson_chi2=pearson,
        scale=scale,
        llf=llf,
        df_resid=df_resid,
        n=n,
        n_per_site=tuple(int(m.get("n_used", 0)) for m in total.metas),
        iterations=int(state["round"]),
        converged=converged,
        warnings=warnings,
        inference=s.inference,
        weights=_weights_kind(s),
        nobs=nobs,
        link=model.link.value,
        cov_type=s.cov_type,
        n_clusters=total.sites if s.cov_type == "cluster" else None,
        alpha=model.alpha if s.family is Family.NEGATIVE_BINOMIAL else None,
        alpha_se=alpha_se,
    )


# the relative deviance change of IRLS at alpha = 1 below which the joint Newton steps begin
# (IRLS converges slowly for the negative binomial; Newton quadratically once near)
NEWTON_FROM = 1e-5


def _alpha_round(
    total: Aggregate, s: Spec, state: State, terms: list[str], null_change: float, change: float
) -> Outcome:
    """A joint Newton step in (beta, log alpha) once IRLS at the current alpha has settled
    (:mod:`negbin`); the fit ends when the step moves nothing by sqrt(tol) / 1000 of a standard
    error (and the null model, fitted at the current alpha, has settled)."""
    k = int(state["round"])
    alpha = _state_model(s, state)[0].alpha
    pieces = {name: total.value(name) for name in negbin.PARTS}
    step = negbin.newton(np.asarray(state["beta"], dtype=np.float64), alpha, pieces, terms)
    newton = state.get("phase") == "newton"
    done = newton and step.moved < math.sqrt(s.tol) * 1e-3 and null_change < s.tol
    if done or k >= s.max_iter:
        return Final(_result(total, s, state, terms, done, change, step.information))
    null_beta = float(total.value("null_xtwz")[0] / total.value("null_xtwx")[0, 0])
    return NextRound(
        {
            **state,
            "round": k + 1,
            "phase": "newton",
            "beta": step.beta.tolist(),
            "previous_beta": state.get("beta"),
            "alpha": step.alpha,
            "null_beta": [null_beta],
            "deviance": float(total.value("deviance")),
            "null_deviance": float(total.value("null_deviance")),
        },
        note=f"iteration {k + 1}, alpha {step.alpha:.8g}",
    )


def _check_range(s: Spec, state: State) -> None:
    """Refuse an estimate reached only by halving the last step to keep the fitted means in the
    family's range over the dictionary's bounds (:mod:`bounds`): the likelihood's maximum lies
    beyond, where some fitted mean leaves the range (statsmodels would clip them)."""
    if not s.model.bounded or not state.get("halved"):
        return
    model = s.model
    if model.family is Family.BINOMIAL:
        what, safe = "fitted probabilities leave (0, 1)", "logit"
    else:
        what, safe = "fitted means are 0 or negative", "log"
    raise ModelError(
        f"glm {model.family.value} with the {model.link.value} link: the maximum likelihood "
        f"estimate lies where {what} within the dictionary's bounds, so the model's likelihood "
        f"is not defined there and the fit is not valid; use the {safe} link, which keeps them "
        "in range, or change the terms"
    )


def _keep_inside(
    s: Spec,
    state: State,
    terms: list[str],
    beta: FloatArray,
    null_beta: float,
    dictionary: Dictionary,
) -> tuple[FloatArray, float, bool]:
    """The next coefficients of a bounded link, each step halved until the fitted means stay
    in range over the dictionary's bounds (:func:`bounds.pull_inside`), from the current
    coefficients (which the nodes accepted) or, in round 0, the intercept-only fit."""
    shifts = _shifts(state, terms)
    transform = _transform(shifts, terms)
    null_from = np.asarray(state.get("null_beta") or [null_beta], dtype=np.float64)
    null_to, _ = bounds.pull_inside(
        s, s.model, dictionary, terms, (null_from, np.array([null_beta]))
    )
    if not bounds.inside(s.model, bounds.reach(s, dictionary, terms, null_to)):
        _check_range(s, {"halved": True})
    current = state.get("beta")
    if current is None:  # round 0: from the intercept-only fit, slopes 0
        start = np.zeros(len(terms))
        if "Intercept" in terms:
            start[terms.index("Intercept")] = float(null_to[0])
    else:
        start = transform @ np.asarray(current, dtype=np.float64)
    if not bounds.inside(s.model, bounds.reach(s, dictionary, terms, start)):
        _check_range(s, {"halved": True})
    chosen, halved = bounds.pull_inside(
        s, s.model, dictionary, terms, (start, transform @ np.asarray(beta, dtype=np.float64))
    )
    back = np.linalg.solve(transform, chosen)
    return np.asarray(back, dtype=np.float64), float(null_to[0]), halved


def _weights_kind(s: Spec) -> str:
    kinds = [k for k, c in (("variance", s.weights), ("frequency", s.freq_weights)) if c]
    return " and ".join(kinds) if kinds else "none"
