"""What an algorithm's local step hands the node's release gate, and what it is judged against.

A :class:`LocalResult` is the contribution before the gate: additive parts, a little declared meta,
and the :class:`Evidence` the gate judges them by (the design, the summands, the sensitivities),
which never leaves the node. The :class:`DisclosureProfile` is what the algorithm declared it may
release. These are the contribution's shape, so they live beside it in ``model``: the release gate
(``privacy``) needs nothing from ``algorithms``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from causeway.model.contribution import Part, PartKind


@dataclass(frozen=True)
class DisclosureProfile:
    """What leaves a node for this algorithm, declared once and enforced by the release gate.

    ``parts`` maps each additive part's name to its kind; ``meta`` names the non-additive values;
    ``guards`` maps a part to the count part that guards it: when the gate suppresses the guard
    (a cohort below the policy's minimum), the guarded part is withheld too.
    ``free_cells`` names multi-cell count parts whose cells do not partition rows (pairwise n,
    rows behind each design column): their small cells are suppressed one by one; every other
    multi-cell count part is a table and gets complementary suppression.
    ``whole`` names parts released whole or not at all: a suppressed cell refuses the release
    (tables on an agreed grid, where a suppressed interval beside a coarser release of the same
    cohort would be given back by subtraction).
    ``indicators`` names count parts released only as 1 (the cell passes the minimum cell count:
    zero or at least the minimum) or 0, never as counts: how sites agree on a coarse grid.
    ``cellwise`` names parts judged cell by cell rather than whole: a cell is withheld where its
    guard's matching cells are suppressed (the guard read in the part's shape, each cell
    matching a run of the guard's cells), and a sum whose summands are given one per cell is
    judged by the dominance rules cell by cell. Table 1 releases one cell per column and group,
    so that one rare group or one dominated column does not withhold the rest.
    """

    parts: Mapping[str, PartKind]
    meta: frozenset[str] = frozenset()
    guards: Mapping[str, str] = field(default_factory=dict)
    free_cells: frozenset[str] = frozenset()
    whole: frozenset[str] = frozenset()
    indicators: frozenset[str] = frozenset()
    cellwise: frozenset[str] = frozenset()
    description: str = ""


@dataclass(frozen=True)
class Binning:
    """A numeric column cut into released intervals: a value v lies in interval j when
    ``edges[j] < v <= edges[j + 1]`` (the first interval also holds its lower edge; values
    beyond the edges fall in the first or last), as the agreed grids count them."""

    column: str
    edges: tuple[float, ...]


@dataclass(frozen=True)
class Partition:
    """Sets of rows whose counts or sums a release gives, declared by the algorithm from its
    parameters and round state alone: one set per combination of the values of ``columns``
    (levels, booleans, 0/1 events) and of the intervals of each :class:`Binning`; a row missing
    any of them is in no set. The differencing guard remembers every such set beside the query's
    cohort: a group, a cell or an interval released once is a cohort an attacker can difference
    a later query against (``count(sex == f & age != v)`` minus the females of a crosstab)."""

    columns: tuple[str, ...] = ()
    bins: tuple[Binning, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every column the sets are defined by, in order."""
        return (*self.columns, *(b.column for b in self.bins))

    @property
    def kind(self) -> str:
        """What the sets are sets of, whatever the order, the grid or the analysis: the cells of
        one table released for two cohorts are of one kind (the differencing guard compares
        them), a crosstab's cells and Table 1's cells of the same two columns too."""
        return ",".join(sorted(self.names))


@dataclass(frozen=True)
class Summands:
    """What a sum part adds up, for the dominance rules: the total of the contributors' absolute
    values and the largest few of them, in decreasing order."""

    total: float
    largest: tuple[float, ...]

    @classmethod
    def of(cls, values: npt.NDArray[np.float64], keep: int = 3) -> Summands:
        magnitudes = np.abs(np.asarray(values, dtype=np.float64))
        top = np.sort(magnitudes)[::-1][:keep] if magnitudes.size else magnitudes
        return cls(float(magnitudes.sum()), tuple(float(v) for v in top))


FloatArray = npt.NDArray[np.float64]


class DesignBlocks(Protocol):
    """A design too large for a node's memory budget, read again block by block whenever its
    rows are needed (each pass reads the same rows, in the same order). ``weights`` are the
    round's row weights beside each block, or None where the design is judged unweighted."""

    def blocks(self) -> Iterator[tuple[FloatArray, FloatArray | None]]: ...


@dataclass(frozen=True)
class WeightRange:
    """A streamed design's row weights for one round (:class:`DesignBlocks` yielding them):
    their smallest and largest positive value and whether every weight is positive, counted as
    the round's sums were taken, so the gate's bound on weighted leverage needs no pass."""

    rows: DesignBlocks
    low: float
    high: float
    all_positive: bool


@dataclass(frozen=True)
class Evidence:
    """What the release gate judges a release by; never released itself.

    ``designs``: each model design matrix (rows x columns) the parts were computed from, so the
    gate can refuse a design that isolates a few rows whatever formula built it; a design over
    a node's memory budget is given as :class:`DesignBlocks` (the same object every round).
    ``weights``: per design, the row weights the released sums use where they are not all equal
    (prior weights, IRLS working weights at the hub's coefficients): the design is judged
    weighted, since a weight can single a row out as well as a column can; a streamed design's
    as a :class:`WeightRange`.
    ``summands``: per sum part, its contributors (for the dominance rules), or one set per
    group or column the part's cells add up: the part is withheld if any is dominated.
    ``sensitivity``: per part, how far adding or removing one row can move it (L2 norm), from the
    dictionary's bounds, never from the data; differential privacy calibrates its noise to it, and
    a part without one cannot be released where the policy asks for noise.
    ``tables``: per multi-cell count part that holds several tables side by side along its last
    axis (Table 1: one per column, groups down the first axis), their widths; each table gets
    complementary suppression on its own, since only its own margins are sums of its cells.
    """

    designs: Mapping[str, FloatArray | DesignBlocks] = field(default_factory=dict)
    weights: Mapping[str, FloatArray | WeightRange] = field(default_factory=dict)
    summands: Mapping[str, Summands | tuple[Summands, ...]] = field(default_factory=dict)
    sensitivity: Mapping[str, float] = field(default_factory=dict)
    tables: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalResult:
    parts: Mapping[str, Part]
    meta: Mapping[str, Any] = field(default_factory=dict)
    evidence: Evidence = field(default_factory=Evidence)
