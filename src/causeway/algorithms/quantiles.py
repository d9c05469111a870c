"""``quantiles``: quantiles of a numeric column from a histogram every site's data supports.

Sites count their values in ``bins`` fine bins over the dictionary's [minimum, maximum] and agree
on a coarser grid in which every interval holds zero or at least each site's minimum cell count
(:mod:`causeway.algorithms.grid`: round 0 releases only pass/fail per node of a tree over the fine
bins, round 1 the counts in the agreed intervals). The hub finds the interval holding each
quantile's rank in the pooled histogram and interpolates linearly inside it: each estimate lies
within its interval's width (``error_bounds``; ``error_bound`` is the largest) of a value of the
data at that rank. Nothing is suppressed, so no request is refused for a sparse bin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from causeway.algorithms import design, grid
from causeway.algorithms import params as checks
from causeway.algorithms.base import (
    Algorithm,
    Binning,
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
from causeway.model.dictionary import Column, Dictionary
from causeway.model.errors import DisclosureRefused, InvalidRequest

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = npt.NDArray[np.float64]
MAX_PROBS = 1_000


@dataclass(frozen=True)
class QuantilesParams:
    column: Annotated[str, Help("A numeric column with bounds in the dictionary.")]
    probs: Annotated[
        tuple[float, ...], Help("The probabilities (each from 0 to 1).", flag="prob")
    ] = (0.25, 0.5, 0.75)
    bins: Annotated[
        int, Help("Finest histogram bins (a power of two; sparse ones are merged).")
    ] = 1024

    def checked(self, dictionary: Dictionary) -> QuantilesSpec:
        column = checks.numeric("quantiles", checks.lookup(self.column, dictionary))
        if column.minimum is None or column.maximum is None:
            raise InvalidRequest(
                f"quantiles: column {column.name!r} has no bounds in the dictionary to bin over"
            )
        if len(self.probs) > MAX_PROBS:
            raise InvalidRequest(f"quantiles: at most {MAX_PROBS} probabilities per query")
        if not self.probs or not all(0 <= p <= 1 for p in self.probs):
            raise InvalidRequest("quantiles: probs must be a list of numbers between 0 and 1")
        bins = checks.whole("quantiles", "bins", self.bins, 2, 2**16)
        if bins & (bins - 1):
            # every tree over the same range then nests in one dyadic tree, so intervals agreed
            # in different queries never overlap partly (their differences could isolate a few
            # rows)
            raise InvalidRequest(
                f"quantiles: bins must be a power of two (such as 1024), not {bins}"
            )
        return QuantilesSpec(column, self.probs, bins)


@dataclass(frozen=True)
class QuantilesSpec:
    column: Column
    probs: tuple[float, ...]
    bins: int


@dataclass(frozen=True)
class QuantilesResult(Released):
    """The quantiles, and the pooled histogram they were read from: ``counts`` in the agreed
    intervals between ``edges`` (every interval holds none or at least each site's minimum cell
    count; counts are noisy where the dataset's level adds noise)."""

    column: str
    probs: tuple[float, ...]
    values: tuple[float | None, ...]
    error_bound: float
    n: int
    error_bounds: tuple[float | None, ...] = ()
    intervals: int = 0
    edges: tuple[float, ...] = ()
    counts: tuple[float, ...] = ()

    def to_pandas(self) -> pd.Series[Any]:
        return pd.Series(
            self.values, index=pd.Index(self.probs, name="prob"), name=self.column, dtype=float
        )

    @property
    def histogram(self) -> pd.DataFrame:
        """The agreed histogram: one row per interval (``lower``, ``upper``, ``count``)."""
        return pd.DataFrame(
            {"lower": self.edges[:-1], "upper": self.edges[1:], "count": self.counts},
            columns=["lower", "upper", "count"],
        )

    def plot(
        self, kind: Literal["both", "histogram", "box"] = "both", *, ax: Axes | None = None
    ) -> Figure:
        """The histogram, a box plot of the released quartiles (whiskers at the outermost
        released quantiles), or both, one above the other (needs matplotlib:
        ``pip install causeway[plot]``). ``ax`` draws one of them into an existing axes."""
        from causeway.algorithms.figures.distribution import quantiles_figure

        return quantiles_figure(self, kind=kind, ax=ax)

    def to_frame(self) -> pd.DataFrame:
        """One row per probability: ``prob``, ``estimate`` (NaN where there are no values) and
        its ``error_bound`` (the width of the interval holding it)."""
        bounds = self.error_bounds or (self.error_bound,) * len(self.probs)
        return pd.DataFrame(
            {
                "prob": list(self.probs),
                "estimate": [math.nan if v is None else v for v in self.values],
                "error_bound": [math.nan if b is None else b for b in bounds],
            }
        )

    def heading(self) -> str:
        return f"quantiles of {self.column} (n = {self.n}, each within ±{self.error_bound:.4g}):"

    def conventions(self) -> tuple[str, ...]:
        grid = f"{self.intervals} intervals" if self.intervals else "intervals"
        return (
            f"interpolated linearly in a histogram of {grid} that every site's data supports; "
            "each estimate lies within its error_bound of a value of the data at its rank",
            *self._missing_note(),
        )

    def __str__(self) -> str:
        return f"{self.heading()}\n{frame_text(self.to_frame())}"


class Quantiles(Algorithm[QuantilesParams, QuantilesSpec, QuantilesResult]):
    name = "quantiles"
    allows_missing_sites = True
    parameters = QuantilesParams
    result_type = QuantilesResult
    max_rounds = 2
    profile = DisclosureProfile(
        parts={"n": PartKind.COUNT, "passes": PartKind.COUNT, "histogram": PartKind.COUNT},
        # n beside a histogram with a suppressed bin would give that bin's count by subtraction.
        guards={"n": "histogram"},
        whole=frozenset({"histogram"}),
        indicators=frozenset({"passes"}),
        description=(
            "round 0: the count of non-missing values, and per node of a tree over the fine bins "
            "whether the site's count there passes its minimum (pass/fail only); round 1: the "
            "counts in the intervals of the agreed grid"
        ),
    )

    def initial_state(self, spec: QuantilesSpec, dictionary: Dictionary) -> State:
        return {"round": 0}

    def partitions(
        self, spec: QuantilesSpec, state: State, dictionary: Dictionary
    ) -> tuple[Partition, ...]:
        found = agreed_bins(spec.column, spec.bins, state)
        return (Partition(bins=found),) if found else ()

    def local(self, view: DataView, spec: QuantilesSpec, state: State, cache: Cache) -> LocalResult:
        column, bins = spec.column, spec.bins
        frame = design.prepare(view.frame([column.name]), view.dictionary)
        x = frame[column.name].dropna().to_numpy(dtype=np.float64)
        fine = np.bincount(grid.fine_index(x, bin_edges(column, bins)), minlength=bins)
        parts = {"n": Part(PartKind.COUNT, np.array(len(x)))}
        parts.update(grid.agreed_parts(fine.astype(np.int64), bins, state))
        return LocalResult(parts, evidence=Evidence(sensitivity=grid.sensitivities(bins)))

    def combine(
        self, total: Aggregate, spec: QuantilesSpec, state: State, dictionary: Dictionary
    ) -> Outcome:
        column, probs, bins = spec.column, spec.probs, spec.bins
        checks.refuse_if_suppressed(total, ["n"], "quantiles")
        if state.get("grid") is None:
            bounds = grid.cut(total.value("passes") == total.sites, bins)
            return NextRound(
                {"round": 1, "grid": bounds}, note=f"a grid of {len(bounds) - 1} intervals"
            )
        if total.suppressed("histogram").any():
            raise DisclosureRefused(
                "quantiles: a site's count in an interval of the agreed grid is below its "
                "minimum cell count; nothing can be released"
            )
        bounds = grid.check_boundaries(state["grid"], bins)
        edges = bin_edges(column, bins)[bounds]
        n = int(total.value("n"))
        # noisy counts (L2/L3) may be negative; clamped once summed over sites
        counts = np.maximum(total.value("histogram").astype(np.float64), 0.0)
        found = [quantile_in_bins(p * n, counts, edges) if n else None for p in probs]
        values = tuple(None if f is None else f[0] for f in found)
        widths = tuple(None if f is None else f[1] for f in found)
        known = [w for w in widths if w is not None]
        bound = max(known) if known else float(edges[-1] - edges[0])
        return Final(
            QuantilesResult(
                column.name,
                probs,
                values,
                bound,
                n,
                widths,
                len(bounds) - 1,
                tuple(float(e) for e in edges),
                tuple(float(c) for c in counts),
            )
        )


def agreed_bins(column: Column, bins: int, state: State) -> tuple[Binning, ...]:
    """The intervals of the round's agreed grid over ``column`` (none before it is agreed),
    whose counts the round releases."""
    if state.get("grid") is None:
        return ()
    bounds = grid.check_boundaries(state["grid"], bins)
    return (Binning(column.name, tuple(bin_edges(column, bins)[bounds].tolist())),)


def bin_edges(column: Column, bins: int) -> FloatArray:
    assert column.minimum is not None and column.maximum is not None
    high = column.maximum if column.maximum > column.minimum else column.minimum + 1.0
    return np.linspace(column.minimum, high, bins + 1)


def quantile_in_bins(
    rank: float, counts: FloatArray, edges: FloatArray
) -> tuple[float, float] | None:
    """The value at ``rank`` by linear interpolation in the interval holding it, and that
    interval's width (the estimate's error bound)."""
    below = 0.0
    for b, count in enumerate(counts):
        if count > 0 and rank <= below + count:
            share = (rank - below) / count
            return float(edges[b] + share * (edges[b + 1] - edges[b])), float(
                edges[b + 1] - edges[b]
            )
        below += count
    return None
