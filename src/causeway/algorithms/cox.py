"""``cox``: Cox proportional hazards stratified by site, Efron or Breslow ties, Newton–Raphson driven by the hub.

The partial likelihood stratified by site is a product over sites, so its logarithm, gradient and
information at the hub's coefficients are sums of what each site computes on its own rows: the
pooled stratified fit (lifelines ``CoxPHFitter(strata=["site"])`` on the stacked data) is exact.
Each site centres its covariates by its own means, which changes nothing within its stratum and
keeps the exponentials tame.

``strata`` names categorical or boolean columns to stratify on as well: every site × level
combination then has its own baseline hazard (lifelines ``strata=["site", "col", ...]``), and a
site sums its strata's pieces before anything leaves it. ``ties`` chooses Efron's approximation
(lifelines' and statsmodels' default) or Breslow's (statsmodels ``PHReg(ties="breslow")``).

Risk sets pooled across sites (``strata_by_site=False``) are refused: they would need, per round,
each site's risk-set sums (of exp(xβ), x exp(xβ) and x x' exp(xβ)) at every distinct event time
of every site, which puts event times and the covariates of the few rows leaving a risk set
between two times in the released tables. A version on an agreed time grid (as ``km`` does)
would release only sums over intervals that pass every site's minimum cell count, but it is the
fit on times rounded to the grid, not the pooled fit; it is not built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from causeway.algorithms import blocks, design, diagnostics
from causeway.algorithms import params as checks
from causeway.algorithms.base import (
    Algorithm,
    Cache,
    DisclosureProfile,
    Evidence,
    Final,
    Help,
    LocalResult,
    NextRound,
    Outcome,
    Partition,
    State,
)
from causeway.algorithms.wald import WaldEstimates
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import ColumnType, Dictionary
from causeway.model.errors import InvalidRequest, ModelError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
MAX_ITER = 100
Ties = Literal["efron", "breslow"]
MAX_STRATA_COLUMNS = 5
MAX_STRATA = 1_000


@dataclass(frozen=True)
class CoxParams:
    formula: Annotated[str, Help("Right-hand side, e.g. 'age + C(sex)'.")]
    duration: Annotated[str, Help("Time-to-event column.", option=True)]
    event: Annotated[str, Help("Event indicator column (1 = event).", option=True)]
    max_iter: Annotated[int, Help(f"Most Newton-Raphson iterations (1 to {MAX_ITER}).")] = 25
    tol: Annotated[float, Help("Convergence tolerance on the Newton decrement.")] = 1e-10
    ties: Annotated[Ties, Help("efron or breslow (how tied event times are handled).")] = "efron"
    strata: Annotated[
        tuple[str, ...],
        Help("Categorical columns to stratify on as well as the site.", flag="stratum"),
    ] = ()
    strata_by_site: Annotated[
        bool, Help("Stratify by site (pooled risk sets across sites are not supported).")
    ] = True

    def checked(self, dictionary: Dictionary) -> Spec:
        if not self.strata_by_site:
            raise InvalidRequest(
                "cox: strata_by_site=False (risk sets pooled across sites) is not supported: "
                "each site would have to release its risk-set sums at every event time, which "
                "reveals event times and the covariates of the few rows leaving a risk set; "
                "the model is stratified by site (add strata=[...] for more strata)"
            )
        if self.ties not in ("efron", "breslow"):
            raise InvalidRequest(f"cox: ties must be efron or breslow, not {self.ties!r}")
        parsed = design.parse("cox", self.formula, dictionary, response=False)
        duration = checks.numeric("cox", checks.lookup(self.duration, dictionary))
        event = checks.lookup(self.event, dictionary)
        if not (event.type.is_numeric or event.type is ColumnType.BOOLEAN):
            raise InvalidRequest(f"cox: the event column {event.name!r} must be 0/1 or boolean")
        design.expected_terms("cox", parsed, dictionary, intercept=False)
        strata, levels = self._strata(parsed, dictionary, duration.name, event.name)
        return Spec(
            formula=self.formula.strip(),
            parsed=parsed,
            duration=duration.name,
            event=event.name,
            max_iter=checks.whole("cox", "max_iter", self.max_iter, 1, MAX_ITER),
            tol=checks.tolerance("cox", "tol", self.tol),
            ties=self.ties,
            strata=strata,
            strata_levels=levels,
        )

    def _strata(
        self, parsed: design.ParsedFormula, dictionary: Dictionary, duration: str, event: str
    ) -> tuple[tuple[str, ...], tuple[int, ...]]:
        if len(self.strata) > MAX_STRATA_COLUMNS:
            raise InvalidRequest(f"cox: at most {MAX_STRATA_COLUMNS} strata columns")
        if len(set(self.strata)) != len(self.strata):
            raise InvalidRequest("cox: a strata column is listed twice")
        names, levels = [], []
        for name in self.strata:
            column = checks.lookup(name, dictionary)
            levels.append(len(checks.levels("cox", column)))  # categorical or boolean
            if column.name in parsed.variables or column.name in (duration, event):
                raise InvalidRequest(
                    f"cox: {column.name!r} is both a stratum and a term (or the duration or "
                    "event); within its strata it has nothing to estimate"
                )
            names.append(column.name)
        if math.prod(levels) > MAX_STRATA:
            raise InvalidRequest(f"cox: the strata columns make more than {MAX_STRATA} strata")
        return tuple(names), tuple(levels)


@dataclass(frozen=True)
class Spec:
    formula: str
    parsed: design.ParsedFormula
    duration: str
    event: str
    max_iter: int
    tol: float
    ties: Ties = "efron"
    strata: tuple[str, ...] = ()
    strata_levels: tuple[int, ...] = ()  # levels per strata column, from the dictionary


@dataclass(frozen=True)
class Stratum:
    """One stratum's complete cases at a site, sorted by time, with its tie structure."""

    x: FloatArray
    event: FloatArray
    starts: IntArray  # first row of each distinct time
    group: IntArray  # each row's distinct-time index
    pair_time: IntArray  # per event: its distinct-time index (Efron's l runs over ties)
    pair_frac: FloatArray  # per event: l / d (Efron), or 0 (Breslow)

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class Site:
    """One site's complete cases: its design (centred), its strata, and the rows and events
    behind each design column before centring."""

    x: FloatArray
    event: FloatArray
    strata: tuple[Stratum, ...]
    support: IntArray

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


def site(view: DataView, s: Spec, terms: list[str], cache: Cache) -> Site:
    cached = cache.get("cox")
    if isinstance(cached, Site):
        return cached
    columns = [s.duration, s.event, *s.parsed.variables, *s.strata]
    if not s.strata and design.plain(view.dictionary, columns, terms):
        data = _plain_site(view, s, columns, terms)
    else:
        data = _frame_site(view, s, columns, terms)
    cache["cox"] = data
    return data


def _plain_site(view: DataView, s: Spec, columns: list[str], terms: list[str]) -> Site:
    """Plain numeric terms, one stratum: straight from the engine's column-major matrix, its
    counts and means taken column by column, the rows sorted by time as the design is laid
    out (no DataFrame, no sorted copy of the matrix)."""
    block, names = design.plain_block(view, columns)
    time, event = block[:, names.index(s.duration)], block[:, names.index(s.event)]
    order = _time_order(time)
    sources = [None if t == "Intercept" else block[:, names.index(t)] for t in terms]
    n = block.shape[0]
    with np.errstate(invalid="ignore", over="ignore"):  # a term not finite is refused below
        shift = np.array([1.0 if c is None else c.mean() for c in sources]) if n else None
    x = design.plain_design("cox", block, names, terms, order=order, shift=shift)
    _check_outcome(s, time, event)
    design_columns = [np.ones(n) if c is None else c for c in sources]
    counts = design.column_support(design_columns, event)
    support = np.concatenate([[int(event.sum())], counts]).astype(np.int64)
    time, event = time[order], event[order]  # copies: the block itself is freed
    del block, sources, design_columns
    return Site(x, event, (_stratum(x, time, event, s.ties),), support)


def _frame_site(view: DataView, s: Spec, columns: list[str], terms: list[str]) -> Site:
    """Any terms, and strata columns: through a DataFrame of the complete cases."""
    frame = design.complete_frame(view, columns)
    frame = frame.sort_values(s.duration, kind="stable").reset_index(drop=True)
    x = design.design("cox", s.parsed.rhs, frame, terms)
    time = frame[s.duration].to_numpy(dtype=np.float64)
    event = frame[s.event].to_numpy(dtype=np.float64)
    _check_outcome(s, time, event)
    support = np.concatenate(
        [[int(event.sum())], design.support(x), design.outcome_support(x, event)]
    ).astype(np.int64)
    if x.shape[0]:
        x = x - x.mean(axis=0)
    if not s.strata:
        return Site(x, event, (_stratum(x, time, event, s.ties),), support)
    codes = tuple(design.codes(frame[name]) for name in s.strata)
    key = np.ravel_multi_index(codes, s.strata_levels).astype(np.int64)
    # rows and events per stratum (every combination of the dictionary's levels, so every
    # site sends the same shape): a stratum's risk sets hold its rows alone, and the gate
    # refuses a stratum with fewer rows or events than the minimum as it does a rare level
    cells = math.prod(s.strata_levels)
    support = np.concatenate(
        [
            support,
            np.bincount(key, minlength=cells),
            np.bincount(key, weights=event, minlength=cells).astype(np.int64),
        ]
    ).astype(np.int64)
    present = np.unique(key)
    if present.size == 1:  # one stratum: its rows are all the rows (no copy of the design)
        return Site(x, event, (_stratum(x, time, event, s.ties),), support)
    strata = tuple(
        _stratum(x[rows], time[rows], event[rows], s.ties)
        for rows in (np.flatnonzero(key == k) for k in present)
    )
    return Site(x, event, strata, support)


def _check_outcome(s: Spec, time: FloatArray, event: FloatArray) -> None:
    if event.size and not ((event == 0.0) | (event == 1.0)).all():
        raise ModelError(f"cox: the event column {s.event!r} must be 0/1 (or true/false)")
    if time.size and time.min() < 0:
        raise ModelError(f"cox: the duration column {s.duration!r} holds negative times")


# distinct times up to this many are sorted by their 16-bit rank (a radix sort)
_RANKED_TIMES = 1 << 16


def _time_order(time: FloatArray) -> npt.NDArray[np.intp]:
    """The stable order of the rows by time (``argsort(time, kind="stable")``), through each
    time's rank among the distinct times where there are few of them: the same order."""
    distinct, rank = np.unique(time, return_inverse=True)
    if distinct.size > _RANKED_TIMES:
        return np.argsort(time, kind="stable")
    return np.argsort(rank.astype(np.uint16), kind="stable")


def _stratum(x: FloatArray, time: FloatArray, event: FloatArray, ties: Ties) -> Stratum:
    """A stratum's rows (already sorted by time) with its tie structure."""
    new = np.empty(time.shape[0], dtype=bool)
    new[:1] = True
    np.not_equal(time[1:], time[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    d = np.bincount(group, weights=event, minlength=len(starts)).astype(np.int64)
    pair_time = np.repeat(np.arange(len(starts)), d)
    if ties == "breslow" or not d.sum():  # Breslow: every tied event sees the full risk set
        pair_frac = np.zeros(int(d.sum()))
    else:
        # l / d for the l-th (from 0) of the d events at each time
        first = np.repeat(np.cumsum(d) - d, d)
        pair_frac = (np.arange(pair_time.size) - first) / np.repeat(d, d).astype(np.float64)
    return Stratum(x, event, starts.astype(np.int64), group.astype(np.int64), pair_time, pair_frac)


def partial_likelihood(data: Site, beta: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    """The site's log partial likelihood, gradient and information: the sums over its strata."""
    p = beta.shape[0]
    loglik, gradient, information = 0.0, np.zeros(p), np.zeros((p, p))
    for stratum in data.strata:
        piece = efron(stratum, beta)
        loglik += piece[0]
        gradient = gradient + piece[1]
        information = information + piece[2]
    return loglik, gradient, information


def efron(data: Stratum, beta: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    """One stratum's log partial likelihood, gradient and information (minus the Hessian) at
    ``beta``, with Efron's correction for ties (Breslow's where ``pair_frac`` is all zero)."""
    p = beta.shape[0]
    if data.n == 0 or not data.event.any():
        return 0.0, np.zeros(p), np.zeros((p, p))
    x, ev = data.x, data.event
    eta = x @ beta
    eta = eta - eta.max()  # a constant shift cancels within the stratum
    r = np.exp(eta)
    s0 = np.add.reduceat(r, data.starts)[::-1].cumsum()[::-1]
    s1 = _grouped(x, r, data.starts)[::-1].cumsum(axis=0)[::-1]
    a0 = np.add.reduceat(r * ev, data.starts)
    a1 = _grouped(x, r * ev, data.starts)
    j, frac = data.pair_time, data.pair_frac
    phi = s0[j] - frac * a0[j]
    m = len(data.starts)
    inverse = 1 / phi
    cum = np.bincount(j, weights=inverse, minlength=m).cumsum()
    tied = np.bincount(j, weights=frac * inverse, minlength=m)
    a = r * (cum[data.group] - ev * tied[data.group])
    loglik = float(ev @ eta - np.log(phi).sum())
    gradient = x.T @ (ev - a)
    information = blocks.cross(x, a) - _risk_means(s0, s1, a1, j, frac, inverse)
    return loglik, gradient, information


def _risk_means(
    s0: FloatArray,
    s1: FloatArray,
    a1: FloatArray,
    j: IntArray,
    frac: FloatArray,
    inverse: FloatArray,
) -> FloatArray:
    """The sum over events of mean mean', each event's risk-set mean of x being
    (s1 - frac a1) / phi at its time: taken per distinct time from s1 / s0 and a1 / s0 (means,
    of the size of x) and the sums over its events of (s0 / phi)^k frac^l, k = 2, l = 0, 1, 2
    (no events x terms temporaries)."""
    m = s0.shape[0]
    size = np.where(s0 > 0, s0, 1.0)[:, None]
    means, tied = s1 / size, a1 / size
    ratio = s0[j] * inverse
    squared = ratio * ratio
    w0 = np.bincount(j, weights=squared, minlength=m)
    out = means.T @ (means * w0[:, None])
    if frac.any():  # Efron: the tied events' part of each risk set taken out
        w1 = np.bincount(j, weights=frac * squared, minlength=m)
        w2 = np.bincount(j, weights=frac * frac * squared, minlength=m)
        cross = means.T @ (tied * w1[:, None])
        out += tied.T @ (tied * w2[:, None]) - cross - cross.T
    return np.asarray(out, dtype=np.float64)


def _grouped(x: FloatArray, weights: FloatArray, starts: IntArray) -> FloatArray:
    """Sum of weights x over each run of rows beginning at ``starts`` (the distinct times),
    taken over row blocks (:mod:`blocks`): no rows x terms temporary."""
    out = np.zeros((len(starts), x.shape[1]))
    for span in blocks.spans(x.shape[0]):
        first = int(np.searchsorted(starts, span.start, side="right")) - 1
        end = int(np.searchsorted(starts, span.stop, side="left"))
        edges = np.concatenate([[span.start], starts[first + 1 : end]]) - span.start
        out[first:end] += np.add.reduceat(x[span] * weights[span, None], edges, axis=0)
    return out


@dataclass(frozen=True)
class CoxResult(WaldEstimates):
    """Log hazard ratios and their covariance; intervals and p-values are Wald (normal)."""

    formula: str
    terms: tuple[str, ...]
    coefficients: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    log_likelihood: float
    n: int
    events: int
    iterations: int
    converged: bool
    warnings: tuple[str, ...] = ()
    ties: str = "efron"
    # columns stratified on besides the site
    strata: tuple[str, ...] = ()

    def hazard_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """exp(coef) with its Wald interval at ``level``, as lifelines' ``hazard_ratios_`` and
        exp of its ``confidence_intervals_`` (columns ``hazard_ratio``, ``lower``, ``upper``)."""
        return self.exp_params(level, name="hazard_ratio")

    def plot(self, level: float = 0.95, *, ax: Axes | None = None) -> Figure:
        """A forest of the hazard ratios at ``level`` on a log axis, reference line at 1. Needs
        matplotlib (``pip install causeway[plot]``)."""
        from causeway.algorithms.figures.forest import cox_figure

        return cox_figure(self, level=level, ax=ax)

    def conf_int(self, alpha: float = 0.05, *, exp: bool = False) -> pd.DataFrame:
        """Wald interval of the coefficients (of the hazard ratios with ``exp=True``)."""
        out = self.wald_interval(alpha)
        return out.apply(np.exp) if exp else out

    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        ci = self.conf_int(alpha, exp=True)
        return pd.DataFrame(
            {
                "coef": self.coef,
                "se": self.se,
                "hazard_ratio": np.exp(self.coef),
                "hr_lower": ci["lower"],
                "hr_upper": ci["upper"],
                "p_value": self.pvalues,
            }
        )

    def heading(self) -> str:
        status = "" if self.converged else " (NOT converged)"
        return (
            f"Cox PH stratified by {' x '.join(('site', *self.strata))}, {self.ties} ties: "
            f"{self.formula}\n"
            f"n = {self.n}, events = {self.events}, log partial likelihood = "
            f"{self.log_likelihood:.6g}, iterations = {self.iterations}{status}"
        )

    def conventions(self) -> tuple[str, ...]:
        """Wald inference, the ties, the strata; any warnings."""
        return (
            "estimate = log hazard ratio (to_frame(exponentiate=True): hazard ratios); "
            "statistic = z; p-values and 95% intervals Wald (normal); "
            f"{self.ties.capitalize()} ties; baseline hazard stratified by "
            f"{' x '.join(('site', *self.strata))}",
            *(f"WARNING: {w}" for w in self.warnings),
            *self._missing_note(),
        )

    def summary(self) -> str:
        """Heading, the coefficients with their hazard ratios and intervals, and conventions."""
        from causeway.algorithms.tidy import frame_text

        frame = self.to_frame()
        ratios = self.to_frame(exponentiate=True)
        frame["hazard_ratio"] = ratios["estimate"]
        frame["hr_low"], frame["hr_high"] = ratios["conf_low"], ratios["conf_high"]
        return "\n".join([self.heading(), frame_text(frame), *self.conventions()])

    def __str__(self) -> str:
        status = "" if self.converged else " (NOT converged)"
        lines = [
            f"Cox PH stratified by {' x '.join(('site', *self.strata))}, {self.ties} ties: "
            f"{self.formula}",
            f"n = {self.n}, events = {self.events}, log partial likelihood = "
            f"{self.log_likelihood:.6g}, iterations = {self.iterations}{status}",
            self.table().to_string(float_format=lambda v: f"{v:.6g}"),
        ]
        return "\n".join(lines + [f"WARNING: {w}" for w in self.warnings])


def _refuse_monotone(information: FloatArray, state: State, terms: list[str]) -> None:
    start = np.asarray(state["start_information"], dtype=np.float64)
    found = diagnostics.collapsed(information, start, terms)
    if found:
        raise ModelError(
            f"cox: monotone likelihood: the estimate for {', '.join(found)} diverges (a group "
            "with no events, or whose events all come first); drop or merge these terms"
        )


class Cox(Algorithm[CoxParams, Spec, CoxResult]):
    name = "cox"
    conventions = (
        "Equals the pooled stratified fit: lifelines `CoxPHFitter(strata=['site', *strata])` "
        "(Efron) and statsmodels `PHReg(ties=..., strata=site x strata)` (Efron or Breslow). "
        "Every site is its own stratum (its own baseline hazard); `strata` adds categorical or "
        "boolean columns, each site x level combination then being a stratum. A column cannot "
        "be both a stratum and a term. `strata_by_site=False` (risk sets pooled across sites) "
        "is refused: it would need each site's risk-set sums at every distinct event time, "
        "which releases event times and the covariates of the few rows leaving a risk set; a "
        "grid-coarsened version would not be the pooled fit."
    )
    parameters = CoxParams
    result_type = CoxResult
    max_rounds = MAX_ITER + 2
    profile = DisclosureProfile(
        parts={
            "n": PartKind.COUNT,
            "events": PartKind.COUNT,
            "support": PartKind.COUNT,
            "loglik": PartKind.SUM,
            "gradient": PartKind.SUM,
            "information": PartKind.CROSS_PRODUCT,
        },
        free_cells=frozenset({"support"}),
        whole=frozenset({"support"}),
        guards={"loglik": "support", "gradient": "support", "information": "support"},
        description=(
            "per round: the site's complete cases and events (and, with strata columns, its "
            "rows and events per stratum), and its strata's log partial likelihood, gradient "
            "and information at the hub's coefficients"
        ),
    )

    def check_state(self, s: Spec, state: State, dictionary: Dictionary) -> None:
        """Steep coefficients from the hub make one row outweigh its whole risk set, and the
        gradient and information then carry that row's covariates and event: the linear
        predictor's spread over the dictionary's range must stay within the bound."""
        terms = [str(t) for t in state.get("terms") or []]
        design.refuse_steep(
            (
                design.linear_reach("cox", s.parsed, dictionary, terms, beta, spread=True)
                for _, beta in design.coefficients(state, "beta", "last_beta")
            ),
            "cox: the coefficients sent for this round would let single rows outweigh their "
            "risk sets over the dictionary's range (monotone likelihood, or a hub that is not to "
            "be trusted); this node releases nothing for them",
        )

    def initial_state(self, s: Spec, dictionary: Dictionary) -> State:
        terms = design.expected_terms("cox", s.parsed, dictionary, intercept=False)
        if not terms:
            raise ModelError("cox: the formula has no terms to estimate")
        return {"round": 0, "terms": terms, "beta": [0.0] * len(terms)}

    def partitions(self, s: Spec, state: State, dictionary: Dictionary) -> tuple[Partition, ...]:
        if not s.strata:
            return ()
        # each stratum's rows and events at the site
        return (Partition(s.strata), Partition((*s.strata, s.event)))

    def local(self, view: DataView, s: Spec, state: State, cache: Cache) -> LocalResult:
        data = site(view, s, [str(t) for t in state["terms"]], cache)
        beta = np.asarray(state["beta"], dtype=np.float64)
        loglik, gradient, information = partial_likelihood(data, beta)
        parts = {
            "n": Part(PartKind.COUNT, np.array(data.n)),
            "events": Part(PartKind.COUNT, np.array(int(data.event.sum()))),
            # counted before the site centred x: centring hides which rows a column holds
            "support": Part(PartKind.COUNT, data.support),
            "loglik": Part(PartKind.SUM, np.array(loglik)),
            "gradient": Part(PartKind.SUM, gradient),
            "information": Part(PartKind.CROSS_PRODUCT, information),
        }
        # Judged with an intercept, so the site's own centring of x changes nothing.
        return LocalResult(parts, evidence=Evidence(designs={"design": data.x}))

    def combine(self, total: Aggregate, s: Spec, state: State, dictionary: Dictionary) -> Outcome:
        checks.refuse_if_suppressed(total, ["n", "events", "support"], "cox")
        terms = [str(t) for t in state["terms"]]
        if int(total.value("events")) == 0:
            raise ModelError("cox: no events at any site; nothing to estimate")
        k = int(state["round"])
        beta = np.asarray(state["beta"], dtype=np.float64)
        loglik = float(total.value("loglik"))
        gradient, information = total.value("gradient"), total.value("information")
        if k == 0:
            diagnostics.check_design("cox", information, terms)
            state = {**state, "start_information": information.tolist()}
        previous = state.get("loglik")
        if previous is not None and loglik < float(previous) - 1e-12 * abs(loglik):
            # overshot: halve the step back towards the last accepted point
            if k >= s.max_iter:
                _refuse_monotone(information, state, terms)
                return Final(self._result(total, s, terms, beta, k, False, float("nan")))
            last = np.asarray(state["last_beta"], dtype=np.float64)
            return NextRound(
                {**state, "round": k + 1, "beta": ((beta + last) / 2).tolist()},
                note=f"iteration {k + 1}, step halved",
            )
        step = diagnostics.solve("cox", information, gradient, terms)
        decrement = float(gradient @ step) / 2
        if state.get("polish"):  # the Newton step after convergence: report at this point
            _refuse_monotone(information, state, terms)
            return Final(self._result(total, s, terms, beta, k, True, decrement))
        converged = decrement < s.tol * (abs(loglik) + 0.1)
        if not converged and k >= s.max_iter:
            _refuse_monotone(information, state, terms)
            return Final(self._result(total, s, terms, beta, k, False, decrement))
        return NextRound(
            {
                "round": k + 1,
                "terms": terms,
                "beta": (beta + step).tolist(),
                "last_beta": beta.tolist(),
                "loglik": loglik,
                "start_information": state["start_information"],
                # once the Newton decrement is negligible, one more step lands within its square
                "polish": converged,
            },
            note=f"iteration {k + 1}, log partial likelihood {loglik:.10g}",
        )

    def _result(
        self,
        total: Aggregate,
        s: Spec,
        terms: list[str],
        beta: FloatArray,
        k: int,
        converged: bool,
        decrement: float,
    ) -> CoxResult:
        cov = diagnostics.inverse(total.value("information"))
        warnings: tuple[str, ...] = ()
        if not converged:
            warnings = (
                f"Newton-Raphson did not converge in {s.max_iter} iterations (the log partial "
                f"likelihood can still rise by about {decrement:.3g}); a diverging coefficient "
                "suggests monotone likelihood (a group with no events or only events)",
            )
        return CoxResult(
            formula=s.formula,
            terms=tuple(terms),
            coefficients=tuple(float(b) for b in beta),
            covariance=tuple(tuple(float(v) for v in row) for row in cov),
            log_likelihood=float(total.value("loglik")),
            n=int(total.value("n")),
            events=int(total.value("events")),
            iterations=k,
            converged=converged,
            warnings=warnings,
            ties=s.ties,
            strata=s.strata,
        )
