"""``km``: Kaplan–Meier curves with exponential-Greenwood intervals, medians and the log-rank test.

Exact event times would put single patients in the released tables, so the curve steps on a time
grid that every site's data supports (:mod:`causeway.algorithms.grid`): round 0 releases, per node
of a binary tree over fine bins of the dictionary's time range, only whether each site's events and
censorings there pass its minimum cell count; the hub cuts the tree into the finest intervals that
pass everywhere; round 1 returns each site's events and censorings per group in those intervals.
Every time is rounded up to the end of its interval, and the curve, its bands, the medians and the
log-rank test are computed exactly as lifelines computes them on those rounded times: the
federated result equals the pooled one on the released grid, which the result states.
(The site-stratified Cox model needs no event table and stays exact.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from causeway.algorithms import design, grid
from causeway.algorithms import params as checks
from causeway.algorithms.base import (
    Algorithm,
    Binning,
    Cache,
    DisclosureProfile,
    Evidence,
    Final,
    Help,
    LocalResult,
    NextRound,
    Outcome,
    Partition,
    Released,
    State,
)
from causeway.algorithms.rmst import RMSTResult, rmst
from causeway.algorithms.wald import alpha_of
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.errors import InvalidRequest, ModelError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = npt.NDArray[np.float64]
Z95 = float(stats.norm.ppf(0.975))
_COLUMNS = ["time", "at_risk", "events", "censored", "survival", "lower", "upper"]
FINE_BINS = 1024
# time, at_risk, events, censored, survival, lower, upper, group
Row = tuple[float, float, float, float, float, float, float, str]


@dataclass(frozen=True)
class KMParams:
    duration: Annotated[str, Help("Time-to-event column.", option=True)]
    event: Annotated[str, Help("Event indicator column (1 = event).", option=True)]
    by: Annotated[str | None, Help("Group column (log-rank test across it).")] = None

    def checked(self, dictionary: Dictionary) -> Spec:
        duration = checks.numeric("km", checks.lookup(self.duration, dictionary))
        event = checks.lookup(self.event, dictionary)
        by = None if self.by is None else checks.lookup(self.by, dictionary)
        groups = ("all",) if by is None else checks.levels("km", by)
        if duration.minimum is None or duration.maximum is None:
            raise InvalidRequest(
                f"km: the duration column {duration.name!r} has no bounds in the dictionary "
                "to bin over"
            )
        low = min(duration.minimum, 0.0)
        high = duration.maximum if duration.maximum > low else low + 1.0
        edges = np.linspace(low, high, FINE_BINS + 1)
        return Spec(duration.name, event.name, None if by is None else by.name, groups, edges)


@dataclass(frozen=True)
class Spec:
    duration: str
    event: str
    by: str | None
    groups: tuple[str, ...]
    # the fine time bins over the dictionary's range of the duration column
    edges: FloatArray = field(compare=False, repr=False)


def _site(view: DataView, s: Spec, cache: Cache) -> pd.DataFrame:
    if "km" not in cache:
        columns = [s.duration, s.event, *([s.by] if s.by else [])]
        frame = design.complete_frame(view, columns)
        if len(frame) and not frame[s.event].isin([0.0, 1.0]).all():
            raise ModelError(f"km: the event column {s.event!r} must be 0/1 (or true/false)")
        if len(frame) and frame[s.duration].min() < 0:
            raise ModelError(f"km: the duration column {s.duration!r} holds negative times")
        group = design.codes(frame[s.by]) if s.by else np.zeros(len(frame), np.int64)
        cache["km"] = pd.DataFrame(
            {"time": frame[s.duration], "event": frame[s.event], "group": group}
        )
    frame = cache["km"]
    assert isinstance(frame, pd.DataFrame)
    return frame


@dataclass(frozen=True)
class LogRank:
    statistic: float
    dof: int
    p_value: float


@dataclass(frozen=True)
class KMResult(Released):
    """``table`` holds one row per time at which a group lost someone (event or censoring).

    Times are the ends of the intervals of ``grid`` (the released time grid, lower edge first):
    each follow-up time was rounded up to the end of its interval."""

    duration: str
    event: str
    by: str | None
    rows: tuple[Row, ...]
    medians: tuple[tuple[str, float], ...]
    logrank: LogRank | None
    grid: tuple[float, ...] = ()

    @property
    def table(self) -> pd.DataFrame:
        columns = [*_COLUMNS, "group"] if self.by else _COLUMNS
        rows = [row if self.by else row[:-1] for row in self.rows]
        return pd.DataFrame(rows, columns=columns)

    def to_frame(self) -> pd.DataFrame:
        """The curves, one row per group and time: ``group`` (with ``by``), ``time``,
        ``at_risk``, ``events``, ``censored``, ``estimate`` (survival) and its 95%
        exponential-Greenwood ``conf_low``, ``conf_high`` (``table`` with broom's names);
        ``median_interval()`` has the medians, ``logrank`` the test."""
        frame = self.table.rename(
            columns={"survival": "estimate", "lower": "conf_low", "upper": "conf_high"}
        )
        if self.by:
            frame = frame[["group", *(c for c in frame.columns if c != "group")]]
        return frame

    def heading(self) -> str:
        title = f"Kaplan-Meier of {self.duration} (event {self.event})"
        return title + (f" by {self.by}" if self.by else "")

    def conventions(self) -> tuple[str, ...]:
        lines = ["estimate = survival; 95% intervals exponential Greenwood (log(-log))"]
        if self.grid:
            lines.append(
                f"times rounded up to a grid of {len(self.grid) - 1} intervals that every site's "
                "data supports"
            )
        if self.logrank is not None:
            lr = self.logrank
            lines.append(
                f"log-rank: chi2 = {lr.statistic:.6g}, dof = {lr.dof}, p = {lr.p_value:.4g}"
            )
        return (*lines, *self._missing_note())

    @property
    def median(self) -> float | pd.Series[float]:
        """Median survival time: the first time the curve reaches 0.5 (inf if it never does)."""
        if self.by is None:
            return self.medians[0][1]
        return pd.Series(dict(self.medians), name="median", dtype=float)

    @property
    def groups(self) -> tuple[str, ...]:
        """The groups with data, in order (``("all",)`` without ``by``)."""
        return tuple(dict.fromkeys(row[-1] for row in self.rows))

    def _group(self, group: str) -> pd.DataFrame:
        rows = [row[:-1] for row in self.rows if row[-1] == group]
        return pd.DataFrame(rows, columns=_COLUMNS)

    def _bands(self, group: str, level: float) -> pd.DataFrame:
        """The group's curve with its exponential-Greenwood (log(-log)) band at ``level``."""
        curve = self._group(group)
        n, d = curve["at_risk"].to_numpy(float), curve["events"].to_numpy(float)
        survival = curve["survival"].to_numpy(float)
        curve["lower"], curve["upper"] = _loglog_band(n, d, survival, _z(level))
        return curve

    def survival_at(self, times: float | Sequence[float], level: float = 0.95) -> pd.DataFrame:
        """Survival at each of ``times`` per group, with its pointwise interval at ``level``.

        As lifelines' ``survival_function_at_times`` and its ``confidence_interval_`` at those
        times (the step function carried forward; before the first step 1, with the interval
        (1, 1)): the exponential-Greenwood interval, log(-log) transformed, lifelines' default.
        Times are on the released grid: a time between two grid points reads the curve as of the
        lower one. Columns ``group`` (with ``by``), ``time``, ``at_risk`` (still at risk just
        after ``time``), ``survival``, ``lower``, ``upper``."""
        wanted = np.atleast_1d(np.asarray(times, dtype=float))
        if wanted.ndim != 1 or not np.isfinite(wanted).all() or (wanted < 0).any():
            raise InvalidRequest("km: survival_at takes finite, non-negative times")
        frames = []
        for group in self.groups:
            curve = self._bands(group, level)
            at = np.searchsorted(curve["time"].to_numpy(), wanted, side="right") - 1
            seen = at >= 0
            pick = np.maximum(at, 0)
            n0 = float(curve["at_risk"].iloc[0]) if len(curve) else 0.0
            left = (curve["at_risk"] - curve["events"] - curve["censored"]).to_numpy()
            frame = pd.DataFrame(
                {
                    "time": wanted,
                    "at_risk": np.where(seen, left[pick], n0).astype(np.int64),
                    "survival": np.where(seen, curve["survival"].to_numpy()[pick], 1.0),
                    "lower": np.where(seen, curve["lower"].to_numpy()[pick], 1.0),
                    "upper": np.where(seen, curve["upper"].to_numpy()[pick], 1.0),
                }
            )
            if self.by:
                frame.insert(0, "group", group)
            frames.append(frame)
        out = pd.concat(frames, ignore_index=True)
        out.attrs["level"] = level
        return out

    def median_interval(self, level: float = 0.95) -> pd.DataFrame:
        """Per group: n, events, the median survival time and its interval at ``level``.

        As lifelines' ``median_survival_times_`` and ``median_survival_times`` of its
        ``confidence_interval_``: the first time the curve, its lower band and its upper band
        reach 0.5 (inf when one never does): the median of the lower band is the interval's lower
        end, that of the upper band its upper end."""
        records = []
        for group in self.groups:
            curve = self._bands(group, level)
            records.append(
                {
                    "group": group,
                    "n": int(curve["at_risk"].iloc[0]),
                    "events": int(curve["events"].sum()),
                    "median": _first_at_or_below(curve, "survival"),
                    "lower": _first_at_or_below(curve, "lower"),
                    "upper": _first_at_or_below(curve, "upper"),
                }
            )
        out = pd.DataFrame(records).set_index("group")
        out.attrs["level"] = level
        return out

    def rmst(
        self, tau: float, level: float = 0.95, *, compare: tuple[str, str] | None = None
    ) -> RMSTResult:
        """Restricted mean survival time up to ``tau`` per group, with its Greenwood standard
        error and interval at ``level``, and for two groups (or the two named in ``compare``)
        their difference (first minus second) with its interval and p-value: see
        :mod:`causeway.algorithms.rmst`. From the released curve alone (times on the grid)."""
        curves = [(group, self._group(group)) for group in self.groups]
        return rmst(curves, tau, level, compare)

    def default_times(self) -> list[float]:
        """The quartiles of follow-up (every event and censoring, all groups), on the grid."""
        table = self.table
        weights = (table["events"] + table["censored"]).to_numpy()
        order = np.argsort(table["time"].to_numpy(), kind="stable")
        times, cum = table["time"].to_numpy()[order], np.cumsum(weights[order])
        if not len(times) or cum[-1] <= 0:
            return []
        picks = np.searchsorted(cum, np.array([0.25, 0.5, 0.75]) * cum[-1], side="left")
        return sorted({float(times[min(i, len(times) - 1)]) for i in picks})

    def summary(self, at: Sequence[float] | None = None, level: float = 0.95) -> str:
        """Per group: n, events, the median with its interval, survival with its interval at
        ``at`` (default: the quartiles of follow-up), then the log-rank test when there are
        groups. ``table`` (or ``causeway run km --full``) has every step of the curves."""
        title = f"Kaplan-Meier of {self.duration} (event {self.event})"
        if self.by:
            title += f" by {self.by}"
        pct = f"{100 * level:g}%"
        medians = self.median_interval(level)
        times = list(at) if at is not None else self.default_times()
        lines = [title]
        survival = self.survival_at(times, level) if times else None
        for group in self.groups:
            row = {k: float(v) for k, v in medians.loc[group].items()}
            head = f"{self.by} = {group}: " if self.by else ""
            lines.append(
                f"{head}n = {int(row['n'])}, events = {int(row['events'])}, median = "
                f"{_num(row['median'])} ({pct} CI {_num(row['lower'])} to {_num(row['upper'])})"
            )
            if survival is None:
                continue
            mine = survival[survival["group"] == group] if self.by else survival
            for r in mine.to_dict("records"):
                lines.append(
                    f"  survival at {_num(r['time'])}: {r['survival']:.4f} "
                    f"({pct} CI {r['lower']:.4f} to {r['upper']:.4f}), {r['at_risk']} at risk"
                )
        if self.grid:
            lines.append(
                f"times rounded up to a grid of {len(self.grid) - 1} intervals that every site's "
                "data supports; intervals exponential Greenwood (log(-log))"
            )
        if self.logrank is not None:
            lr = self.logrank
            lines.append(
                f"log-rank: chi2 = {lr.statistic:.6g}, dof = {lr.dof}, p = {lr.p_value:.4g}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def plot(
        self,
        *,
        ax: Axes | None = None,
        level: float = 0.95,
        at_risk: bool = True,
        times: Sequence[float] | None = None,
    ) -> Figure:
        """The curves (one step curve per group, its band at ``level``) with the numbers at risk
        beneath at ``times`` (default: the x axis' ticks); needs matplotlib
        (``pip install causeway[plot]``). ``ax`` draws into an existing axes (the at-risk table
        then goes below it, in room the caller leaves)."""
        from causeway.algorithms.figures.survival import km_figure

        return km_figure(self, ax=ax, level=level, at_risk=at_risk, times=times)


def _num(value: float) -> str:
    return "not reached" if math.isinf(value) else f"{value:.6g}"


def _z(level: float) -> float:
    return float(stats.norm.ppf(1 - alpha_of(level) / 2))


def _first_at_or_below(curve: pd.DataFrame, column: str) -> float:
    reached = curve.loc[curve[column] <= 0.5, "time"]
    return float(reached.iloc[0]) if len(reached) else math.inf


def _loglog_band(
    n: FloatArray, d: FloatArray, survival: FloatArray, z: float
) -> tuple[FloatArray, FloatArray]:
    """Exponential Greenwood: the log(-log) interval, as lifelines (1.0 where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        var = d / (n * (n - d))
        var = np.cumsum(np.where(np.isinf(var), 0.0, var))
        log_s = np.log(survival)
        lower = np.exp(-np.exp(np.log(-log_s) - z * np.sqrt(var) / log_s))
        upper = np.exp(-np.exp(np.log(-log_s) + z * np.sqrt(var) / log_s))
    return np.nan_to_num(lower, nan=1.0), np.nan_to_num(upper, nan=1.0)


class KaplanMeier(Algorithm[KMParams, Spec, KMResult]):
    name = "km"
    conventions = (
        "Times are rounded up to the end of their interval of the agreed grid; curves, "
        "exponential-Greenwood (log(-log)) bands, medians and the log-rank test equal "
        "lifelines' on those times. `result.rmst(tau, level)` gives the restricted mean "
        "survival time per group from the released curve (equal to lifelines' "
        "`restricted_mean_survival_time(kmf, t=tau)` on the rounded times) with its "
        "Greenwood standard error (as R's `survival` and `survRM2`; lifelines' "
        "`return_variance=True` is the variance of min(T, tau), not of the estimate), a normal "
        "interval, and for two groups the difference with its interval and p-value."
    )
    parameters = KMParams
    result_type = KMResult
    max_rounds = 2
    profile = DisclosureProfile(
        parts={
            "n": PartKind.COUNT,
            "passes": PartKind.COUNT,
            "events": PartKind.COUNT,
            "censored": PartKind.COUNT,
        },
        guards={"events": "n", "censored": "n"},
        whole=frozenset({"events", "censored"}),
        indicators=frozenset({"passes"}),
        description=(
            "n per group; round 0: per node of a tree over fine time bins, whether the site's "
            "events and censorings there pass its minimum cell count (pass/fail only); round 1: "
            "events and censorings per group in the intervals of the agreed grid"
        ),
    )

    def initial_state(self, s: Spec, dictionary: Dictionary) -> State:
        return {"round": 0}

    def partitions(self, s: Spec, state: State, dictionary: Dictionary) -> tuple[Partition, ...]:
        groups = (s.by,) if s.by else ()
        found = [Partition(groups)] if groups else []
        if state.get("grid") is not None:
            edges = s.edges[grid.check_boundaries(state["grid"], FINE_BINS)]
            # events and censorings per group and interval (the numbers at risk add them up)
            intervals = (Binning(s.duration, tuple(edges.tolist())),)
            found.append(Partition((*groups, s.event), intervals))
        return tuple(found)

    def local(self, view: DataView, s: Spec, state: State, cache: Cache) -> LocalResult:
        frame = _site(view, s, cache)
        groups = frame["group"].to_numpy()
        n = np.bincount(groups, minlength=len(s.groups)).astype(np.int64)
        parts = {"n": Part(PartKind.COUNT, n)}
        fine = grid.fine_index(frame["time"].to_numpy(), s.edges)
        cell = groups * FINE_BINS + fine
        size = len(s.groups) * FINE_BINS
        event = frame["event"].to_numpy()
        events = np.bincount(cell, weights=event, minlength=size).astype(np.int64)
        removed = np.bincount(cell, minlength=size).astype(np.int64)
        tables = np.stack([events, removed - events]).reshape(2, len(s.groups), FINE_BINS)
        # a row is one event or censoring, in one group: one cell of a table, one tree node per level
        sensitivity = {
            "n": 1.0,
            "events": 1.0,
            "censored": 1.0,
            "passes": grid.levels(FINE_BINS) ** 0.5,
        }
        if state.get("grid") is None:
            parts["passes"] = Part(PartKind.COUNT, grid.node_counts(tables, FINE_BINS))
            return LocalResult(parts, evidence=Evidence(sensitivity=sensitivity))
        bounds = grid.check_boundaries(state["grid"], FINE_BINS)
        parts["events"] = Part(PartKind.COUNT, grid.interval_counts(tables[0], bounds))
        parts["censored"] = Part(PartKind.COUNT, grid.interval_counts(tables[1], bounds))
        return LocalResult(parts, evidence=Evidence(sensitivity=sensitivity))

    def combine(self, total: Aggregate, s: Spec, state: State, dictionary: Dictionary) -> Outcome:
        checks.refuse_if_suppressed(total, ["n"], "km")
        if state.get("grid") is None:
            if not int(total.value("n").sum()):
                raise ModelError("km: no complete rows at any site")
            passes = total.value("passes") == total.sites  # every site passes the node
            bounds = grid.cut(passes.reshape(-1, passes.shape[-1]).all(axis=0), FINE_BINS)
            return NextRound(
                {"round": 1, "grid": bounds}, note=f"a grid of {len(bounds) - 1} time intervals"
            )
        if total.suppressed("events").any() or total.suppressed("censored").any():
            raise ModelError(
                "km: a site's events or censorings fall below its minimum cell count even on "
                "the coarsest grid; the curve cannot be released (widen the filter)"
            )
        bounds = grid.check_boundaries(state["grid"], FINE_BINS)
        edges = s.edges[bounds]
        times = edges[1:]
        # noisy counts (L2/L3) may be negative; clamped once summed over sites
        events = np.maximum(total.value("events"), 0)
        censored = np.maximum(total.value("censored"), 0)
        removed = events + censored
        at_risk = total.value("n")[:, None] - np.cumsum(removed, axis=1) + removed
        rows: list[Row] = []
        medians = []
        present = [g for g in range(len(s.groups)) if int(total.value("n")[g]) > 0]
        for g in present:
            curve = _curve(times, at_risk[g], events[g], censored[g])
            rows += [(*row, s.groups[g]) for row in curve.itertuples(index=False)]
            medians.append((s.groups[g], _median(curve)))
        logrank = None
        if s.by is not None:
            if len(present) < 2:
                raise ModelError(f"km: the log-rank test needs two groups of {s.by!r} with data")
            logrank = _logrank(at_risk[present], events[present])
        return Final(
            KMResult(
                s.duration,
                s.event,
                s.by,
                tuple(rows),
                tuple(medians),
                logrank,
                tuple(float(t) for t in edges),
            )
        )


def _curve(
    times: FloatArray, at_risk: FloatArray, events: FloatArray, censored: FloatArray
) -> pd.DataFrame:
    """One group's curve at the times it lost someone, computed as lifelines computes it."""
    keep = (events + censored) > 0
    n, d = at_risk[keep], events[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.exp(np.cumsum(np.log(n - d) - np.log(n)))
    lower, upper = _loglog_band(n, d, survival, Z95)
    return pd.DataFrame(
        {
            "time": times[keep],
            "at_risk": n.astype(np.int64),
            "events": d.astype(np.int64),
            "censored": censored[keep].astype(np.int64),
            "survival": survival,
            "lower": lower,
            "upper": upper,
        }
    )


def _median(curve: pd.DataFrame) -> float:
    reached = curve.loc[curve["survival"] <= 0.5, "time"]
    return float(reached.iloc[0]) if len(reached) else math.inf


def _logrank(at_risk: FloatArray, events: FloatArray) -> LogRank:
    """Multivariate log-rank: observed minus expected events with the hypergeometric variance."""
    n, d = at_risk.sum(axis=0), events.sum(axis=0)
    use = (d > 0) & (n > 0)
    share = at_risk[:, use] / n[use]
    expected = (share * d[use]).sum(axis=1)
    observed = events[:, use].sum(axis=1)
    factor = np.where(n[use] > 1, d[use] * (n[use] - d[use]) / np.maximum(n[use] - 1, 1), 0.0)
    cov = np.einsum("t,gt->g", factor, share)
    variance = np.diag(cov) - np.einsum("t,gt,ht->gh", factor, share, share)
    diff = (observed - expected)[:-1]
    if not np.any(variance[:-1, :-1]):
        raise InvalidRequest("km: no events to compare between groups")
    statistic = float(diff @ np.linalg.solve(variance[:-1, :-1], diff))
    dof = len(observed) - 1
    return LogRank(statistic, dof, float(stats.chi2.sf(statistic, dof)))
