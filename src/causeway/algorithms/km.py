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
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from causeway.algorithms import design, grid
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
    Released,
    State,
)
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.errors import InvalidRequest, ModelError

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

    @property
    def median(self) -> float | pd.Series[float]:
        """Median survival time: the first time the curve reaches 0.5 (inf if it never does)."""
        if self.by is None:
            return self.medians[0][1]
        return pd.Series(dict(self.medians), name="median", dtype=float)

    def __str__(self) -> str:
        title = f"Kaplan-Meier of {self.duration} (event {self.event})"
        if self.by:
            title += f" by {self.by}"
        lines = [title, self.table.to_string(index=False, float_format=lambda v: f"{v:.6g}")]
        if self.grid:
            lines.append(
                f"times rounded up to a grid of {len(self.grid) - 1} intervals that every site's "
                "data supports"
            )
        lines.append(f"median survival: {self.median}")
        if self.logrank is not None:
            lr = self.logrank
            lines.append(
                f"log-rank: chi2 = {lr.statistic:.6g}, dof = {lr.dof}, p = {lr.p_value:.4g}"
            )
        return "\n".join(lines)


class KaplanMeier(Algorithm[KMParams, Spec, KMResult]):
    name = "km"
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
        var = d / (n * (n - d))
        var = np.cumsum(np.where(np.isinf(var), 0.0, var))
        log_s = np.log(survival)
        lower = np.exp(-np.exp(np.log(-log_s) - Z95 * np.sqrt(var) / log_s))
        upper = np.exp(-np.exp(np.log(-log_s) + Z95 * np.sqrt(var) / log_s))
    return pd.DataFrame(
        {
            "time": times[keep],
            "at_risk": n.astype(np.int64),
            "events": d.astype(np.int64),
            "censored": censored[keep].astype(np.int64),
            "survival": survival,
            "lower": np.nan_to_num(lower, nan=1.0),
            "upper": np.nan_to_num(upper, nan=1.0),
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
