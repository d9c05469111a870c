"""``glm_meta``: every site fits its own GLM; the hub meta-analyses them.

``client.glm(..., per_site=True)`` runs it. It takes the GLM's parameters
(:class:`~causeway.algorithms.glm_spec.GLMParams`) but is its own algorithm with its own
disclosure profile, since it releases what a pooled fit never does: each site's own estimates,
which the hub can solve from the sums when there are few sites (as in any meta-analysis). A
dataset's policy can refuse it by name or by ``per_site_estimates``.

Round 0: each site fits its GLM locally (IRLS on its own rows) and returns, per term, the
inverse-variance weighted sums Σw, Σwβ, Σwβ², Σw² (w = 1/se²). Those give the fixed-effect
estimate, Cochran's Q and the DerSimonian–Laird τ². Round 1: each site returns Σw*, Σw*β with the
random-effects weights w* = 1/(se² + τ²). The hub only ever needs the sums, so secure aggregation
can hide each site's own estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from causeway.algorithms import diagnostics
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
    Released,
    State,
)
from causeway.algorithms.family import Family, Model, working
from causeway.algorithms.glm_spec import GLMParams, SiteData, Spec, factor_partitions, site_data
from causeway.algorithms.wald import alpha_of
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.errors import DisclosureRefused, InvalidRequest, ModelError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = npt.NDArray[np.float64]
_FIXED = ("meta_w", "meta_wb", "meta_wb2", "meta_w2")
_RANDOM = ("meta_rw", "meta_rwb")
PARTS: dict[str, PartKind] = {"meta_n": PartKind.COUNT} | {
    name: PartKind.SUM for name in (*_FIXED, *_RANDOM, "meta_sites")
}
GUARDS = {name: "meta_n" for name in (*_FIXED, *_RANDOM, "meta_sites")}


def fit(
    model: Model, data: SiteData, terms: list[str], max_iter: int, tol: float
) -> tuple[FloatArray, FloatArray]:
    """One site's own GLM by IRLS: coefficients and their covariance (times the scale). A term
    whose column is zero at every row of this site (a level the site does not have) is left out
    of its fit: its coefficient is 0 and its variance infinite, so it weighs nothing."""
    present = np.diag(data.xtx) > 0
    kept = [t for t, here in zip(terms, present, strict=True) if here]
    if not kept:
        raise ModelError("glm per_site: this site has no rows for any term")
    x = data.x[:, present]
    # with an intercept, the site's own column means are taken out for the solve (an exact
    # reparametrisation, undone below; the means never leave the node): a covariate far from
    # zero would otherwise make X'X numerically singular
    shifts = np.zeros(len(kept))
    if "Intercept" in kept and data.n:
        shifts = x.mean(axis=0)
        shifts[kept.index("Intercept")] = 0.0
    beta, cov = _fit(model, replace(data, x=x - shifts), kept, max_iter, tol)
    transform = np.eye(len(kept))
    if "Intercept" in kept:
        transform[kept.index("Intercept")] -= shifts
        transform[kept.index("Intercept"), kept.index("Intercept")] = 1.0
    full_beta = np.zeros(len(terms))
    full_cov = np.full((len(terms), len(terms)), np.inf)
    full_beta[present] = transform @ beta
    full_cov[np.ix_(present, present)] = transform @ cov @ transform.T
    return full_beta, full_cov


def _fit(
    model: Model, data: SiteData, terms: list[str], max_iter: int, tol: float
) -> tuple[FloatArray, FloatArray]:
    family = model.family
    p = len(terms)
    if data.n <= p:
        raise ModelError(f"glm per_site: this site has {data.n} complete rows for {p} terms")
    diagnostics.check_design("glm per_site", data.xtx, terms, rows="this site's rows")
    mu = model.start(data.y)
    eta = model.eta(mu)
    previous = math.inf
    positive = data.w[data.w > 0]
    binary = family is Family.BINOMIAL and bool(np.all((data.y == 0) | (data.y == 1)))
    min_weight = float(positive.min()) if binary and positive.size else 0.0
    for k in range(max_iter + 1):
        step = working(model, data.x, data.y, data.w, data.offset, eta, mu)
        if k > 0 and diagnostics.separates(step.deviance, min_weight):
            raise ModelError(
                "glm per_site: complete separation at this site: the fitted probabilities go to "
                "0 or 1 for every row; the site's estimates diverge"
            )
        if abs(step.deviance - previous) / (abs(step.deviance) + 0.1) < tol:
            break
        previous = step.deviance
        beta = diagnostics.solve("glm per_site", step.xtwx, step.xtwz, terms)
        eta = data.x @ beta + data.offset
        mu = model.mean(eta)
    else:
        raise ModelError(f"glm per_site: this site's fit did not converge in {max_iter} iterations")
    if family is not Family.GAUSSIAN and model.link.saturates:
        found = diagnostics.separation(step.xtwx, data.xtx, step.weight_sum, data.n, terms)
        if found:
            raise ModelError(
                "glm per_site: quasi-complete separation suspected at this site along term(s) "
                f"{', '.join(found)}; the site's estimates diverge"
            )
    scale = step.pearson / (data.n - p) if family.estimates_scale else 1.0
    return beta, diagnostics.inverse(step.xtwx) * scale


def _combine(total: Aggregate, formula: str, family: str, state: State, link: str = "") -> Outcome:
    if total.suppressed("meta_n").any():
        raise DisclosureRefused(
            "glm per_site: a site's n is below its disclosure threshold; its fit cannot be used"
        )
    k = total.sites
    if k < 2:
        raise ModelError("glm per_site: a meta-analysis needs at least two sites")
    terms = [str(t) for t in state["terms"]]
    if state.get("tau2") is None:
        sw, swb, swb2, sw2 = (total.value(name) for name in _FIXED)
        counts = np.rint(total.value("meta_sites")).astype(np.int64)
        empty = [t for t, c in zip(terms, counts, strict=True) if c < 1]
        if empty:
            raise ModelError(
                f"glm per_site: term(s) {', '.join(empty)} have no rows at any site; drop them"
            )
        q = np.maximum(swb2 - swb**2 / sw, 0.0)
        c = sw - sw2 / sw
        with np.errstate(divide="ignore", invalid="ignore"):
            tau2 = np.where(counts > 1, np.maximum((q - (counts - 1)) / c, 0.0), 0.0)
        return NextRound(
            {
                "round": 1,
                "terms": terms,
                "term_sites": counts.tolist(),
                "tau2": tau2.tolist(),
                "fixed_coef": (swb / sw).tolist(),
                "fixed_se": (1 / np.sqrt(sw)).tolist(),
                "q": q.tolist(),
            },
            note=f"fixed effects over {k} sites; random-effects weights next",
        )
    rw, rwb = total.value("meta_rw"), total.value("meta_rwb")
    return Final(
        MetaResult(
            formula=formula,
            family=family,
            link=link,
            terms=tuple(terms),
            sites=k,
            n=int(total.value("meta_n")),
            fixed_coefficients=_floats(state["fixed_coef"]),
            fixed_errors=_floats(state["fixed_se"]),
            random_coefficients=_floats(rwb / rw),
            random_errors=_floats(1 / np.sqrt(rw)),
            q_values=_floats(state["q"]),
            tau2_values=_floats(state["tau2"]),
            term_sites=tuple(int(v) for v in state.get("term_sites") or [k] * len(terms)),
        )
    )


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class MetaResult(Released):
    """Fixed-effect (inverse variance) and DerSimonian–Laird random-effects estimates per term."""

    formula: str
    family: str
    terms: tuple[str, ...]
    sites: int
    n: int
    fixed_coefficients: tuple[float, ...]
    fixed_errors: tuple[float, ...]
    random_coefficients: tuple[float, ...]
    random_errors: tuple[float, ...]
    q_values: tuple[float, ...]
    tau2_values: tuple[float, ...]
    # sites whose fit estimated each term (a site without a level leaves that term out)
    term_sites: tuple[int, ...] = field(default=())
    link: str = ""  # "" for a result of before links: the family's default

    @property
    def link_name(self) -> str:
        return self.link or Family(self.family).default_link.value

    @property
    def sites_per_term(self) -> pd.Series[int]:
        counts = self.term_sites or (self.sites,) * len(self.terms)
        return pd.Series(counts, index=list(self.terms), name="sites", dtype=int)

    def _series(self, values: tuple[float, ...], name: str) -> pd.Series[float]:
        return pd.Series(values, index=list(self.terms), name=name, dtype=float)

    @property
    def fixed_coef(self) -> pd.Series[float]:
        return self._series(self.fixed_coefficients, "fixed_coef")

    @property
    def fixed_se(self) -> pd.Series[float]:
        return self._series(self.fixed_errors, "fixed_se")

    @property
    def random_coef(self) -> pd.Series[float]:
        return self._series(self.random_coefficients, "random_coef")

    @property
    def random_se(self) -> pd.Series[float]:
        return self._series(self.random_errors, "random_se")

    @property
    def Q(self) -> pd.Series[float]:
        return self._series(self.q_values, "Q")

    @property
    def Q_p_value(self) -> pd.Series[float]:
        df = self.sites_per_term.to_numpy() - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(df > 0, stats.chi2.sf(self.Q, np.maximum(df, 1)), np.nan)
        return pd.Series(p, index=list(self.terms))

    @property
    def I2(self) -> pd.Series[float]:
        q = np.array(self.q_values)
        df = self.sites_per_term.to_numpy() - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            i2 = np.where(q > 0, np.maximum((q - df) / q, 0.0), 0.0)
        return self._series(tuple(i2), "I2")

    @property
    def tau2(self) -> pd.Series[float]:
        return self._series(self.tau2_values, "tau2")

    @property
    def params(self) -> pd.Series[float]:
        """The random-effects estimates (statsmodels' name; ``random_coef``), as ``conf_int``
        gives by default; ``fixed_coef`` has the fixed-effect ones."""
        return self.random_coef

    @property
    def bse(self) -> pd.Series[float]:
        """The random-effects standard errors (statsmodels' name; ``random_se``)."""
        return self.random_se

    @property
    def zvalues(self) -> pd.Series[float]:
        """The random-effects z statistics (``params / bse``)."""
        return (self.random_coef / self.random_se).rename("z")

    @property
    def pvalues(self) -> pd.Series[float]:
        """The random-effects two-sided p-values (normal), as ``fixed_pvalues`` for the
        fixed-effect estimates."""
        return self._p(self.random_coef, self.random_se)

    @property
    def fixed_pvalues(self) -> pd.Series[float]:
        return self._p(self.fixed_coef, self.fixed_se)

    def _p(self, coef: pd.Series[float], se: pd.Series[float]) -> pd.Series[float]:
        p = 2 * stats.norm.sf(np.abs((coef / se).to_numpy(dtype=float)))
        return pd.Series(p, index=list(self.terms), name="p_value", dtype=float)

    def conf_int(self, alpha: float = 0.05, *, effects: str = "random") -> pd.DataFrame:
        if effects not in ("fixed", "random"):
            raise InvalidRequest("glm_meta: effects is 'fixed' or 'random'")
        coef = self.fixed_coef if effects == "fixed" else self.random_coef
        se = self.fixed_se if effects == "fixed" else self.random_se
        z = float(stats.norm.ppf(1 - alpha / 2))
        return pd.DataFrame({"lower": coef - z * se, "upper": coef + z * se})

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """One row per term and model (``effects``: fixed, then random): ``estimate``,
        ``std_error``, ``statistic`` (z), ``p_value``, ``conf_low`` and ``conf_high`` at
        ``level``, with the term's heterogeneity (``q``, ``q_p_value``, ``i2``, ``tau2``) and the
        ``sites`` that estimated it."""
        alpha = alpha_of(level)
        frames = []
        for effects in ("fixed", "random"):
            coef = self.fixed_coef if effects == "fixed" else self.random_coef
            se = self.fixed_se if effects == "fixed" else self.random_se
            ci = self.conf_int(alpha, effects=effects)
            frame = pd.DataFrame(
                {
                    "term": list(self.terms),
                    "effects": effects,
                    "estimate": coef.to_numpy(dtype=float),
                    "std_error": se.to_numpy(dtype=float),
                    "statistic": (coef / se).to_numpy(dtype=float),
                    "p_value": self._p(coef, se).to_numpy(dtype=float),
                    "conf_low": ci["lower"].to_numpy(dtype=float),
                    "conf_high": ci["upper"].to_numpy(dtype=float),
                    "q": self.Q.to_numpy(dtype=float),
                    "q_p_value": self.Q_p_value.to_numpy(dtype=float),
                    "i2": self.I2.to_numpy(dtype=float),
                    "tau2": self.tau2.to_numpy(dtype=float),
                    "sites": self.sites_per_term.to_numpy(),
                }
            )
            frames.append(frame)
        out = pd.concat(frames, ignore_index=True)
        out.attrs["level"] = level
        return out

    def heading(self) -> str:
        return (
            f"GLM {self.family} ({self.link_name} link) meta-analysis over {self.sites} sites "
            f"(n = {self.n}): "
            f"{self.formula}"
        )

    def conventions(self) -> tuple[str, ...]:
        return (
            "fixed: inverse-variance weights; random: DerSimonian-Laird tau2; statistic = z; "
            "p-values and 95% intervals normal; q: Cochran's Q (chi-square, sites - 1 df)",
            *self._missing_note(),
        )

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "fixed_coef": self.fixed_coef,
                "fixed_se": self.fixed_se,
                "random_coef": self.random_coef,
                "random_se": self.random_se,
                "Q": self.Q,
                "I2": self.I2,
                "tau2": self.tau2,
                "sites": self.sites_per_term,
            }
        )

    def plot(
        self, level: float = 0.95, *, ax: Axes | None = None, intercept: bool = False
    ) -> Figure:
        """A forest of the pooled estimates at ``level``: per term a diamond for the fixed and one
        for the random effects (ratios on a log axis for binomial and poisson fits). The sites'
        own estimates are not in the result (only their weighted sums leave the nodes), so none
        is drawn. Needs matplotlib (``pip install causeway[plot]``)."""
        from causeway.algorithms.figures.forest import meta_figure

        return meta_figure(self, level=level, ax=ax, intercept=intercept)

    def __str__(self) -> str:
        table = self.table().to_string(float_format=lambda v: f"{v:.6g}")
        return (
            f"GLM {self.family} ({self.link_name} link) meta-analysis over {self.sites} sites "
            f"(n = {self.n}): "
            f"{self.formula}\n{table}"
        )


class GLMMeta(Algorithm[GLMParams, Spec, MetaResult]):
    name = "glm_meta"
    parameters = GLMParams
    result_type = MetaResult
    max_rounds = 2
    estimates_per_site = True
    profile = DisclosureProfile(
        parts=PARTS,
        meta=frozenset({"n_used"}),
        guards=GUARDS,
        description=(
            "the site's complete-case n; round 0: inverse-variance weighted sums of the site's "
            "own estimates (sum w, w b, w b^2, w^2 per term) and whether it estimated each term "
            "(0 for a level it does not have); round 1: the random-effects "
            "weighted sums. From these the hub can solve each site's estimate and variance when "
            "there are few sites: a per-site fit discloses per-site estimates, as any "
            "meta-analysis does"
        ),
    )

    def check_private(self, s: Spec, dictionary: Dictionary) -> None:
        raise InvalidRequest("glm: per-site fits are not available with differential privacy")

    def check_state(self, s: Spec, state: State, dictionary: Dictionary) -> None:
        tau2 = state.get("tau2")
        if tau2 is not None:
            values = np.asarray(tau2, dtype=np.float64)
            if values.shape != (len(s.terms),) or not np.all(np.isfinite(values) & (values >= 0)):
                raise DisclosureRefused(
                    "glm_meta: the between-site variances sent for this round are not one "
                    "finite, non-negative value per term; this node releases nothing for them"
                )

    def initial_state(self, s: Spec, dictionary: Dictionary) -> State:
        if s.estimate_alpha:
            raise InvalidRequest(
                "glm per_site: a negative binomial fit per site needs a fixed alpha; give alpha"
            )
        if s.cov_type != "nonrobust":
            raise InvalidRequest(
                "glm per_site: each site's fit has model-based standard errors; cov_type "
                f"{s.cov_type!r} is for the pooled fit"
            )
        return {"round": 0, "terms": list(s.terms)}

    def partitions(self, s: Spec, state: State, dictionary: Dictionary) -> tuple[Partition, ...]:
        return factor_partitions(s, dictionary)

    def local(self, view: DataView, s: Spec, state: State, cache: Cache) -> LocalResult:
        terms = [str(t) for t in state["terms"]]
        data = site_data(view, s, terms, cache)
        prior = {} if np.all(data.w == 1) else {"design": data.w}
        evidence = Evidence(designs={"design": data.x}, weights=prior)
        if "meta_fit" not in cache:
            cache["meta_fit"] = fit(s.model, data, terms, s.max_iter, s.tol)
        beta, cov = cache["meta_fit"]
        v = np.diag(cov)
        present = np.isfinite(v)
        parts = {"meta_n": Part(PartKind.COUNT, np.array(data.n))}
        with np.errstate(divide="ignore"):
            if state.get("tau2") is None:
                w = np.where(present, 1.0 / v, 0.0)
                values = {
                    "meta_w": w,
                    "meta_wb": w * beta,
                    "meta_wb2": w * beta**2,
                    "meta_w2": w**2,
                    "meta_sites": present.astype(np.float64),
                }
            else:
                rw = np.where(present, 1.0 / (v + np.asarray(state["tau2"], np.float64)), 0.0)
                values = {"meta_rw": rw, "meta_rwb": rw * beta}
        parts.update({name: Part(PartKind.SUM, value) for name, value in values.items()})
        return LocalResult(parts, {"n_used": data.n}, evidence)

    def combine(self, total: Aggregate, s: Spec, state: State, dictionary: Dictionary) -> Outcome:
        return _combine(total, s.formula, s.family.value, state, s.model.link.value)
