"""``fisher``: Fisher's exact test on a 2 × 2 table of two two-level columns.

The sites count the table exactly as ``crosstab`` does, through the same release gate (small
cells suppressed with complementary cells, per each site's policy). The exact p-value is a
function of every cell of the pooled table, so it is computed only from a table the gates let
out whole: if any site suppressed any cell, the test is refused with the reason, and nothing
beyond the released counts is ever derived. The odds ratio is the sample (unconditional) odds
ratio ad / bc, as scipy's ``fisher_exact`` reports it, not the conditional maximum-likelihood
estimate R's ``fisher.test`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from scipy import stats

from causeway.algorithms import params as checks
from causeway.algorithms.base import (
    Algorithm,
    Cache,
    Final,
    Help,
    LocalResult,
    Outcome,
    Partition,
    Released,
    State,
)
from causeway.algorithms.crosstab import Crosstab, CrosstabSpec, table_partitions
from causeway.model.contribution import Aggregate
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.errors import DisclosureRefused, InvalidRequest

Alternative = Literal["two-sided", "less", "greater"]


@dataclass(frozen=True)
class FisherParams:
    row: Annotated[str, Help("A column with two levels: the table's rows.")]
    col: Annotated[str, Help("A column with two levels: the table's columns.")]
    alternative: Annotated[
        Alternative, Help("two-sided, less or greater (odds ratio below or above 1).")
    ] = "two-sided"

    def checked(self, dictionary: Dictionary) -> FisherSpec:
        row = checks.lookup(self.row, dictionary)
        col = checks.lookup(self.col, dictionary)
        if row.name == col.name:
            raise InvalidRequest("fisher: row and col must be different columns")
        rows, cols = checks.levels("fisher", row), checks.levels("fisher", col)
        for column, levels in ((row, rows), (col, cols)):
            if len(levels) != 2:
                raise InvalidRequest(
                    f"fisher: column {column.name!r} has {len(levels)} levels; Fisher's exact "
                    "test here takes a 2 x 2 table (use crosstab for larger tables)"
                )
        if self.alternative not in ("two-sided", "less", "greater"):
            raise InvalidRequest("fisher: alternative must be two-sided, less or greater")
        return FisherSpec(CrosstabSpec(row.name, col.name, rows, cols), self.alternative)


@dataclass(frozen=True)
class FisherSpec:
    table: CrosstabSpec
    alternative: Alternative


@dataclass(frozen=True)
class FisherResult(Released):
    """The pooled 2 × 2 table (rows and columns in the dictionary's order), the sample odds
    ratio (a d) / (b c) (inf or nan where a cell is zero, as scipy) and the exact p-value."""

    row: str
    col: str
    row_levels: tuple[str, str]
    col_levels: tuple[str, str]
    counts: tuple[tuple[int, int], tuple[int, int]]
    odds_ratio: float
    p_value: float
    alternative: str = "two-sided"

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            [list(r) for r in self.counts],
            index=pd.Index(self.row_levels, name=self.row),
            columns=pd.Index(self.col_levels, name=self.col),
        )

    def to_frame(self) -> pd.DataFrame:
        """One row: ``term`` (row x col), ``estimate`` (the sample odds ratio), ``p_value``,
        ``alternative``, ``n`` and the four cells ``a``, ``b`` (first row), ``c``, ``d``."""
        (a, b), (c, d) = self.counts
        return pd.DataFrame(
            [
                {
                    "term": f"{self.row} x {self.col}",
                    "estimate": self.odds_ratio,
                    "p_value": self.p_value,
                    "alternative": self.alternative,
                    "n": a + b + c + d,
                    "a": a,
                    "b": b,
                    "c": c,
                    "d": d,
                }
            ]
        )

    def heading(self) -> str:
        return f"Fisher's exact test: {self.row} x {self.col}"

    def conventions(self) -> tuple[str, ...]:
        return (
            f"estimate = sample odds ratio (a d) / (b c), as scipy's fisher_exact; exact "
            f"{self.alternative} p-value from the hypergeometric distribution",
            *self._missing_note(),
        )

    def summary(self) -> str:
        from causeway.algorithms.tidy import frame_text

        parts = [self.heading(), self.table.to_string(), frame_text(self.to_frame())]
        return "\n".join([*parts, *self.conventions()])

    def __str__(self) -> str:
        return self.summary()


def fisher_test(
    spec: CrosstabSpec,
    counts: tuple[tuple[int | None, ...], ...],
    alternative: Alternative = "two-sided",
) -> FisherResult:
    """Fisher's exact test on a released 2 × 2 table; refused if a site withheld a cell."""
    if len(counts) != 2 or any(len(r) != 2 for r in counts):
        raise InvalidRequest("fisher: the table is not 2 x 2")
    if any(v is None for r in counts for v in r):
        raise DisclosureRefused(
            "fisher: a site's release gate suppressed a cell of the 2 x 2 table; the exact "
            "p-value depends on every cell, so it is not computed (widen the cohort)"
        )
    table = np.array(counts, dtype=np.int64)
    found = stats.fisher_exact(table, alternative=alternative)
    (a, b), (c, d) = (int(v) for v in table[0]), (int(v) for v in table[1])
    return FisherResult(
        spec.row,
        spec.col,
        (spec.rows[0], spec.rows[1]),
        (spec.cols[0], spec.cols[1]),
        ((a, b), (c, d)),
        float(found.statistic),
        float(found.pvalue),
        alternative,
    )


class Fisher(Algorithm[FisherParams, FisherSpec, FisherResult]):
    name = "fisher"
    conventions = (
        "Equals scipy's `fisher_exact` on the pooled table: the p-value for `alternative` and "
        "the **sample** odds ratio (a·d)/(b·c) (not the conditional maximum-likelihood "
        "estimate of R's `fisher.test`), inf or nan where a cell is zero. Rows and columns "
        "follow the dictionary's level order. The table passes the same gate as `crosstab`; "
        "the p-value depends on every cell, so it is computed only from a table released "
        "whole: if any site suppressed any cell the request is refused (`DisclosureRefused`, "
        "with the reason) rather than tested on a partial table. `crosstab(...).fisher()` "
        "gives the same from a released crosstab."
    )
    allows_missing_sites = True
    parameters = FisherParams
    result_type = FisherResult
    profile = Crosstab.profile

    def partitions(
        self, spec: FisherSpec, state: State, dictionary: Dictionary
    ) -> tuple[Partition, ...]:
        return table_partitions(spec.table)

    def local(self, view: DataView, spec: FisherSpec, state: State, cache: Cache) -> LocalResult:
        return Crosstab().local(view, spec.table, state, cache)

    def combine(
        self, total: Aggregate, spec: FisherSpec, state: State, dictionary: Dictionary
    ) -> Outcome:
        values, mask = total.value("counts"), total.suppressed("counts")
        counts = tuple(
            tuple(None if m else max(int(v), 0) for v, m in zip(vr, mr, strict=True))
            for vr, mr in zip(values, mask, strict=True)
        )
        return Final(fisher_test(spec.table, counts, spec.alternative))
