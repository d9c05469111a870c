"""``summary``: n, mean, variance and sd of a numeric column, or counts per level of a categorical one.

Numeric moments are sums of (x - c) and (x - c)² about a centre c that every site shares: the
midpoint of the dictionary's bounds in round 0 and, when the pooled mean lies so far from it that
the variance would lose digits, the pooled mean in round 1 (:mod:`causeway.algorithms.centring`),
so the variance is exact at any offset. With differential privacy there is one round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from causeway.algorithms import centring
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
from causeway.algorithms.tidy import frame_text
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import InvalidRequest

BOOLEAN_LEVELS = ("False", "True")


@dataclass(frozen=True)
class SummaryParams:
    column: Annotated[str, Help("A numeric, categorical or boolean column.")]

    def checked(self, dictionary: Dictionary) -> Column:
        column = dictionary.get(self.column)
        if column is None:
            raise InvalidRequest(
                f"unknown column {self.column!r}; valid columns are: {', '.join(dictionary.names)}"
            )
        if column.type in (ColumnType.TEXT, ColumnType.DATE):
            raise InvalidRequest(
                f"column {self.column!r} is {column.type.value}: it cannot be summarised"
            )
        return column


@dataclass(frozen=True)
class NumericSummary(Released):
    """Pooled n, mean, variance (n - 1 denominator) and standard deviation; None if suppressed."""

    kind: ClassVar[str] = "numeric"
    column: str
    n: int | None
    mean: float | None
    variance: float | None

    @property
    def sd(self) -> float | None:
        return None if self.variance is None else math.sqrt(self.variance)

    @property
    def suppressed(self) -> bool:
        return self.n is None or self.mean is None

    def to_pandas(self) -> pd.Series[Any]:
        return pd.Series(
            {"n": self.n, "mean": self.mean, "variance": self.variance, "sd": self.sd},
            name=self.column,
        )

    def to_frame(self) -> pd.DataFrame:
        """One row: ``variable``, ``n``, ``estimate`` (the mean), its ``std_error`` (sd / √n)
        and 95% ``conf_low``, ``conf_high`` (t with n - 1 df), ``variance`` and ``sd``; NaN
        where withheld."""
        mean, sd, n = self.mean, self.sd, self.n
        se = low = high = math.nan
        if mean is not None and sd is not None and n is not None and n > 1:
            se = sd / math.sqrt(n)
            half = float(stats.t.ppf(0.975, n - 1)) * se
            low, high = mean - half, mean + half
        return pd.DataFrame(
            {
                "variable": [self.column],
                "n": pd.array([n], dtype="Int64"),
                "estimate": [math.nan if mean is None else mean],
                "std_error": [se],
                "conf_low": [low],
                "conf_high": [high],
                "variance": [math.nan if self.variance is None else self.variance],
                "sd": [math.nan if sd is None else sd],
            }
        )

    def heading(self) -> str:
        return str(self)

    def conventions(self) -> tuple[str, ...]:
        return (
            "estimate = mean; variance with n - 1; 95% interval of the mean from t with n - 1 df",
            *self._missing_note(),
        )

    def __str__(self) -> str:
        if self.n is None:
            return f"{self.column}: suppressed (a site's n is below its disclosure threshold)"
        if self.mean is None:
            return (
                f"{self.column}: n={self.n}; mean and variance suppressed (a few values dominate)"
            )
        return (
            f"{self.column}: n={self.n} mean={self.mean:.6g} variance={self.variance:.6g} "
            f"sd={self.sd:.6g}"
        )


@dataclass(frozen=True)
class CategoricalSummary(Released):
    """Pooled count per level, in the dictionary's order; a suppressed level is missing (<NA>)."""

    kind: ClassVar[str] = "categorical"
    column: str
    levels: tuple[str, ...]
    values: tuple[int | None, ...]

    @property
    def counts(self) -> pd.Series[Any]:
        return pd.Series(
            list(self.values),
            index=pd.Index(self.levels, name=self.column),
            dtype="Int64",
            name="count",
        )

    @property
    def n(self) -> int | None:
        return None if None in self.values else sum(v for v in self.values if v is not None)

    def to_pandas(self) -> pd.Series[Any]:
        return self.counts

    def to_frame(self) -> pd.DataFrame:
        """One row per level: ``variable``, ``level``, ``n`` (<NA> where suppressed) and
        ``percent`` of the known total (NaN when a level is suppressed: the total is unknown)."""
        total = self.n
        return pd.DataFrame(
            {
                "variable": self.column,
                "level": list(self.levels),
                "n": pd.array(list(self.values), dtype="Int64"),
                "percent": [
                    math.nan if v is None or not total else 100.0 * v / total for v in self.values
                ],
            }
        )

    def heading(self) -> str:
        return (
            f"{self.column}: n = {'unknown (a level is suppressed)' if self.n is None else self.n}"
        )

    def conventions(self) -> tuple[str, ...]:
        return (
            "counts per level in the dictionary's order; <NA>: suppressed by a site's "
            "disclosure control",
            *self._missing_note(),
        )

    def __str__(self) -> str:
        return f"{self.column}:\n{frame_text(self.to_frame()[['level', 'n', 'percent']])}"


Summary = NumericSummary | CategoricalSummary


class SummaryAlgorithm(Algorithm[SummaryParams, Column, Summary]):
    name = "summary"
    allows_missing_sites = True
    parameters = SummaryParams
    result_type = Summary
    max_rounds = 2
    profile = DisclosureProfile(
        parts={
            "n": PartKind.COUNT,
            "sum": PartKind.SUM,
            "sum_sq": PartKind.MOMENT,
            "counts": PartKind.COUNT,
        },
        guards={"sum": "n", "sum_sq": "n"},
        description=(
            "numeric: n and the sums of (x-c) and (x-c)^2 about the dictionary's centre (and, "
            "when the mean is far from it, a second round about the pooled mean); categorical: "
            "count per level"
        ),
    )

    def private_rounds(self, spec: Column) -> int:
        return 1  # the noise dwarfs what a second round about the mean would recover

    def check_state(self, spec: Column, state: State, dictionary: Dictionary) -> None:
        centring.centres(state, "centre", [spec.center])

    def partitions(
        self, column: Column, state: State, dictionary: Dictionary
    ) -> tuple[Partition, ...]:
        return () if column.type.is_numeric else (Partition((column.name,)),)

    def local(self, view: DataView, column: Column, state: State, cache: Cache) -> LocalResult:
        if column.type.is_numeric:
            (center,) = centring.centres(state, "centre", [column.center])
            m = view.moments(column.name, float(center))
            summands = view.magnitudes(column.name)
            # one row moves the sums by at most its distance from the centre, within the bounds
            reach = _reach(column, float(center))
            return LocalResult(
                {
                    "n": Part(PartKind.COUNT, np.array(m.n)),
                    "sum": Part(PartKind.SUM, np.array(m.sum)),
                    "sum_sq": Part(PartKind.MOMENT, np.array(m.sum_sq)),
                },
                evidence=Evidence(
                    summands={"sum": summands, "sum_sq": summands},
                    sensitivity={"n": 1.0, "sum": reach, "sum_sq": reach**2},
                ),
            )
        levels = _levels(column)
        observed = view.group_counts([column.name])
        counts = observed.reindex(list(levels), fill_value=0).to_numpy(dtype=np.int64)
        return LocalResult(
            {"counts": Part(PartKind.COUNT, counts)},
            evidence=Evidence(sensitivity={"counts": 1.0}),
        )

    def combine(
        self, total: Aggregate, column: Column, state: State, dictionary: Dictionary
    ) -> Outcome:
        name = column.name
        if "counts" in total.parts:
            values = total.value("counts")
            mask = total.suppressed("counts")
            levels = _levels(column)
            return Final(
                CategoricalSummary(
                    name,
                    levels,
                    tuple(None if m else int(v) for v, m in zip(values, mask, strict=True)),
                )
            )
        if total.suppressed("n").any():
            return Final(NumericSummary(name, None, None, None))
        if total.suppressed("sum").any() or total.suppressed("sum_sq").any():
            # a few dominant values at a site: the count stands, the moments cannot be released
            return Final(NumericSummary(name, int(total.value("n")), None, None))
        n = int(total.value("n"))
        s1, s2 = float(total.value("sum")), float(total.value("sum_sq"))
        center = float(centring.centres(state, "centre", [column.center])[0])
        if (
            "centre" not in state
            and not state.get("private")
            and centring.needs_refinement(n, s1, s2)
        ):
            return NextRound(
                {"centre": [float(centring.means(center, n, s1))]},
                note="sums again about the pooled mean, for precision",
            )
        mean = center + s1 / n if n else math.nan
        variance = (s2 - s1 * s1 / n) / (n - 1) if n > 1 else math.nan
        return Final(NumericSummary(name, n, mean, max(variance, 0.0) if n > 1 else variance))


def _reach(column: Column, center: float) -> float:
    """The farthest a value within the dictionary's bounds lies from the shared centre."""
    if column.minimum is None or column.maximum is None:
        return math.inf
    return max(abs(column.minimum - center), abs(column.maximum - center), 1e-12)


def _levels(column: Column) -> tuple[str, ...]:
    if column.type is ColumnType.BOOLEAN:
        return BOOLEAN_LEVELS
    return column.levels or ()
