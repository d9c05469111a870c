"""``quantiles``: quantiles of a numeric column from a histogram every site shares.

Sites count their values in the same bins over the dictionary's [minimum, maximum]; the hub finds
the bin holding each quantile's rank in the pooled histogram and interpolates linearly inside it.
The estimate lies within one bin width (``error_bound``) of a value of the data at that rank.
A quantile whose rank depends on a bin a site's gate suppressed is reported as None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from causeway.algorithms import design
from causeway.algorithms import params as checks
from causeway.algorithms.base import (
    Algorithm,
    Cache,
    DisclosureProfile,
    Final,
    LocalResult,
    Outcome,
    Params,
    State,
)
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Column, Dictionary
from causeway.model.errors import DisclosureRefused, InvalidRequest

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class QuantilesResult:
    column: str
    probs: tuple[float, ...]
    values: tuple[float | None, ...]
    error_bound: float
    n: int

    def to_pandas(self) -> pd.Series[Any]:
        return pd.Series(
            self.values, index=pd.Index(self.probs, name="prob"), name=self.column, dtype=float
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "probs": list(self.probs),
            "values": list(self.values),
            "error_bound": self.error_bound,
            "n": self.n,
        }

    def __str__(self) -> str:
        return (
            f"quantiles of {self.column} (n = {self.n}, each within ±{self.error_bound:.4g}):\n"
            f"{self.to_pandas().to_string()}"
        )


class Quantiles(Algorithm):
    name = "quantiles"
    profile = DisclosureProfile(
        parts={"n": PartKind.COUNT, "histogram": PartKind.COUNT},
        # n beside a histogram with a suppressed bin would give that bin's count by subtraction.
        guards={"n": "histogram"},
        description="the count of non-missing values and their counts in shared bins",
    )

    def check(self, params: Params, dictionary: Dictionary) -> None:
        _spec(params, dictionary)

    def local(self, view: DataView, params: Params, state: State, cache: Cache) -> LocalResult:
        column, _, bins = _spec(params, view.dictionary)
        frame = design.prepare(view.frame([column.name]), view.dictionary)
        x = frame[column.name].dropna().to_numpy(dtype=np.float64)
        edges = _edges(column, bins)
        index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
        histogram = np.bincount(index, minlength=bins).astype(np.int64)
        return LocalResult(
            {
                "n": Part(PartKind.COUNT, np.array(len(x))),
                "histogram": Part(PartKind.COUNT, histogram),
            }
        )

    def combine(
        self, total: Aggregate, params: Params, state: State, dictionary: Dictionary
    ) -> Outcome:
        column, probs, bins = _spec(params, dictionary)
        if total.suppressed("n").any() and total.suppressed("histogram").any():
            raise DisclosureRefused(
                f"quantiles: some of the {bins} bins hold fewer patients than a site's minimum; "
                "ask for fewer bins (a larger error bound)"
            )
        checks.refuse_if_suppressed(total, ["n"], "quantiles")
        n = int(total.value("n"))
        counts = total.value("histogram").astype(np.float64)
        hidden = total.suppressed("histogram")
        edges = _edges(column, bins)
        below = _known_below(counts, hidden, n)
        values = tuple(_quantile(p * n, counts, hidden, below, edges) if n else None for p in probs)
        width = float(edges[1] - edges[0])
        return Final(QuantilesResult(column.name, probs, values, width, n))

    def result_from_json(self, data: Mapping[str, Any]) -> QuantilesResult:
        return QuantilesResult(
            column=str(data["column"]),
            probs=tuple(float(p) for p in data["probs"]),
            values=tuple(data["values"]),
            error_bound=float(data["error_bound"]),
            n=int(data["n"]),
        )


def _edges(column: Column, bins: int) -> FloatArray:
    assert column.minimum is not None and column.maximum is not None
    high = column.maximum if column.maximum > column.minimum else column.minimum + 1.0
    return np.linspace(column.minimum, high, bins + 1)


def _known_below(counts: FloatArray, hidden: npt.NDArray[np.bool_], n: int) -> FloatArray:
    """Rows below each bin; known from the bottom up to the first suppressed bin, and from the
    top (n minus the rows at or above) down to the last one; NaN in between."""
    below = np.concatenate([[0.0], np.cumsum(counts)[:-1]])
    above = n - np.cumsum(counts[::-1])[::-1]
    first = np.argmax(hidden) if hidden.any() else len(counts)
    last = len(counts) - 1 - np.argmax(hidden[::-1]) if hidden.any() else -1
    index = np.arange(len(counts))
    return np.where(index <= first, below, np.where(index > last, above, np.nan))


def _quantile(
    rank: float,
    counts: FloatArray,
    hidden: npt.NDArray[np.bool_],
    below: FloatArray,
    edges: FloatArray,
) -> float | None:
    for b in range(len(counts)):
        if hidden[b] or np.isnan(below[b]):
            continue  # unknown here: the rank is placed only by a known bin
        if below[b] > rank:
            return None  # the rank fell among suppressed bins
        if counts[b] > 0 and rank <= below[b] + counts[b]:
            share = (rank - below[b]) / counts[b]
            return float(edges[b] + share * (edges[b + 1] - edges[b]))
    return None


def _spec(params: Params, dictionary: Dictionary) -> tuple[Column, tuple[float, ...], int]:
    checks.only("quantiles", params, ("column", "probs", "bins"))
    column = checks.numeric("quantiles", checks.required("quantiles", params, "column", dictionary))
    if column.minimum is None or column.maximum is None:
        raise InvalidRequest(
            f"quantiles: column {column.name!r} has no bounds in the dictionary to bin over"
        )
    probs = params.get("probs", [0.25, 0.5, 0.75])
    if (
        not isinstance(probs, list | tuple)
        or not probs
        or not all(
            isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p <= 1 for p in probs
        )
    ):
        raise InvalidRequest("quantiles: probs must be a list of numbers between 0 and 1")
    bins = checks.integer("quantiles", params, "bins", 1000, 1, 100_000)
    return column, tuple(float(p) for p in probs), bins
