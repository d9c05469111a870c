"""Restricted mean survival time from a released Kaplan–Meier curve: ``KMResult.rmst(tau)``.

RMST(τ) = ∫₀^τ S(t) dt is the area under the step curve up to τ, so the released curve (its
steps, numbers at risk and events on the agreed time grid) is all it needs: nothing more leaves a
node. It equals lifelines' ``restricted_mean_survival_time(kmf, t=tau)`` on the pooled times
rounded to the grid. Its variance is the Greenwood-type estimate

    Var = Σ_{t_k ≤ τ} A_k² d_k / (n_k (n_k − d_k)),   A_k = ∫_{t_k}^τ S(t) dt,

as R's ``survival`` (``print(survfit, rmean=τ)``) and ``survRM2`` compute it. (lifelines'
``return_variance=True`` returns something else: the variance of min(T, τ) in the population,
not of the estimate.) Intervals and the test of a difference between two groups are normal
(Wald), the difference's variance the sum of the two (independent groups).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from causeway.algorithms.wald import alpha_of
from causeway.model.errors import InvalidRequest


@dataclass(frozen=True)
class GroupRMST:
    group: str
    rmst: float
    se: float
    lower: float
    upper: float
    # the group's last time on the curve: below tau, the curve is carried flat beyond it
    last_time: float


@dataclass(frozen=True)
class RMSTDifference:
    """``first`` minus ``second``, with its interval and two-sided p-value (normal)."""

    first: str
    second: str
    difference: float
    se: float
    lower: float
    upper: float
    z: float
    p_value: float


@dataclass(frozen=True)
class RMSTResult:
    tau: float
    level: float
    groups: tuple[GroupRMST, ...]
    difference: RMSTDifference | None
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row per group (``term`` = the group; ``estimate`` = its RMST up to ``tau``,
        ``std_error``, ``conf_low``, ``conf_high``), then the difference's row (``term``
        ``"A - B"``, with ``statistic`` (z) and ``p_value``) when there is one."""
        rows: list[dict[str, object]] = [
            {
                "term": g.group,
                "tau": self.tau,
                "estimate": g.rmst,
                "std_error": g.se,
                "statistic": math.nan,
                "p_value": math.nan,
                "conf_low": g.lower,
                "conf_high": g.upper,
            }
            for g in self.groups
        ]
        if self.difference is not None:
            d = self.difference
            rows.append(
                {
                    "term": f"{d.first} - {d.second}",
                    "tau": self.tau,
                    "estimate": d.difference,
                    "std_error": d.se,
                    "statistic": d.z,
                    "p_value": d.p_value,
                    "conf_low": d.lower,
                    "conf_high": d.upper,
                }
            )
        out = pd.DataFrame(rows)
        out.attrs["level"] = self.level
        return out

    def summary(self) -> str:
        pct = f"{100 * self.level:g}%"
        lines = [f"Restricted mean survival time up to {self.tau:g}"]
        for g in self.groups:
            lines.append(
                f"  {g.group}: {g.rmst:.6g} (se {g.se:.4g}; {pct} CI {g.lower:.6g} to "
                f"{g.upper:.6g})"
            )
        if self.difference is not None:
            d = self.difference
            lines.append(
                f"  difference {d.first} - {d.second}: {d.difference:.6g} (se {d.se:.4g}; {pct} "
                f"CI {d.lower:.6g} to {d.upper:.6g}), z = {d.z:.4g}, p = {d.p_value:.4g}"
            )
        return "\n".join(lines + [f"WARNING: {w}" for w in self.warnings])

    def __str__(self) -> str:
        return self.summary()


def group_rmst(curve: pd.DataFrame, tau: float) -> tuple[float, float]:
    """RMST up to ``tau`` and its Greenwood variance from one group's curve (columns ``time``,
    ``at_risk``, ``events``, ``survival``; one row per time it lost someone)."""
    keep = curve["time"].to_numpy(float) <= tau
    times = curve["time"].to_numpy(float)[keep]
    survival = curve["survival"].to_numpy(float)[keep]
    n = curve["at_risk"].to_numpy(float)[keep]
    d = curve["events"].to_numpy(float)[keep]
    # the step function: 1 on [0, t_1), S(t_k) on [t_k, t_{k+1}), the last step up to tau
    starts = np.concatenate([[0.0], times])
    ends = np.concatenate([times, [tau]])
    heights = np.concatenate([[1.0], survival])
    pieces = heights * (ends - starts)
    area = float(pieces.sum())
    # A_k: the area from t_k to tau, i.e. the pieces after step k
    after = np.cumsum(pieces[::-1])[::-1][1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(d > 0, after**2 * d / (n * (n - d)), 0.0)
    # n = d: the curve drops to zero, so A_k = 0 and the term vanishes
    variance = float(np.nan_to_num(terms, nan=0.0, posinf=0.0).sum())
    return area, variance


def rmst(
    curves: Sequence[tuple[str, pd.DataFrame]],
    tau: float,
    level: float,
    compare: tuple[str, str] | None,
) -> RMSTResult:
    """RMST per group and, for two groups (or the two named in ``compare``), their difference."""
    if not (isinstance(tau, int | float) and math.isfinite(tau) and tau > 0):
        raise InvalidRequest("rmst: tau must be a finite time above 0")
    z = float(stats.norm.ppf(1 - alpha_of(level) / 2))
    found: dict[str, tuple[float, float]] = {}
    groups, warnings = [], []
    for name, curve in curves:
        area, variance = group_rmst(curve, tau)
        found[name] = (area, variance)
        se = math.sqrt(variance)
        last = float(curve["time"].max()) if len(curve) else 0.0
        groups.append(GroupRMST(name, area, se, area - z * se, area + z * se, last))
        if last < tau:
            warnings.append(
                f"tau {tau:g} is beyond the last follow-up of {name} ({last:g}); its curve is "
                "carried flat from there"
            )
    names = [name for name, _ in curves]
    pair = compare if compare is not None else (tuple(names) if len(names) == 2 else None)
    difference = None
    if pair is not None:
        first, second = pair
        if first not in found or second not in found or first == second:
            raise InvalidRequest(f"rmst: compare two different groups among {', '.join(names)}")
        diff = found[first][0] - found[second][0]
        se = math.sqrt(found[first][1] + found[second][1])
        stat = diff / se if se > 0 else math.copysign(math.inf, diff) if diff else 0.0
        difference = RMSTDifference(
            first,
            second,
            diff,
            se,
            diff - z * se,
            diff + z * se,
            stat,
            float(2 * stats.norm.sf(abs(stat))),
        )
    return RMSTResult(float(tau), level, tuple(groups), difference, tuple(warnings))
