"""``km``: Kaplan–Meier curves with exponential-Greenwood intervals, medians and the log-rank test.

The exact pooled curve steps at the union of every site's times, so the task takes two rounds:
round 0 returns each site's distinct times (declared meta: a coarse value, but a disclosure the
steward must accept for this algorithm); round 1 returns, at the union of those times, the events,
censorings and numbers at risk per group (event tables, summed over sites). Everything after that
is arithmetic on the pooled table, done exactly as lifelines does it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from causeway.algorithms import design
from causeway.algorithms import params as checks
from causeway.algorithms.base import (
    Algorithm,
    Cache,
    DisclosureProfile,
    Final,
    LocalResult,
    NextRound,
    Outcome,
    Params,
    State,
)
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.errors import InvalidRequest, ModelError

FloatArray = npt.NDArray[np.float64]
Z95 = float(stats.norm.ppf(0.975))
_COLUMNS = ["time", "at_risk", "events", "censored", "survival", "lower", "upper"]


@dataclass(frozen=True)
class Spec:
    duration: str
    event: str
    by: str | None
    groups: tuple[str, ...]


def spec(p: Params, dictionary: Dictionary) -> Spec:
    checks.only("km", p, ("duration", "event", "by"))
    duration = checks.numeric("km", checks.required("km", p, "duration", dictionary))
    event = checks.required("km", p, "event", dictionary)
    by = checks.column("km", p, "by", dictionary, required=False)
    groups = ("all",) if by is None else checks.levels("km", by)
    return Spec(duration.name, event.name, None if by is None else by.name, groups)


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
class KMResult:
    """``table`` holds one row per time at which a group lost someone (event or censoring)."""

    duration: str
    event: str
    by: str | None
    rows: tuple[tuple[Any, ...], ...]
    medians: tuple[tuple[str, float], ...]
    logrank: LogRank | None

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

    def to_json(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "event": self.event,
            "by": self.by,
            "rows": [list(row) for row in self.rows],
            "medians": [[g, _json_float(m)] for g, m in self.medians],
            "logrank": None if self.logrank is None else vars(self.logrank),
        }

    def __str__(self) -> str:
        title = f"Kaplan-Meier of {self.duration} (event {self.event})"
        if self.by:
            title += f" by {self.by}"
        lines = [title, self.table.to_string(index=False, float_format=lambda v: f"{v:.6g}")]
        lines.append(f"median survival: {self.median}")
        if self.logrank is not None:
            lr = self.logrank
            lines.append(
                f"log-rank: chi2 = {lr.statistic:.6g}, dof = {lr.dof}, p = {lr.p_value:.4g}"
            )
        return "\n".join(lines)


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else "inf"


class KaplanMeier(Algorithm):
    name = "km"
    max_rounds = 2
    profile = DisclosureProfile(
        parts={
            "n": PartKind.COUNT,
            "events": PartKind.EVENT_TABLE,
            "censored": PartKind.EVENT_TABLE,
            "at_risk": PartKind.EVENT_TABLE,
        },
        meta=frozenset({"times"}),
        guards={"events": "n", "censored": "n", "at_risk": "n"},
        description=(
            "round 0: the site's distinct follow-up times (meta 'times', disclosed to the hub) and "
            "n per group; round 1: events, censorings and numbers at risk per group at the union "
            "of all sites' times"
        ),
    )

    def check(self, params: Params, dictionary: Dictionary) -> None:
        spec(params, dictionary)

    def initial_state(self, params: Params, dictionary: Dictionary) -> State:
        return {"round": 0}

    def local(self, view: DataView, params: Params, state: State, cache: Cache) -> LocalResult:
        s = spec(params, view.dictionary)
        frame = _site(view, s, cache)
        groups = frame["group"].to_numpy()
        n = np.bincount(groups, minlength=len(s.groups)).astype(np.int64)
        parts = {"n": Part(PartKind.COUNT, n)}
        if state.get("times") is None:
            distinct = sorted({float(t) for t in frame["time"]})
            return LocalResult(parts, {"times": distinct})
        times = np.asarray(state["times"], dtype=np.float64)
        index = np.searchsorted(times, frame["time"].to_numpy())
        if len(index) and (index.max() >= len(times) or not np.all(times[index] == frame["time"])):
            raise ModelError("km: the hub's time grid does not hold this site's times")
        shape = (len(s.groups), len(times))
        cell = groups * len(times) + index
        event = frame["event"].to_numpy()
        events = np.bincount(cell, weights=event, minlength=shape[0] * shape[1]).reshape(shape)
        removed = np.bincount(cell, minlength=shape[0] * shape[1]).reshape(shape)
        at_risk = removed[:, ::-1].cumsum(axis=1)[:, ::-1]
        parts["events"] = Part(PartKind.EVENT_TABLE, events)
        parts["censored"] = Part(PartKind.EVENT_TABLE, removed - events)
        parts["at_risk"] = Part(PartKind.EVENT_TABLE, at_risk)
        return LocalResult(parts)

    def combine(
        self, total: Aggregate, params: Params, state: State, dictionary: Dictionary
    ) -> Outcome:
        s = spec(params, dictionary)
        checks.refuse_if_suppressed(total, ["n"], "km")
        if state.get("times") is None:
            union = sorted({float(t) for meta in total.metas for t in meta.get("times", [])})
            if not union:
                raise ModelError("km: no complete rows at any site")
            return NextRound({"round": 1, "times": union}, note=f"{len(union)} distinct times")
        times = np.asarray(state["times"], dtype=np.float64)
        events, censored = total.value("events"), total.value("censored")
        at_risk = total.value("at_risk")
        rows: list[tuple[Any, ...]] = []
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
        return Final(KMResult(s.duration, s.event, s.by, tuple(rows), tuple(medians), logrank))

    def result_from_json(self, data: Mapping[str, Any]) -> KMResult:
        lr = data.get("logrank")
        return KMResult(
            duration=str(data["duration"]),
            event=str(data["event"]),
            by=data.get("by"),
            rows=tuple(tuple(row) for row in data["rows"]),
            medians=tuple((str(g), float(m)) for g, m in data["medians"]),
            logrank=None
            if lr is None
            else LogRank(float(lr["statistic"]), int(lr["dof"]), float(lr["p_value"])),
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
