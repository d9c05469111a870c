"""``crosstab``: a two-way table of counts over the dictionary's levels, with Pearson's chi-square.

Every site counts the same rows x columns grid (levels from the dictionary), so the pooled table
is the sum. A cell a site's release gate suppressed is missing in the result, and then no test is
computed (its value is unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import numpy as np
import pandas as pd
from scipy import stats

from causeway.algorithms import params as checks
from causeway.algorithms.base import (
    Algorithm,
    Cache,
    DisclosureProfile,
    Evidence,
    Final,
    Help,
    LocalResult,
    Outcome,
    Partition,
    Released,
    State,
)
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.errors import InvalidRequest

if TYPE_CHECKING:
    from causeway.algorithms.fisher import Alternative, FisherResult


@dataclass(frozen=True)
class CrosstabParams:
    row: Annotated[str, Help("The column whose levels are the table's rows.")]
    col: Annotated[str, Help("The column whose levels are the table's columns.")]

    def checked(self, dictionary: Dictionary) -> CrosstabSpec:
        row = checks.lookup(self.row, dictionary)
        col = checks.lookup(self.col, dictionary)
        if row.name == col.name:
            raise InvalidRequest("crosstab: row and col must be different columns")
        return CrosstabSpec(
            row.name, col.name, checks.levels("crosstab", row), checks.levels("crosstab", col)
        )


@dataclass(frozen=True)
class CrosstabSpec:
    row: str
    col: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]


def table_partitions(spec: CrosstabSpec) -> tuple[Partition, ...]:
    """A table's cells (its margins are sums of them, which the gate's complementary suppression
    weighs; a margin counted by a query of its own is that query's cohort)."""
    return (Partition((spec.row, spec.col)),)


@dataclass(frozen=True)
class CrosstabResult(Released):
    """Counts (None where suppressed) and Pearson's chi-square without continuity correction,
    over the rows and columns that are not all zero; the test is None when a cell is unknown."""

    row: str
    col: str
    row_levels: tuple[str, ...]
    col_levels: tuple[str, ...]
    counts: tuple[tuple[int | None, ...], ...]
    chi2: float | None
    dof: int | None
    p_value: float | None

    @property
    def table(self) -> pd.DataFrame:
        frame = pd.DataFrame(
            [list(r) for r in self.counts],
            index=pd.Index(self.row_levels, name=self.row),
            columns=pd.Index(self.col_levels, name=self.col),
        )
        return frame.astype("Int64")

    def fisher(self, alternative: Alternative = "two-sided") -> FisherResult:
        """Fisher's exact test on this table when it is 2 × 2 and no cell was suppressed (a
        :class:`~causeway.model.errors.DisclosureRefused` otherwise: the p-value depends on
        every cell). Computed from the released counts alone; the same as ``client.fisher``."""
        from causeway.algorithms.fisher import fisher_test

        if len(self.row_levels) != 2 or len(self.col_levels) != 2:
            raise InvalidRequest(
                f"fisher: the table is {len(self.row_levels)} x {len(self.col_levels)}; "
                "Fisher's exact test here takes a 2 x 2 table"
            )
        spec = CrosstabSpec(self.row, self.col, self.row_levels, self.col_levels)
        return fisher_test(spec, self.counts, alternative)

    def to_frame(self) -> pd.DataFrame:
        """One row per cell: the row's level (column named as ``row``), the column's level
        (named as ``col``) and ``n`` (<NA> where suppressed); the chi-square test is in
        ``chi2``, ``dof`` and ``p_value`` (and ``summary()``)."""
        cells = [
            (r, c, self.counts[i][j])
            for i, r in enumerate(self.row_levels)
            for j, c in enumerate(self.col_levels)
        ]
        return pd.DataFrame(
            {
                self.row: [r for r, _, _ in cells],
                self.col: [c for _, c, _ in cells],
                "n": pd.array([n for _, _, n in cells], dtype="Int64"),
            }
        )

    def heading(self) -> str:
        return f"crosstab of {self.row} (rows) by {self.col} (columns)"

    def conventions(self) -> tuple[str, ...]:
        return (
            "Pearson chi-square without continuity correction, over the rows and columns that "
            "are not all zero; <NA>: suppressed by a site's disclosure control",
            *self._missing_note(),
        )

    def summary(self) -> str:
        return "\n".join([self.heading(), str(self), *self.conventions()])

    def __str__(self) -> str:
        test = (
            "chi-square not computed: a cell is suppressed"
            if self.chi2 is None
            else f"Pearson chi2 = {self.chi2:.6g}, dof = {self.dof}, p = {self.p_value:.4g}"
        )
        return f"{self.table.to_string()}\n{test}"


class Crosstab(Algorithm[CrosstabParams, CrosstabSpec, CrosstabResult]):
    name = "crosstab"
    allows_missing_sites = True
    parameters = CrosstabParams
    result_type = CrosstabResult
    profile = DisclosureProfile(
        parts={"counts": PartKind.COUNT},
        description="one count per combination of the row's and the column's levels",
    )

    def partitions(
        self, spec: CrosstabSpec, state: State, dictionary: Dictionary
    ) -> tuple[Partition, ...]:
        return table_partitions(spec)

    def local(self, view: DataView, spec: CrosstabSpec, state: State, cache: Cache) -> LocalResult:
        row, col, rows, cols = spec.row, spec.col, spec.rows, spec.cols
        observed = view.group_counts([row, col])
        index = pd.MultiIndex.from_product([rows, cols], names=[row, col])
        counts = observed.reindex(index, fill_value=0).to_numpy(dtype=np.int64)
        table = Part(PartKind.COUNT, counts.reshape(len(rows), len(cols)))
        # a row lies in one cell: adding or removing it moves the table by 1 (L2)
        return LocalResult({"counts": table}, evidence=Evidence(sensitivity={"counts": 1.0}))

    def combine(
        self, total: Aggregate, spec: CrosstabSpec, state: State, dictionary: Dictionary
    ) -> Outcome:
        row, col, rows, cols = spec.row, spec.col, spec.rows, spec.cols
        values, mask = total.value("counts"), total.suppressed("counts")
        counts = tuple(
            tuple(None if m else int(v) for v, m in zip(vr, mr, strict=True))
            for vr, mr in zip(values, mask, strict=True)
        )
        chi2 = dof = p = None
        if not mask.any():
            table = values[values.sum(axis=1) > 0][:, values.sum(axis=0) > 0]
            if table.shape[0] > 1 and table.shape[1] > 1:
                test = stats.chi2_contingency(table, correction=False)
                chi2, p, dof = float(test.statistic), float(test.pvalue), int(test.dof)
        return Final(CrosstabResult(row, col, rows, cols, counts, chi2, dof, p))
