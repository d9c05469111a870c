"""``spearman``: Spearman's rank correlation of two numeric columns, from a shared 2-D histogram.

Each site counts its complete pairs in ``bins`` × ``bins`` fine cells over the dictionary's
ranges. The product grid is uniform per column: level a of a column's binary tree over its fine
bins cuts its range into 2^a equal intervals. Round 0 releases, for every pair of levels (a, b),
only whether the site's smallest non-empty cell of the 2^a × 2^b grid passes its minimum cell
count (pass/fail, never a count). A coarser grid's cells are sums of a finer one's, so passing is
monotone; the hub takes the pair passing at every site with the most intervals (a + b largest,
then the most even), and round 1 releases each site's counts in its cells, which the gate checks
again (released whole or not at all). Uniform levels are what makes repeated requests safe: two
grids of one cohort are either nested, and every difference of their cells is a union of the
finer grid's cells (each zero or at least the minimum), or crossed, and then no cell of either is
a difference of the other's; a grid cut finer where the data are dense would give neither.

Values in one interval of a column share its midrank, and rho is Pearson's correlation of the
midranks weighted by the pooled table, which equals scipy's ``spearmanr`` when each interval
holds a single distinct value (fine bins over integer data). Whatever the values inside the
intervals, the data's rho lies in [``rho_min``, ``rho_max``] (:func:`rho_from_table`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Annotated

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
from causeway.algorithms.mannwhitney import bounded, power_of_two_bins
from causeway.algorithms.quantiles import bin_edges
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Column, Dictionary
from causeway.model.errors import DisclosureRefused, InvalidRequest, ModelError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
NAME = "spearman"
MAX_BINS = 128  # the round-0 indicators number (2 bins - 1)² per site


@dataclass(frozen=True)
class SpearmanParams:
    x: Annotated[str, Help("A numeric column with bounds in the dictionary.")]
    y: Annotated[str, Help("Another numeric column with bounds in the dictionary.")]
    bins: Annotated[
        int, Help(f"Finest bins per column (a power of two up to {MAX_BINS}; sparse ones merge).")
    ] = 64

    def checked(self, dictionary: Dictionary) -> SpearmanSpec:
        x = bounded(NAME, checks.lookup(self.x, dictionary))
        y = bounded(NAME, checks.lookup(self.y, dictionary))
        if x.name == y.name:
            raise InvalidRequest(f"{NAME}: x and y must be different columns")
        return SpearmanSpec(x, y, power_of_two_bins(NAME, self.bins, MAX_BINS))


@dataclass(frozen=True)
class SpearmanSpec:
    x: Column
    y: Column
    bins: int


@dataclass(frozen=True)
class SpearmanResult(Released):
    """rho from the binned midranks, and the bounds [``rho_min``, ``rho_max``] that hold for the
    unbinned data whatever the values inside the released cells; the grid (``x_grid``,
    ``y_grid``: interval edges) and the pooled ``table`` of counts it was computed from."""

    x: str
    y: str
    n: int
    rho: float
    rho_min: float
    rho_max: float
    x_grid: tuple[float, ...]
    y_grid: tuple[float, ...]
    counts: tuple[tuple[int, ...], ...]

    @property
    def table(self) -> pd.DataFrame:
        """Pooled counts: rows the intervals of ``x`` (by their upper edge), columns of ``y``."""
        return pd.DataFrame(
            [list(r) for r in self.counts],
            index=pd.Index(self.x_grid[1:], name=self.x),
            columns=pd.Index(self.y_grid[1:], name=self.y),
        )

    def to_frame(self) -> pd.DataFrame:
        """One row: ``term`` (x ~ y), ``estimate`` (rho) with ``rho_min``/``rho_max``, ``n``
        and the grid's size (``x_intervals``, ``y_intervals``); ``table`` has the counts."""
        return pd.DataFrame(
            [
                {
                    "term": f"{self.x} ~ {self.y}",
                    "estimate": self.rho,
                    "rho_min": self.rho_min,
                    "rho_max": self.rho_max,
                    "n": self.n,
                    "x_intervals": len(self.x_grid) - 1,
                    "y_intervals": len(self.y_grid) - 1,
                }
            ]
        )

    def heading(self) -> str:
        return f"Spearman's rho of {self.x} and {self.y} (n = {self.n})"

    def conventions(self) -> tuple[str, ...]:
        return (
            f"estimate = rho from midranks on a {len(self.x_grid) - 1} x "
            f"{len(self.y_grid) - 1} table every site's data supports (values in one interval "
            "count as tied); the unbinned data's rho lies in [rho_min, rho_max]",
            *self._missing_note(),
        )

    def summary(self) -> str:
        return (
            f"{self.heading()}: {self.rho:.6g} (the data's rho lies in [{self.rho_min:.4g}, "
            f"{self.rho_max:.4g}])\n" + "\n".join(self.conventions())
        )

    def __str__(self) -> str:
        return self.summary()


def midranks(margin: FloatArray) -> FloatArray:
    """Each interval's midrank from the counts per interval."""
    below = np.cumsum(margin) - margin
    return below + (margin + 1) / 2


def _weighted_corr(table: FloatArray, rx: FloatArray, ry: FloatArray) -> float:
    n = table.sum()
    mx = (table.sum(axis=1) * rx).sum() / n
    my = (table.sum(axis=0) * ry).sum() / n
    dx, dy = rx - mx, ry - my
    cov = float(dx @ table @ dy)
    vx = float((table.sum(axis=1) * dx * dx).sum())
    vy = float((table.sum(axis=0) * dy * dy).sum())
    if vx <= 0 or vy <= 0:
        return math.nan
    return cov / math.sqrt(vx * vy)


def rho_from_table(table: FloatArray) -> tuple[float, float, float]:
    """rho from midranks, and its bounds over every unbinned dataset with this table."""
    n = float(table.sum())
    a, b = table.sum(axis=1), table.sum(axis=0)
    rx, ry = midranks(a), midranks(b)
    rho = _weighted_corr(table, rx, ry)
    mean = (n + 1) / 2
    # bounds on the sum over rows of (rank x)(rank y), two ways, each valid: keep the tighter
    low_cell, high_cell = _cellwise(table, a, b)
    low_dev, high_dev = _deviations(table, a, b, rx, ry)
    cov_lo = max(low_cell, low_dev) / n - mean * mean
    cov_hi = min(high_cell, high_dev) / n - mean * mean
    untied = (n * n - 1) / 12
    binned = math.sqrt(
        float((a * (rx - mean) ** 2).sum()) / n * float((b * (ry - mean) ** 2).sum()) / n
    )
    if binned <= 0:
        return rho, -1.0, 1.0
    upper = cov_hi / (binned if cov_hi > 0 else untied)
    lower = cov_lo / (untied if cov_lo > 0 else binned)
    return rho, max(-1.0, lower), min(1.0, upper)


def _cellwise(table: FloatArray, a: FloatArray, b: FloatArray) -> tuple[float, float]:
    """Each cell on its own: its count of the largest ranks of its intervals paired in order
    (most), or of the smallest paired in reverse (least)."""
    m = table
    xl, yl = np.cumsum(a) - a + 1, np.cumsum(b) - b + 1
    xh, yh = xl + a - 1, yl + b - 1
    s1, s2 = m * (m - 1) / 2, (m - 1) * m * (2 * m - 1) / 6
    top = m * np.outer(xh, yh) - (xh[:, None] + yh[None, :]) * s1 + s2
    far = yl[None, :] + m - 1
    bottom = m * xl[:, None] * far + (far - xl[:, None]) * s1 - s2
    return float(np.where(m > 0, bottom, 0.0).sum()), float(np.where(m > 0, top, 0.0).sum())


def _deviations(
    table: FloatArray, a: FloatArray, b: FloatArray, rx: FloatArray, ry: FloatArray
) -> tuple[float, float]:
    """With each rank its interval's midrank plus a deviation e: the sum is the midranks' sum,
    plus the deviations of x weighted by the y midranks (and vice versa), whose extremes give
    each cell its interval's highest (or lowest) deviations in order of the other midrank, plus
    the products of deviations, at most the cell's largest magnitudes paired."""
    m = table
    base = float(rx @ m @ ry)
    linear_hi = linear_lo = 0.0
    for counts, margin, weights, transpose in ((m, a, ry, False), (m.T, b, rx, True)):
        del transpose
        half = (margin - 1)[:, None] / 2
        above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1] - counts  # in later intervals
        below = np.cumsum(counts, axis=1) - counts  # in earlier intervals
        spread = counts * (half - (counts - 1) / 2)
        linear_hi += float(((spread - counts * above) * weights[None, :]).sum())
        linear_lo += float(((spread - counts * below) * weights[None, :]).sum())
    q, r = m // 2, m % 2
    ux, uy = (a - 1)[:, None] / 2, (b - 1)[None, :] / 2
    pairs = q * ux * uy - (ux + uy) * q * (q - 1) / 2 + (q - 1) * q * (2 * q - 1) / 6
    products = float((2 * pairs + r * (ux - q) * (uy - q)).sum())
    return base + linear_lo - products, base + linear_hi + products


def coarsen(fine: IntArray, a: int, b: int) -> IntArray:
    """The (bins, bins) table summed into 2^a × 2^b equal cells."""
    bins = fine.shape[0]
    rows = fine.reshape(2**a, bins >> a, bins).sum(axis=1)
    return np.asarray(rows.reshape(2**a, 2**b, bins >> b).sum(axis=2), dtype=np.int64)


def smallest_cells(fine: IntArray, bins: int) -> IntArray:
    """Per pair of tree levels (a, b): the smallest non-empty cell of the 2^a × 2^b grid (0 if
    there are no rows), which passes the minimum cell count exactly when every cell does."""
    depth = grid.levels(bins)
    out = np.zeros((depth, depth), dtype=np.int64)
    for a, b in itertools.product(range(depth), range(depth)):
        cells = coarsen(fine, a, b)
        filled = cells[cells > 0]
        out[a, b] = int(filled.min()) if filled.size else 0
    return out


def finest_levels(passes: npt.NDArray[np.bool_]) -> tuple[int, int]:
    """The level pair passing everywhere that splits both columns, with the most cells, then
    the most even (the coarsest grid, a single cell, when none finer passes)."""
    found = [(a, b) for a, b in zip(*np.nonzero(passes), strict=True)]
    if not found:
        return 0, 0
    # a column with a single interval has no ranks: grids that split both come first
    a, b = max(found, key=lambda ab: (min(ab) > 0, ab[0] + ab[1], -abs(ab[0] - ab[1]), ab[0]))
    return int(a), int(b)


def checked_levels(value: object, bins: int) -> tuple[int, int]:
    """The hub's level pair, checked: two whole numbers within the trees' depth."""
    depth = grid.levels(bins)
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not all(0 <= int(v) < depth for v in value)
    ):
        raise InvalidRequest(
            f"{NAME}: the grid must be two tree levels from 0 to {depth - 1}; this node refuses it"
        )
    return int(value[0]), int(value[1])


class Spearman(Algorithm[SpearmanParams, SpearmanSpec, SpearmanResult]):
    name = NAME
    conventions = (
        "rho is Pearson's correlation of midranks, as scipy's `spearmanr` (complete pairs), "
        "with every value of an interval of the agreed grid ranked at the interval's midrank: "
        "equal to scipy's when each interval holds one distinct value of its column. "
        "`rho_min <= rho <= rho_max` holds for the unbinned data whatever the values inside "
        "the cells. The grid is uniform per column (2^a x 2^b equal cells over the "
        "dictionary's ranges) and every cell holds zero or at least each site's minimum cell "
        "count, so small sites or long sparse tails coarsen it quickly; a grid with a single "
        "interval for a column is refused with the reason."
    )
    allows_missing_sites = True
    parameters = SpearmanParams
    result_type = SpearmanResult
    max_rounds = 2
    profile = DisclosureProfile(
        parts={"n": PartKind.COUNT, "passes": PartKind.COUNT, "table": PartKind.COUNT},
        # n beside a table with a suppressed cell would give its count by subtraction
        guards={"n": "table"},
        whole=frozenset({"table"}),
        indicators=frozenset({"passes"}),
        description=(
            "the count of complete pairs; round 0: per pair of levels of the two columns' "
            "binary trees over the fine bins, whether the smallest non-empty cell of that "
            "uniform grid passes the site's minimum (pass/fail only); round 1: the counts in "
            "the cells of the agreed grid"
        ),
    )

    def initial_state(self, spec: SpearmanSpec, dictionary: Dictionary) -> State:
        return {"round": 0}

    def check_private(self, spec: SpearmanSpec, dictionary: Dictionary) -> None:
        # the smallest non-empty cell moves by more than one when a row fills an empty cell:
        # its flags have no bounded sensitivity to calibrate noise to
        raise InvalidRequest(
            f"{NAME}: no differentially private mechanism yet (the grid's agreement flags have "
            "no bounded sensitivity); not available where the policy asks for noise"
        )

    def check_state(self, spec: SpearmanSpec, state: State, dictionary: Dictionary) -> None:
        if state.get("levels") is not None:
            checked_levels(state["levels"], spec.bins)

    def partitions(
        self, spec: SpearmanSpec, state: State, dictionary: Dictionary
    ) -> tuple[Partition, ...]:
        if state.get("levels") is None:
            return ()
        a, b = checked_levels(state["levels"], spec.bins)
        step = [spec.bins >> a, spec.bins >> b]  # the fine bins per cell, as coarsen sums them
        cells = tuple(
            Binning(column.name, tuple(bin_edges(column, spec.bins)[::width].tolist()))
            for column, width in zip((spec.x, spec.y), step, strict=True)
        )
        return (Partition(bins=cells),)

    def local(self, view: DataView, spec: SpearmanSpec, state: State, cache: Cache) -> LocalResult:
        frame = design.complete_frame(view, [spec.x.name, spec.y.name])
        bins = spec.bins
        ix = grid.fine_index(frame[spec.x.name].to_numpy(np.float64), bin_edges(spec.x, bins))
        iy = grid.fine_index(frame[spec.y.name].to_numpy(np.float64), bin_edges(spec.y, bins))
        fine = np.bincount(ix * bins + iy, minlength=bins * bins).reshape(bins, bins)
        fine = fine.astype(np.int64)
        parts = {"n": Part(PartKind.COUNT, np.array(len(frame)))}
        if state.get("levels") is None:
            parts["passes"] = Part(PartKind.COUNT, smallest_cells(fine, bins))
        else:
            a, b = checked_levels(state["levels"], bins)
            parts["table"] = Part(PartKind.COUNT, coarsen(fine, a, b))
        # a pair lies in one cell (no sensitivity for "passes": see check_private)
        sensitivity = {"n": 1.0, "table": 1.0}
        return LocalResult(parts, evidence=Evidence(sensitivity=sensitivity))

    def combine(
        self, total: Aggregate, spec: SpearmanSpec, state: State, dictionary: Dictionary
    ) -> Outcome:
        checks.refuse_if_suppressed(total, ["n"], NAME)
        if state.get("levels") is None:
            if int(total.value("n")) < 2:
                raise ModelError(f"{NAME}: fewer than two complete pairs at all sites")
            a, b = finest_levels(total.value("passes") == total.sites)
            return NextRound(
                {"round": 1, "levels": [a, b]}, note=f"a grid of {2**a} x {2**b} cells"
            )
        if total.suppressed("table").any():
            raise DisclosureRefused(
                f"{NAME}: a site's count in a cell of the agreed grid is below its minimum cell "
                "count; nothing can be released"
            )
        a, b = checked_levels(state["levels"], spec.bins)
        bx = list(range(0, spec.bins + 1, spec.bins >> a))
        by = list(range(0, spec.bins + 1, spec.bins >> b))
        # noisy counts (L2/L3) may be negative; clamped once summed over sites
        table = np.maximum(total.value("table").astype(np.float64), 0.0)
        rho, low, high = rho_from_table(table)
        if not math.isfinite(rho):
            raise ModelError(
                f"{NAME}: the grid every site's data supports has a single interval for "
                f"{spec.x.name if len(bx) == 2 else spec.y.name} (a site has fewer rows than its "
                "minimum cell count in one half of the range), so there are no ranks to "
                "correlate; widen the cohort"
            )
        return Final(
            SpearmanResult(
                spec.x.name,
                spec.y.name,
                int(table.sum()),
                rho,
                low,
                high,
                tuple(float(e) for e in bin_edges(spec.x, spec.bins)[bx]),
                tuple(float(e) for e in bin_edges(spec.y, spec.bins)[by]),
                tuple(tuple(int(v) for v in row) for row in table),
            )
        )
