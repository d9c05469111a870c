"""``anova``: one-way analysis of variance of a numeric column across the groups of another.

Each site returns, per level of ``by``, n and the sums of (x - c) and (x - c)² about the column's
shared centre c, exactly as ``ttest`` does (and a second round about each group's pooled mean
when a group's mean lies far from the centre: :mod:`causeway.algorithms.centring`). The group
means, SDs, the between- and within-group sums of squares, F and its p-value follow exactly, as
scipy's ``f_oneway`` and statsmodels' ``anova_lm`` on the stacked rows. Table 1 computes its
ANOVA row with the same :func:`one_way`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from causeway.algorithms import centring, design
from causeway.algorithms import params as checks
from causeway.algorithms.base import (
    Algorithm,
    Cache,
    Checked,
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
    Summands,
)
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Column, Dictionary
from causeway.model.errors import ModelError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AnovaParams:
    column: Annotated[str, Help("The numeric column to compare.")]
    by: Annotated[str, Help("A categorical or boolean column whose levels are the groups.")]

    def checked(self, dictionary: Dictionary) -> GroupSpec:
        column = checks.numeric("anova", checks.lookup(self.column, dictionary))
        by = checks.lookup(self.by, dictionary)
        return GroupSpec(column, by.name, checks.levels("anova", by))


@dataclass(frozen=True)
class GroupSpec:
    column: Column
    by: str
    levels: tuple[str, ...]


@dataclass(frozen=True)
class OneWay:
    """The one-way ANOVA table's numbers: sums of squares, degrees of freedom, F and p."""

    ss_between: float
    ss_within: float
    df_between: int
    df_within: float
    f: float
    p_value: float


def one_way(n: FloatArray, s1: FloatArray, s2: FloatArray, centres: FloatArray) -> OneWay | None:
    """One-way ANOVA from each group's n and sums of (x - c) and (x - c)² about its centre c
    (None with fewer than two groups or no spread within them). The groups given must hold
    values."""
    count = np.asarray(n, dtype=np.float64)
    # each mean about one group's centre: the centres lie close together (within a factor of
    # two far from zero), so their differences are exact and the means' digits are kept
    means = (centres - centres[0]) + s1 / count
    within = float(np.maximum(s2 - s1 * s1 / count, 0.0).sum())
    grand = float((count * means).sum() / count.sum())
    between = float((count * (means - grand) ** 2).sum())
    df1, df2 = len(count) - 1, float(count.sum()) - len(count)
    if df1 < 1 or df2 <= 0 or within <= 0:
        return None
    f = (between / df1) / (within / df2)
    return OneWay(between, within, df1, df2, f, float(stats.f.sf(f, df1, df2)))


def group_sums(view: DataView, spec: GroupSpec, state: State) -> LocalResult:
    """Per level of ``by``: n and the sums of (x - c) and (x - c)² about the round's centres
    (the column's dictionary centre in round 0, each group's pooled mean in round 1)."""
    column, by, levels = spec.column, spec.by, spec.levels
    frame = design.complete_frame(view, [column.name, by])
    group = design.codes(frame[by])
    raw = frame[column.name].to_numpy(dtype=np.float64)
    k = len(levels)
    centres = centring.centres(state, "centres", [column.center] * k)
    x = raw - centres[group] if raw.size else raw
    summands = tuple(Summands.of(raw[group == g]) for g in range(k))
    return LocalResult(
        {
            "n": Part(PartKind.COUNT, np.bincount(group, minlength=k)),
            "sum": Part(PartKind.SUM, np.bincount(group, weights=x, minlength=k)),
            "sum_sq": Part(PartKind.MOMENT, np.bincount(group, weights=x * x, minlength=k)),
        },
        evidence=Evidence(summands={"sum": summands, "sum_sq": summands}),
    )


GROUP_SUMS_PROFILE = DisclosureProfile(
    parts={"n": PartKind.COUNT, "sum": PartKind.SUM, "sum_sq": PartKind.MOMENT},
    guards={"sum": "n", "sum_sq": "n"},
    description=(
        "per level of the grouping column: n and the sums of (x-c) and (x-c)^2 (a second "
        "round about each group's pooled mean when it is far from the centre)"
    ),
)


@dataclass(frozen=True)
class AnovaResult(Released):
    """One-way ANOVA over the groups of ``by`` that hold values (``levels``, in the dictionary's
    order): per group n, mean and SD, and the F test of equal means."""

    column: str
    by: str
    levels: tuple[str, ...]
    n: tuple[int, ...]
    means: tuple[float, ...]
    sds: tuple[float | None, ...]  # None for a group of one value
    ss_between: float
    ss_within: float
    df_between: int
    df_within: float
    f: float
    p_value: float

    def to_frame(self) -> pd.DataFrame:
        """The ANOVA table, tidy (as broom's ``tidy(aov)``): one row per ``term`` (``by``, then
        ``Residual``) with ``statistic`` (F), ``df``, ``sum_sq``, ``mean_sq`` and ``p_value``
        (missing on the residual row); ``groups()`` has each group's n, mean and SD."""
        df1, df2 = float(self.df_between), self.df_within
        return pd.DataFrame(
            {
                "term": [self.by, "Residual"],
                "statistic": [self.f, math.nan],
                "df": [df1, df2],
                "sum_sq": [self.ss_between, self.ss_within],
                "mean_sq": [self.ss_between / df1, self.ss_within / df2],
                "p_value": [self.p_value, math.nan],
            }
        )

    def groups(self) -> pd.DataFrame:
        """One row per group: ``group``, ``n``, ``mean``, ``sd`` (NaN for a group of one)."""
        return pd.DataFrame(
            {
                "group": list(self.levels),
                "n": list(self.n),
                "mean": self.means,
                "sd": [math.nan if s is None else s for s in self.sds],
            }
        )

    def heading(self) -> str:
        return f"One-way ANOVA of {self.column} by {self.by}"

    def conventions(self) -> tuple[str, ...]:
        return (
            f"statistic = F on {self.df_between} and {self.df_within:g} df; p from the F "
            "distribution (equal means across the groups with values)",
            *self._missing_note(),
        )

    def summary(self) -> str:
        """Heading, the groups' n, mean and SD, the ANOVA table and the conventions."""
        from causeway.algorithms.tidy import frame_text

        parts = [self.heading(), frame_text(self.groups()), frame_text(self.to_frame())]
        return "\n".join([*parts, *self.conventions()])

    def __str__(self) -> str:
        return self.summary()


P = TypeVar("P", bound="Checked[Any]")
R = TypeVar("R", bound=Released)


class GroupSums(Algorithm[P, GroupSpec, R]):
    """What the t-test and the one-way ANOVA share: per group of ``by``, n and the sums about
    a centre, in one round, or two when the first would lose digits (sums again about each
    group's pooled mean)."""

    allows_missing_sites = True
    max_rounds = 2
    profile = GROUP_SUMS_PROFILE

    def check_state(self, spec: GroupSpec, state: State, dictionary: Dictionary) -> None:
        centring.centres(state, "centres", [spec.column.center] * len(spec.levels))

    def partitions(
        self, spec: GroupSpec, state: State, dictionary: Dictionary
    ) -> tuple[Partition, ...]:
        return (Partition((spec.by,)),)

    def local(self, view: DataView, spec: GroupSpec, state: State, cache: Cache) -> LocalResult:
        return group_sums(view, spec, state)

    def sums(
        self, total: Aggregate, spec: GroupSpec, state: State
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray] | NextRound:
        """n, the sums and their centres per group; or the round that sums again about each
        group's pooled mean where these would lose digits (never under noise)."""
        checks.refuse_if_suppressed(total, ["n", "sum", "sum_sq"], self.name)
        n, s1, s2 = total.value("n"), total.value("sum"), total.value("sum_sq")
        centres = centring.centres(state, "centres", [spec.column.center] * len(spec.levels))
        first = "centres" not in state and not state.get("private")
        if first and centring.needs_refinement(n, s1, s2).any():
            return NextRound(
                {"centres": centring.means(centres, n, s1).tolist()},
                note="sums again about each group's pooled mean, for precision",
            )
        return n, s1, s2, centres


class Anova(GroupSums[AnovaParams, AnovaResult]):
    name = "anova"
    conventions = (
        "Equals scipy's `f_oneway` and statsmodels' `anova_lm(ols('y ~ C(g)'))` on the pooled "
        "rows (F, both degrees of freedom, both sums of squares, p). Groups of `by` without "
        "values are left out; `to_frame()` has per group n, mean and SD (NaN for a group of "
        "one). Exact at any offset from the dictionary's centre: a second round sums about each "
        "group's pooled mean when the first round's sums would lose digits. Table 1's ANOVA row "
        "is the same computation."
    )
    parameters = AnovaParams
    result_type = AnovaResult

    def combine(
        self, total: Aggregate, spec: GroupSpec, state: State, dictionary: Dictionary
    ) -> Outcome:
        found = self.sums(total, spec, state)
        if isinstance(found, NextRound):
            return found
        n, s1, s2, centres = found
        seen = np.flatnonzero(n > 0)
        if len(seen) < 2:
            raise ModelError(f"anova: {spec.by!r} needs at least two groups with values")
        count = n[seen].astype(np.float64)
        test = one_way(count, s1[seen], s2[seen], centres[seen])
        if test is None:
            raise ModelError("anova: too few values within the groups (or none vary)")
        means = centres[seen] + s1[seen] / count
        spread = np.maximum(s2[seen] - s1[seen] ** 2 / count, 0.0)
        return Final(
            AnovaResult(
                column=spec.column.name,
                by=spec.by,
                levels=tuple(spec.levels[i] for i in seen),
                n=tuple(int(v) for v in n[seen]),
                means=tuple(float(m) for m in means),
                sds=tuple(
                    math.sqrt(float(v) / (m - 1)) if m > 1 else None
                    for v, m in zip(spread, count, strict=True)
                ),
                ss_between=test.ss_between,
                ss_within=test.ss_within,
                df_between=test.df_between,
                df_within=test.df_within,
                f=test.f,
                p_value=test.p_value,
            )
        )
