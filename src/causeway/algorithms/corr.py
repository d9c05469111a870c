"""``corr``: Pearson correlation matrix, pairwise-complete or over complete cases.

For every pair of columns each site returns the count of rows where both are present and, over
those rows, the sums of each column about its shared centre, of their squares and of the cross
products. The centres are the dictionary's in round 0 and, when a column's mean lies far from
its centre, each column's pooled mean in a second round (:mod:`causeway.algorithms.centring`). The
pooled correlation is exact (pandas ``.corr()`` / ``.dropna().corr()``) at any offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from scipy import stats

from causeway.algorithms import centring, design
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
    Summands,
)
from causeway.algorithms.tidy import frame_text
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Column, Dictionary
from causeway.model.errors import InvalidRequest

Method = Literal["pairwise", "complete"]
MAX_COLUMNS = 100


@dataclass(frozen=True)
class CorrParams:
    columns: Annotated[tuple[str, ...], Help("Two or more numeric columns.")]
    method: Annotated[Method, Help("pairwise or complete (cases).")] = "pairwise"

    def checked(self, dictionary: Dictionary) -> CorrSpec:
        if len(self.columns) > MAX_COLUMNS:
            raise InvalidRequest(f"corr: at most {MAX_COLUMNS} columns per query")
        if len(self.columns) < 2:
            raise InvalidRequest("corr needs 'columns': a list of at least two numeric columns")
        if len(set(self.columns)) != len(self.columns):
            raise InvalidRequest("corr: a column is listed twice")
        columns = tuple(checks.numeric("corr", checks.lookup(c, dictionary)) for c in self.columns)
        return CorrSpec(columns, self.method)


@dataclass(frozen=True)
class CorrSpec:
    columns: tuple[Column, ...]
    method: Method


@dataclass(frozen=True)
class CorrResult(Released):
    """``matrix`` (NaN where a pair's count was suppressed or too small) and ``n``: a matrix of
    pairwise counts, or one int for complete cases."""

    columns: tuple[str, ...]
    method: str
    values: tuple[tuple[float | None, ...], ...]
    counts: tuple[tuple[int | None, ...], ...]

    @property
    def matrix(self) -> pd.DataFrame:
        data = [[np.nan if v is None else v for v in row] for row in self.values]
        return pd.DataFrame(data, index=list(self.columns), columns=list(self.columns))

    @property
    def n(self) -> pd.DataFrame | int | None:
        if self.method == "complete":
            return self.counts[0][0]
        frame = pd.DataFrame(
            [list(r) for r in self.counts], index=self.columns, columns=self.columns
        )
        return frame.astype("Int64")

    def to_frame(self) -> pd.DataFrame:
        """One row per pair of columns (``column1``, ``column2``, in the order asked):
        ``estimate`` (r), ``n``, ``statistic`` (t = r sqrt((n - 2) / (1 - r²))), ``df``
        (n - 2), ``p_value`` (two-sided) and ``conf_low``, ``conf_high`` (95%, Fisher's z), as
        scipy's ``pearsonr``; NaN where a pair's count was suppressed or too small."""
        rows = []
        k = len(self.columns)
        for i in range(k):
            for j in range(i + 1, k):
                r, n = self.values[i][j], self.counts[i][j]
                rows.append((self.columns[i], self.columns[j], r, n, *_pearson(r, n)))
        names = ["column1", "column2", "estimate", "n", "statistic", "df", "p_value"]
        frame = pd.DataFrame(rows, columns=[*names, "conf_low", "conf_high"])
        frame["estimate"] = frame["estimate"].astype(float)
        frame["n"] = frame["n"].astype("Int64")
        return frame

    def heading(self) -> str:
        return f"Pearson correlation ({self.method})"

    def conventions(self) -> tuple[str, ...]:
        return (
            "statistic = t with n - 2 df; p-values two-sided; 95% intervals by Fisher's z "
            "(as scipy's pearsonr)",
            *self._missing_note(),
        )

    def summary(self) -> str:
        return "\n".join([str(self), frame_text(self.to_frame()), *self.conventions()])

    def __str__(self) -> str:
        body = self.matrix.to_string(float_format=lambda v: f"{v:.4f}")
        n = self.n
        if isinstance(n, pd.DataFrame):  # pairwise: a matrix of counts, on its own lines
            shown = f"n (pairwise complete):\n{n.to_string()}"
        else:
            shown = f"n = {'suppressed' if n is None else n}"
        return f"{self.heading()}\n{shown}\n{body}"


def _pearson(r: float | None, n: int | None) -> tuple[float, float, float, float, float]:
    """t, its df, the two-sided p-value and the 95% Fisher-z interval of r over n pairs."""
    if r is None or n is None or n < 3:
        return (math.nan,) * 5
    df = n - 2
    if abs(r) >= 1:
        return math.copysign(math.inf, r), float(df), 0.0, r, r
    t = r * math.sqrt(df / (1 - r * r))
    p = float(2 * stats.t.sf(abs(t), df))
    if n < 4:
        return t, float(df), p, math.nan, math.nan
    z, half = math.atanh(r), float(stats.norm.ppf(0.975)) / math.sqrt(n - 3)
    return float(t), float(df), p, math.tanh(z - half), math.tanh(z + half)


class Correlation(Algorithm[CorrParams, CorrSpec, CorrResult]):
    name = "corr"
    allows_missing_sites = True
    parameters = CorrParams
    result_type = CorrResult
    max_rounds = 2
    profile = DisclosureProfile(
        parts={
            "n": PartKind.COUNT,
            "patterns": PartKind.COUNT,
            "sum": PartKind.SUM,
            "sum_sq": PartKind.MOMENT,
            "cross": PartKind.CROSS_PRODUCT,
        },
        free_cells=frozenset({"n"}),
        # rows with column i present and j missing: n[i, i] - n[i, j], with its sums, would be
        # given by subtraction inside one release; a small such pattern withholds everything
        guards={"n": "patterns", "sum": "n", "sum_sq": "n", "cross": "n"},
        description=(
            "per pair of columns: n, and sums, squares and cross products about centres (a "
            "second round about each column's pooled mean when it is far from its centre)"
        ),
    )

    def check_state(self, spec: CorrSpec, state: State, dictionary: Dictionary) -> None:
        centring.centres(state, "centres", [c.center for c in spec.columns])

    def local(self, view: DataView, spec: CorrSpec, state: State, cache: Cache) -> LocalResult:
        columns, method = spec.columns, spec.method
        names = [c.name for c in columns]
        frame = design.prepare(view.frame(names), view.dictionary)
        if method == "complete":
            frame = frame.dropna()
        centres = centring.centres(state, "centres", [c.center for c in columns])
        raw = frame[names].to_numpy(dtype=np.float64)
        x = raw - centres
        present = (~np.isnan(x)).astype(np.float64)
        summands = tuple(Summands.of(raw[~np.isnan(raw[:, i]), i]) for i in range(len(names)))
        x = np.nan_to_num(x)
        pairs = present.T @ present
        return LocalResult(
            {
                "n": Part(PartKind.COUNT, pairs),
                "patterns": Part(PartKind.COUNT, np.diag(pairs)[:, None] - pairs),
                "sum": Part(PartKind.SUM, x.T @ present),  # [i, j]: sum of x_i where x_j present
                "sum_sq": Part(PartKind.MOMENT, (x * x).T @ present),
                "cross": Part(PartKind.CROSS_PRODUCT, x.T @ x),
            },
            evidence=Evidence(summands={"sum": summands, "sum_sq": summands, "cross": summands}),
        )

    def combine(
        self, total: Aggregate, spec: CorrSpec, state: State, dictionary: Dictionary
    ) -> Outcome:
        columns, method = spec.columns, spec.method
        n = total.value("n").astype(np.float64)
        s, ss, cross = total.value("sum"), total.value("sum_sq"), total.value("cross")
        hidden = total.suppressed("n") | total.suppressed("cross")
        hidden = hidden | total.suppressed("sum") | total.suppressed("sum").T
        hidden = hidden | total.suppressed("sum_sq") | total.suppressed("sum_sq").T
        if "centres" not in state and not state.get("private"):
            diag = np.diag(n), np.diag(s), np.diag(ss)
            refine = centring.needs_refinement(*diag) & ~np.diag(hidden)
            if refine.any():
                start = [c.center for c in columns]
                centres = np.where(refine, centring.means(start, *diag[:2]), start)
                return NextRound(
                    {"centres": centres.tolist()},
                    note="sums again about each column's pooled mean, for precision",
                )
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = n * cross - s * s.T
            var_i = n * ss - s * s
            r = cov / np.sqrt(var_i * var_i.T)
        r = np.clip(r, -1.0, 1.0)
        bad = hidden | (n < 2) | ~np.isfinite(r)
        k = len(columns)
        values = tuple(
            tuple(None if bad[i, j] else float(r[i, j]) for j in range(k)) for i in range(k)
        )
        counts = tuple(
            tuple(None if hidden[i, j] else int(n[i, j]) for j in range(k)) for i in range(k)
        )
        return Final(CorrResult(tuple(c.name for c in columns), method, values, counts))
