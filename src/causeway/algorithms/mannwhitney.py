"""``mannwhitney``: the Mann–Whitney U test of a numeric column between two groups, from histograms.

Ranks of single values would put patients in the released tables, so the test is computed from
each group's histogram on a grid every site's data supports (:mod:`causeway.algorithms.grid`,
as ``quantiles``): round 0 releases, per group and per node of a binary tree over ``bins`` fine
bins of the dictionary's range, only whether the site's count passes its minimum cell count;
round 1 each group's counts in the intervals of the agreed grid (zero or at least the minimum at
every site, so the gate has nothing to suppress).

Values in one interval are treated as tied at the interval's midrank, so with a_i and b_i values
of the two groups in interval i and B_i of the second group below it, U = Σ a_i (B_i + b_i / 2),
with scipy's normal approximation (tie correction from the intervals' counts, continuity
correction by default). The released histograms bound the U of the unbinned data: whatever the
values inside each interval, U_min = Σ a_i B_i <= U <= U_min + Σ a_i b_i = U_max, and the
two-sided p-value lies in [p_min, p_max] (the extreme |U - n₁n₂/2| over that range, with the
binned tie correction, which can only overstate ties, and with none). Where each interval holds
a single distinct value (fine bins over integer data), U and p equal scipy's
``mannwhitneyu(x, y, method="asymptotic")`` exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
    Partition,
    Released,
    State,
)
from causeway.algorithms.quantiles import agreed_bins, bin_edges
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Column, Dictionary
from causeway.model.errors import DisclosureRefused, InvalidRequest, ModelError

FloatArray = npt.NDArray[np.float64]
NAME = "mannwhitney"


def power_of_two_bins(algorithm: str, bins: int, high: int) -> int:
    """A bins parameter: a power of two, so that every grid over a column's range nests in one
    dyadic tree (intervals agreed in different queries never overlap partly)."""
    checks.whole(algorithm, "bins", bins, 2, high)
    if bins & (bins - 1):
        raise InvalidRequest(f"{algorithm}: bins must be a power of two (such as 1024), not {bins}")
    return bins


def bounded(algorithm: str, column: Column) -> Column:
    checks.numeric(algorithm, column)
    if column.minimum is None or column.maximum is None:
        raise InvalidRequest(
            f"{algorithm}: column {column.name!r} has no bounds in the dictionary to bin over"
        )
    return column


@dataclass(frozen=True)
class MannWhitneyParams:
    column: Annotated[str, Help("A numeric column with bounds in the dictionary.")]
    by: Annotated[str, Help("A column with two groups.")]
    bins: Annotated[
        int, Help("Finest histogram bins (a power of two; sparse ones are merged).")
    ] = 1024
    continuity: Annotated[bool, Help("Continuity correction of the normal approximation.")] = True

    def checked(self, dictionary: Dictionary) -> MannWhitneySpec:
        column = bounded(NAME, checks.lookup(self.column, dictionary))
        by = checks.lookup(self.by, dictionary)
        bins = power_of_two_bins(NAME, self.bins, 2**14)
        return MannWhitneySpec(column, by.name, checks.levels(NAME, by), bins, self.continuity)


@dataclass(frozen=True)
class MannWhitneySpec:
    column: Column
    by: str
    levels: tuple[str, ...]
    bins: int
    continuity: bool


@dataclass(frozen=True)
class MannWhitneyResult(Released):
    """U of the first group (``levels[0]``, scipy's ``statistic``), its two-sided p-value by
    the normal approximation, and the bounds every unbinned dataset with these histograms
    satisfies: ``u_min <= U <= u_max`` and ``p_min <= p <= p_max``. U equals the unbinned U
    when each interval holds one distinct value, which the histograms cannot show, so the
    bounds never shrink to a point. ``auc`` = U / (n₁ n₂), the probability that a value of the first group exceeds
    one of the second (ties half)."""

    column: str
    by: str
    levels: tuple[str, str]
    n: tuple[int, int]
    u: float
    p_value: float
    u_min: float
    u_max: float
    p_min: float
    p_max: float
    continuity: bool
    intervals: int
    # the widest interval of the released grid (the histograms' resolution)
    resolution: float
    # the released grid's edges and each group's pooled counts in its intervals: the bounds
    # follow from these alone
    grid: tuple[float, ...] = ()
    counts: tuple[tuple[int, ...], ...] = ()

    @property
    def histogram(self) -> pd.DataFrame:
        """The pooled histograms: one row per interval of the grid (``lower``, ``upper``) with
        each group's count."""
        frame = pd.DataFrame({"lower": self.grid[:-1], "upper": self.grid[1:]})
        for level, row in zip(self.levels, self.counts, strict=True):
            frame[level] = list(row)
        return frame

    @property
    def auc(self) -> float:
        return self.u / (self.n[0] * self.n[1])

    def to_frame(self) -> pd.DataFrame:
        """One row: ``term`` (column: first group vs second), ``estimate`` (U / (n1 n2), the
        AUC), ``statistic`` (U of the first group) with ``u_min``/``u_max``, ``p_value`` with
        ``p_min``/``p_max``, ``n1``, ``n2``."""
        a, b = self.levels
        return pd.DataFrame(
            [
                {
                    "term": f"{self.column}: {a} vs {b}",
                    "estimate": self.auc,
                    "statistic": self.u,
                    "u_min": self.u_min,
                    "u_max": self.u_max,
                    "p_value": self.p_value,
                    "p_min": self.p_min,
                    "p_max": self.p_max,
                    "n1": self.n[0],
                    "n2": self.n[1],
                }
            ]
        )

    def heading(self) -> str:
        a, b = self.levels
        return (
            f"Mann-Whitney U of {self.column} by {self.by}: {a} (n={self.n[0]}) vs {b} "
            f"(n={self.n[1]})"
        )

    def conventions(self) -> tuple[str, ...]:
        return (
            f"statistic = U of {self.levels[0]}; two-sided p from the normal approximation with "
            f"tie{' and continuity' if self.continuity else ''} correction; estimate = U / "
            "(n1 n2)",
            f"from histograms on a grid of {self.intervals} intervals (the widest "
            f"{self.resolution:.4g}): values in one interval count as tied; the unbinned data's "
            "U and p lie in [u_min, u_max] and [p_min, p_max]",
            *self._missing_note(),
        )

    def summary(self) -> str:
        return (
            f"{self.heading()}\nU = {self.u:.6g} (the data's U lies in [{self.u_min:.6g}, "
            f"{self.u_max:.6g}]), p = {self.p_value:.4g} (in [{self.p_min:.4g}, "
            f"{self.p_max:.4g}]), AUC = {self.auc:.4f}\n" + "\n".join(self.conventions())
        )

    def __str__(self) -> str:
        return self.summary()


def two_sided_p(u: float, n1: int, n2: int, sigma: float, continuity: bool) -> float:
    """scipy's asymptotic two-sided p-value for U with standard deviation ``sigma``."""
    mu = n1 * n2 / 2
    numerator = abs(u - mu) - (0.5 if continuity else 0.0)
    if sigma <= 0:
        return 1.0 if numerator <= 0 else 0.0
    return float(min(1.0, 2 * stats.norm.sf(numerator / sigma)))


def sigma_with_ties(n1: int, n2: int, ties: FloatArray) -> float:
    n = n1 + n2
    term = float((ties**3 - ties).sum())
    return math.sqrt(max(n1 * n2 / 12 * ((n + 1) - term / (n * (n - 1))), 0.0))


def u_from_bins(
    a: FloatArray, b: FloatArray, continuity: bool
) -> tuple[float, float, float, float, float, float]:
    """U, p, U_min, U_max, p_min, p_max from the two groups' counts per interval."""
    n1, n2 = int(a.sum()), int(b.sum())
    below = np.cumsum(b) - b
    u_min = float((a * below).sum())
    u_max = u_min + float((a * b).sum())
    u = (u_min + u_max) / 2
    binned = sigma_with_ties(n1, n2, a + b)
    untied = math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    mu = n1 * n2 / 2
    nearest = min(max(mu, u_min), u_max)  # the U in range closest to mu
    farthest = u_min if abs(u_min - mu) >= abs(u_max - mu) else u_max
    return (
        u,
        two_sided_p(u, n1, n2, binned, continuity),
        u_min,
        u_max,
        two_sided_p(farthest, n1, n2, binned, continuity),
        two_sided_p(nearest, n1, n2, untied, continuity),
    )


class MannWhitney(Algorithm[MannWhitneyParams, MannWhitneySpec, MannWhitneyResult]):
    name = NAME
    conventions = (
        "U is the first group's (levels in the dictionary's order), as scipy's "
        "`mannwhitneyu(x, y, method='asymptotic')`; the p-value is two-sided, normal, with tie "
        "correction and, by default, continuity correction. Values within one interval of the "
        "agreed grid count as tied (at the interval's midrank). The result states the bounds "
        "that hold for the unbinned data whatever the values inside the intervals: "
        "`u_min <= U <= u_max` and `p_min <= p <= p_max`; with bins fine enough that each "
        "interval holds one distinct value (integer data over a narrow range) U and p equal "
        "scipy's. Sparse data at a small site merge intervals (a minimum cell count at every "
        "site and group), and the bounds widen accordingly."
    )
    allows_missing_sites = True
    parameters = MannWhitneyParams
    result_type = MannWhitneyResult
    max_rounds = 2
    profile = DisclosureProfile(
        parts={"n": PartKind.COUNT, "passes": PartKind.COUNT, "histogram": PartKind.COUNT},
        # n beside a histogram with a suppressed interval would give its count by subtraction
        guards={"n": "histogram"},
        whole=frozenset({"histogram"}),
        indicators=frozenset({"passes"}),
        description=(
            "per group: the count of complete rows; round 0: per group and per node of a tree "
            "over the fine bins, whether the site's count there passes its minimum (pass/fail "
            "only); round 1: per group, the counts in the intervals of the agreed grid"
        ),
    )

    def initial_state(self, spec: MannWhitneySpec, dictionary: Dictionary) -> State:
        return {"round": 0}

    def partitions(
        self, spec: MannWhitneySpec, state: State, dictionary: Dictionary
    ) -> tuple[Partition, ...]:
        found = agreed_bins(spec.column, spec.bins, state)
        # the groups (as their levels define them: which values are missing is not a set of
        # its own: see docs/privacy.md), and their counts per interval of the agreed grid
        groups = Partition((spec.by,))
        return (groups, Partition((spec.by,), found)) if found else (groups,)

    def local(
        self, view: DataView, spec: MannWhitneySpec, state: State, cache: Cache
    ) -> LocalResult:
        frame = design.complete_frame(view, [spec.column.name, spec.by])
        group = design.codes(frame[spec.by])
        k, bins = len(spec.levels), spec.bins
        x = frame[spec.column.name].to_numpy(dtype=np.float64)
        cell = group * bins + grid.fine_index(x, bin_edges(spec.column, bins))
        fine = np.bincount(cell, minlength=k * bins).reshape(k, bins).astype(np.int64)
        parts = {"n": Part(PartKind.COUNT, np.bincount(group, minlength=k))}
        parts.update(grid.agreed_parts(fine, bins, state))  # a row lies in one group's tree
        return LocalResult(parts, evidence=Evidence(sensitivity=grid.sensitivities(bins)))

    def combine(
        self, total: Aggregate, spec: MannWhitneySpec, state: State, dictionary: Dictionary
    ) -> Outcome:
        checks.refuse_if_suppressed(total, ["n"], NAME)
        n = total.value("n")
        seen = [g for g in range(len(spec.levels)) if n[g] > 0]
        if len(seen) != 2:
            found = ", ".join(spec.levels[g] for g in seen) or "none"
            raise ModelError(f"{NAME}: {spec.by!r} must have exactly two levels with data; {found}")
        if state.get("grid") is None:
            passes = (total.value("passes") == total.sites).all(axis=0)
            bounds = grid.cut(passes, spec.bins)
            return NextRound(
                {"round": 1, "grid": bounds}, note=f"a grid of {len(bounds) - 1} intervals"
            )
        if total.suppressed("histogram").any():
            raise DisclosureRefused(
                f"{NAME}: a site's count in an interval of the agreed grid is below its minimum "
                "cell count; nothing can be released"
            )
        bounds = grid.check_boundaries(state["grid"], spec.bins)
        edges = bin_edges(spec.column, spec.bins)[bounds]
        # noisy counts (L2/L3) may be negative; clamped once summed over sites
        counts = np.maximum(total.value("histogram").astype(np.float64), 0.0)
        a, b = counts[seen[0]], counts[seen[1]]
        if a.sum() < 1 or b.sum() < 1:
            raise ModelError(f"{NAME}: a group has no values")
        u, p, u_min, u_max, p_min, p_max = u_from_bins(a, b, spec.continuity)
        return Final(
            MannWhitneyResult(
                column=spec.column.name,
                by=spec.by,
                levels=(spec.levels[seen[0]], spec.levels[seen[1]]),
                n=(int(a.sum()), int(b.sum())),
                u=u,
                p_value=p,
                u_min=u_min,
                u_max=u_max,
                p_min=p_min,
                p_max=p_max,
                continuity=spec.continuity,
                intervals=len(bounds) - 1,
                resolution=float(np.diff(edges).max()),
                grid=tuple(float(e) for e in edges),
                counts=(tuple(int(v) for v in a), tuple(int(v) for v in b)),
            )
        )
