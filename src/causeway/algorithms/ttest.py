"""``ttest``: two-sample t-tests (Welch and pooled variance) of a numeric column between two groups.

Each site returns, per level of ``by``, n and the sums of (x - c) and (x - c)² about the column's
shared centre c (and, when a group's mean lies far from it, again in a second round about each
group's pooled mean: :mod:`causeway.algorithms.centring`); the pooled means and variances follow
exactly, as scipy's ``ttest_ind`` on the stacked rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import pandas as pd
from scipy import stats

from causeway.algorithms import params as checks
from causeway.algorithms.anova import GroupSpec, GroupSums
from causeway.algorithms.base import (
    Final,
    Help,
    NextRound,
    Outcome,
    Released,
    State,
)
from causeway.model.contribution import Aggregate
from causeway.model.dictionary import Dictionary
from causeway.model.errors import ModelError


@dataclass(frozen=True)
class TTestParams:
    column: Annotated[str, Help("The numeric column to compare.")]
    by: Annotated[str, Help("A column with two groups.")]

    def checked(self, dictionary: Dictionary) -> TTestSpec:
        column = checks.numeric("ttest", checks.lookup(self.column, dictionary))
        by = checks.lookup(self.by, dictionary)
        return TTestSpec(column, by.name, checks.levels("ttest", by))


TTestSpec = GroupSpec


@dataclass(frozen=True)
class TTest:
    """One test of mean[0] - mean[1] = 0, with the 95% interval of the difference."""

    t: float
    df: float
    p_value: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class TTestResult(Released):
    column: str
    by: str
    levels: tuple[str, str]
    n: tuple[int, int]
    means: tuple[float, float]
    variances: tuple[float, float]
    welch: TTest
    pooled: TTest

    @property
    def mean_difference(self) -> float:
        return self.means[0] - self.means[1]

    def standard_errors(self) -> tuple[float, float]:
        """The standard error of the difference: Welch's, then the pooled-variance one."""
        (na, nb), (va, vb) = self.n, self.variances
        pooled = ((na - 1) * va + (nb - 1) * vb) / (na + nb - 2)
        return math.sqrt(va / na + vb / nb), math.sqrt(pooled * (1 / na + 1 / nb))

    def to_frame(self) -> pd.DataFrame:
        """One row per test (``method``: Welch, pooled) of ``term`` = mean(a) - mean(b):
        ``estimate``, ``std_error``, ``statistic`` (t), ``df``, ``p_value``, ``conf_low`` and
        ``conf_high`` (95%), with each group's ``n`` and mean (``estimate1``, ``estimate2``, as
        broom's)."""
        a, b = self.levels
        tests = (("Welch", self.welch), ("pooled", self.pooled))
        return pd.DataFrame(
            {
                "term": f"mean({a}) - mean({b})",
                "method": [name for name, _ in tests],
                "estimate": self.mean_difference,
                "std_error": list(self.standard_errors()),
                "statistic": [t.t for _, t in tests],
                "df": [t.df for _, t in tests],
                "p_value": [t.p_value for _, t in tests],
                "conf_low": [t.ci_lower for _, t in tests],
                "conf_high": [t.ci_upper for _, t in tests],
                "estimate1": self.means[0],
                "estimate2": self.means[1],
                "n1": self.n[0],
                "n2": self.n[1],
            }
        )

    def heading(self) -> str:
        return str(self).splitlines()[0]

    def conventions(self) -> tuple[str, ...]:
        return (
            f"{self.column} by {self.by}: two-sided tests of mean({self.levels[0]}) - "
            f"mean({self.levels[1]}) = 0; statistic = t; 95% intervals from t with df; Welch: "
            "unequal variances (Satterthwaite df), pooled: equal variances",
            *self._missing_note(),
        )

    def __str__(self) -> str:
        a, b = self.levels
        lines = [
            f"{self.column} by {self.by}: {a} (n={self.n[0]}, mean={self.means[0]:.6g}) vs "
            f"{b} (n={self.n[1]}, mean={self.means[1]:.6g}); difference {self.mean_difference:.6g}"
        ]
        for name, test in (("Welch", self.welch), ("pooled", self.pooled)):
            lines.append(
                f"  {name}: t = {test.t:.6g}, df = {test.df:.6g}, p = {test.p_value:.4g}, "
                f"95% CI [{test.ci_lower:.6g}, {test.ci_upper:.6g}]"
            )
        return "\n".join(lines)


class TwoSampleTTest(GroupSums[TTestParams, TTestResult]):
    name = "ttest"
    parameters = TTestParams
    result_type = TTestResult

    def combine(
        self, total: Aggregate, spec: TTestSpec, state: State, dictionary: Dictionary
    ) -> Outcome:
        column, by, levels = spec.column, spec.by, spec.levels
        checks.refuse_if_suppressed(total, ["n", "sum", "sum_sq"], "ttest")
        counts = total.value("n")
        seen = [i for i in range(len(levels)) if counts[i] > 0]
        if len(seen) != 2:
            found = ", ".join(levels[i] for i in seen) or "none"
            raise ModelError(f"ttest: {by!r} must have exactly two levels with data; found {found}")
        if min(counts[i] for i in seen) < 2:
            raise ModelError("ttest: each group needs at least two values")
        a, b = seen
        sums = self.sums(total, spec, state)
        if isinstance(sums, NextRound):
            return sums
        n, s1, s2, centres = sums
        mean = [centres[i] + s1[i] / n[i] for i in seen]
        var = [max((s2[i] - s1[i] ** 2 / n[i]) / (n[i] - 1), 0.0) for i in seen]
        na, nb = int(n[a]), int(n[b])
        diff = mean[0] - mean[1]
        va, vb = var[0] / na, var[1] / nb
        welch_df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
        pooled_var = ((na - 1) * var[0] + (nb - 1) * var[1]) / (na + nb - 2)
        pooled_se = math.sqrt(pooled_var * (1 / na + 1 / nb))
        return Final(
            TTestResult(
                column=column.name,
                by=by,
                levels=(levels[a], levels[b]),
                n=(na, nb),
                means=(float(mean[0]), float(mean[1])),
                variances=(float(var[0]), float(var[1])),
                welch=_test(diff, math.sqrt(va + vb), welch_df),
                pooled=_test(diff, pooled_se, na + nb - 2),
            )
        )


def _test(diff: float, se: float, df: float) -> TTest:
    t = diff / se
    q = float(stats.t.ppf(0.975, df))
    return TTest(
        float(t), float(df), float(2 * stats.t.sf(abs(t), df)), diff - q * se, diff + q * se
    )
