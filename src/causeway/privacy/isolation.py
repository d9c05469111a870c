"""Whether a model's design isolates a few rows, judged from the design the node actually built.

A model releases sums such as X'y. If some combination of the design's columns picks out one row
(or a group of m rows), that combination of the released sums is that row's value (or the group's
sum): a shifted indicator ``I(2 + 0 ** ((bmi - 44.1) ** 2))``, a rare level, an interaction, a
near-duplicate column or an extreme value all do it, whatever the formula looks like.

Leverage measures exactly this. With H the projection onto the span of [1, X], a row i whose unit
vector lies in that span has h_ii = 1, and every member of a group of m rows that the span isolates
has h_ii >= 1/m (h_ii = |H e_i|^2 >= (e_i' H d)^2 / |H d|^2 = 1/m for the group's indicator d).
So a maximum leverage below 1/(k - 1) proves that no group smaller than k is isolated. The
intercept is always added, which makes the test blind to shifts and to the site's own centring.

Directions of the design with tiny but non-zero spread still carry values out (a column equal to
another plus 1e-9 x an indicator), and no numerical rank can be trusted to keep them: a design
whose scaled cross-product matrix is that ill-conditioned is refused as nearly aliased.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from causeway.model.release import DesignBlocks

FloatArray = npt.NDArray[np.float64]
# Below this ratio of extreme eigenvalues of the scaled cross-product matrix, leverage from that
# matrix would lose directions (their singular values are its square roots): use QR instead.
_WELL_CONDITIONED = 1e-8


@dataclass(frozen=True)
class DesignFacts:
    """``rank`` counts the intercept; ``max_leverage`` is over the rows of [1, X]."""

    rows: int
    rank: int
    max_leverage: float
    ill_conditioned: bool = False

    @property
    def residual_df(self) -> int:
        return self.rows - self.rank


Blocks = Callable[[], Iterable[tuple[FloatArray, FloatArray | None]]]


def design_facts(x: FloatArray | DesignBlocks, weights: FloatArray | None = None) -> DesignFacts:
    """Rank and maximum leverage of [1, X] (``x`` is rows x columns, or a design read block by
    block, :class:`DesignBlocks`, with its weights beside each block). With ``weights`` (the row
    weights the released sums use, such as IRLS's working weights), of W^1/2 [1, X]: a weight can
    single a row out as well as a column can, and rows of weight zero do not count. The
    intercept's direction is then sqrt(w): columns are centred at their weighted means and each
    row's leverage is w_i / sum(w) plus its part in the centred, weighted columns."""
    if isinstance(x, np.ndarray) or not hasattr(x, "blocks"):
        return facts_of_blocks(_array_blocks(np.asarray(x, dtype=np.float64), weights))
    return facts_of_blocks(x.blocks)


def facts_of_blocks(read: Blocks) -> DesignFacts:
    """:func:`design_facts` of the rows ``read()`` yields (each call the same rows, as blocks
    with their weights or None), in two passes: the scale, the means and the centred Gram
    matrix in one (:class:`_Moments`), then each row's leverage; no pass holds more than a
    block beside the Gram matrix."""
    moments = _Moments.of(read)
    n = moments.n
    if not moments.finite:
        return _unjudgeable(n)
    if n == 0:
        return DesignFacts(0, 0, 0.0)
    unit, wmax, total, mean, gram = (
        moments.unit,
        moments.wmax,
        moments.total,
        moments.mean,
        moments.gram,
    )
    scale = np.sqrt(np.diag(gram))
    varying = scale > 0  # a constant column lies in the intercept's span
    own = 1.0 / n if wmax is None else 1.0 / total  # the intercept's part (weights over wmax)
    if not varying.any():
        return DesignFacts(n, 1, own)
    scaled = gram[np.ix_(varying, varying)] / np.outer(scale[varying], scale[varying])
    if not np.all(np.isfinite(scaled)):
        return _unjudgeable(n)
    eigenvalues, vectors = np.linalg.eigh(scaled)
    if not eigenvalues[0] > _WELL_CONDITIONED * eigenvalues[-1]:
        # Nearly aliased columns: a direction of tiny spread still carries values out of X'y in
        # float64 (a column equal to another plus 5e-10 x an indicator does), and no numerical
        # rank is safe to trust, so such a design is refused outright.
        return DesignFacts(n, int(varying.sum()) + 1, 1.0, ill_conditioned=True)
    rotation = np.zeros((unit.shape[0], eigenvalues.shape[0]))
    rotation[varying] = vectors / np.sqrt(eigenvalues) / scale[varying][:, None]
    largest = 0.0
    for block, w in _kept(read, unit, wmax):
        if w is None:
            rotated = (block - mean) @ rotation
            intercept: FloatArray | float = 1.0 / total
        else:
            rotated = ((block - mean) * np.sqrt(w)[:, None]) @ rotation
            intercept = w / total
        leverage = np.einsum("ij,ij->i", rotated, rotated) + intercept
        block_max = float(leverage.max()) if leverage.size else 0.0
        if not np.isfinite(block_max):
            return _unjudgeable(n)
        largest = max(largest, block_max)
    return DesignFacts(n, int(varying.sum()) + 1, largest)


@dataclass
class _Moments:
    """One pass over the rows of positive weight: their number, each column's largest
    magnitude (``unit``: leverage does not change when a column is divided by it, and no sum
    of squares then overflows), the largest weight (None unweighted), whether every value and
    weight is finite (if not, ``n`` is the rows counted so far), and, of the columns over
    ``unit`` and the weights over ``wmax``, the total weight, the (weighted) means and the
    centred Gram matrix.

    Each block is centred at its own mean and merged into the running figures by the pairwise
    update (Chan, Golub and LeVeque): the same means and Gram matrix as centring at the overall
    mean in a second pass, to rounding. Where a block raises a column's largest magnitude or
    the largest weight, the figures so far are rescaled to the new units first."""

    n: int = 0
    unit: FloatArray = field(default_factory=lambda: np.zeros(0))
    wmax: float | None = None
    finite: bool = True
    total: float = 0.0
    mean: FloatArray = field(default_factory=lambda: np.zeros(0))
    gram: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    @classmethod
    def of(cls, read: Blocks) -> _Moments:
        out = cls()
        magnitude: FloatArray | None = None
        wmax, weighted = 0.0, False
        for block, w in read():
            if w is not None:
                weighted = True
                if not np.all(np.isfinite(w)):
                    out.n, out.finite = out.n + block.shape[0], False
                    return out
                keep = w > 0
                if not keep.all():
                    block, w = block[keep], w[keep]
            if magnitude is None:
                p = block.shape[1]
                magnitude, out.mean, out.gram = np.zeros(p), np.zeros(p), np.zeros((p, p))
            if not block.shape[0]:
                continue
            if not np.all(np.isfinite(block)):
                out.n, out.finite = out.n + block.shape[0], False
                return out
            grown = np.maximum(magnitude, np.max(np.abs(block), axis=0))
            if np.any(grown != magnitude):  # the figures so far into the new units
                ratio = _units(magnitude) / _units(grown)
                out.mean = out.mean * ratio
                out.gram = out.gram * np.outer(ratio, ratio)
                magnitude = grown
            if w is not None:
                heaviest = float(w.max())
                if heaviest > wmax:  # the weights so far over the new largest
                    out.total *= wmax / heaviest
                    out.gram = out.gram * (wmax / heaviest)
                    wmax = heaviest
            out._merge(block / _units(magnitude), None if w is None else w / wmax)
            out.n += block.shape[0]
        if magnitude is not None:
            out.unit = _units(magnitude)
        out.wmax = wmax if weighted else None
        return out

    def _merge(self, block: FloatArray, w: FloatArray | None) -> None:
        """Add one block of rows (in the current units) to the total, means and Gram matrix."""
        size = float(block.shape[0]) if w is None else float(w.sum())
        if size == 0.0:
            return
        mean = (block.sum(axis=0) if w is None else w @ block) / size
        centred = block - mean
        gram = centred.T @ (centred if w is None else centred * w[:, None])
        before, total = self.total, self.total + size
        delta = mean - self.mean
        self.mean = self.mean + delta * (size / total)
        self.gram = self.gram + gram + np.outer(delta, delta) * (before * size / total)
        self.total = total


def _units(magnitude: FloatArray) -> FloatArray:
    """Each column's largest magnitude, 1 for a column of zeros."""
    return np.where(magnitude > 0, magnitude, 1.0)


def _kept(
    read: Blocks, unit: FloatArray, wmax: float | None
) -> Iterator[tuple[FloatArray, FloatArray | None]]:
    """Each block's rows of positive weight, columns over their magnitudes, weights over the
    largest weight (None unweighted)."""
    for block, w in read():
        if w is not None and wmax is not None:
            keep = w > 0
            if not keep.all():
                block, w = block[keep], w[keep]
            yield block / unit, w / wmax
        else:
            yield block / unit, None


def _array_blocks(x: FloatArray, weights: FloatArray | None, rows: int = 65_536) -> Blocks:
    """An in-memory design as blocks of ``rows`` rows with their weights."""
    w = None if weights is None else np.asarray(weights, dtype=np.float64)

    def read() -> Iterator[tuple[FloatArray, FloatArray | None]]:
        if x.shape[0] == 0:
            yield x, None if w is None else w
        for start in range(0, x.shape[0], rows):
            yield x[start : start + rows], None if w is None else w[start : start + rows]

    return read


def _unjudgeable(n: int) -> DesignFacts:
    """A design whose arithmetic overflowed or is not finite: refused, never passed."""
    return DesignFacts(n, 0, 1.0, ill_conditioned=True)
