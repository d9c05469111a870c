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
from dataclasses import dataclass

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
    with their weights or None), in four passes: scale, means, the centred Gram matrix, and
    each row's leverage; no pass holds more than a block beside the Gram matrix."""
    n, magnitude, wmax, finite = _scan(read)
    if not finite:
        return _unjudgeable(n)
    if n == 0:
        return DesignFacts(0, 0, 0.0)
    unit = np.where(magnitude > 0, magnitude, 1.0)
    total, sums = 0.0, np.zeros(unit.shape[0])
    for block, w in _kept(read, unit, wmax):
        total += float(block.shape[0] if w is None else w.sum())
        sums += block.sum(axis=0) if w is None else w @ block
    mean = sums / total
    gram = np.zeros((unit.shape[0], unit.shape[0]))
    for block, w in _kept(read, unit, wmax):
        centred = block - mean if w is None else (block - mean) * np.sqrt(w)[:, None]
        gram += centred.T @ centred
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


def _scan(read: Blocks) -> tuple[int, FloatArray, float | None, bool]:
    """The rows of positive weight, each column's largest magnitude among them (leverage does
    not change when a column is divided by it, and no sum of squares then overflows), the
    largest weight (None unweighted) and whether every value and weight is finite (if not, the
    rows counted so far)."""
    n, magnitude, wmax, weighted = 0, None, 0.0, False
    for block, w in read():
        if w is not None:
            weighted = True
            if not np.all(np.isfinite(w)):
                return n + block.shape[0], np.zeros(block.shape[1]), None, False
            keep = w > 0
            if not keep.all():
                block, w = block[keep], w[keep]
            if w.size:
                wmax = max(wmax, float(w.max()))
        if magnitude is None:
            magnitude = np.zeros(block.shape[1])
        if not block.shape[0]:
            continue
        if not np.all(np.isfinite(block)):
            return n + block.shape[0], magnitude, None, False
        magnitude = np.maximum(magnitude, np.max(np.abs(block), axis=0))
        n += block.shape[0]
    if magnitude is None:
        return 0, np.zeros(0), None, True
    return n, magnitude, (wmax if weighted else None), True


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
