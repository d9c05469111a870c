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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

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


def design_facts(x: FloatArray, weights: FloatArray | None = None) -> DesignFacts:
    """Rank and maximum leverage of [1, X] (``x`` is rows x columns), in two passes over the rows
    in blocks. With ``weights`` (the row weights the released sums use, such as IRLS's working
    weights), of W^1/2 [1, X]: a weight can single a row out as well as a column can, and rows of
    weight zero do not count. The intercept's direction is then sqrt(w): columns are centred at
    their weighted means and each row's leverage is w_i / sum(w) plus its part in the centred,
    weighted columns."""
    x = np.asarray(x, dtype=np.float64)
    w: FloatArray | None = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if not np.all(np.isfinite(w)):
            return _unjudgeable(x.shape[0])
        keep = w > 0
        if not keep.all():
            x, w = x[keep], w[keep]
    n = x.shape[0]
    if n == 0:
        return DesignFacts(0, 0, 0.0)
    unit = _unit_columns(x)
    if unit is None:
        return _unjudgeable(n)
    x = unit
    if w is not None:
        w = w / w.max()
    total = float(n if w is None else w.sum())
    mean = x.mean(axis=0) if w is None else (w @ x) / total
    gram = np.zeros((x.shape[1], x.shape[1]))
    for block, root in _blocks(x, w):
        centred = block - mean if root is None else (block - mean) * root
        gram += centred.T @ centred
    scale = np.sqrt(np.diag(gram))
    varying = scale > 0  # a constant column lies in the intercept's span
    own = 1.0 / n if w is None else float(w.max() / total)  # the intercept's part
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
    rotation = np.zeros((x.shape[1], eigenvalues.shape[0]))
    rotation[varying] = vectors / np.sqrt(eigenvalues) / scale[varying][:, None]
    largest = 0.0
    for block, root in _blocks(x, w):
        if root is None:
            rotated = (block - mean) @ rotation
            intercept: FloatArray | float = 1.0 / total
        else:
            rotated = ((block - mean) * root) @ rotation
            intercept = root[:, 0] ** 2 / total
        leverage = np.einsum("ij,ij->i", rotated, rotated) + intercept
        block_max = float(leverage.max())
        if not np.isfinite(block_max):
            return _unjudgeable(n)
        largest = max(largest, block_max)
    return DesignFacts(n, int(varying.sum()) + 1, largest)


def _blocks(
    x: FloatArray, w: FloatArray | None, rows: int = 65_536
) -> list[tuple[FloatArray, FloatArray | None]]:
    """The rows in blocks, each with the square roots of its rows' weights (None unweighted)."""
    out: list[tuple[FloatArray, FloatArray | None]] = []
    for start in range(0, x.shape[0], rows):
        root = None if w is None else np.asarray(np.sqrt(w[start : start + rows])[:, None])
        out.append((x[start : start + rows], root))
    return out


def _unit_columns(x: FloatArray) -> FloatArray | None:
    """Each column divided by its largest magnitude (leverage does not change), so that no sum
    of squares overflows; None when a value is not finite."""
    if not np.all(np.isfinite(x)):
        return None
    magnitude = np.max(np.abs(x), axis=0) if x.shape[0] else np.ones(x.shape[1])
    return np.asarray(x / np.where(magnitude > 0, magnitude, 1.0), dtype=np.float64)


def _unjudgeable(n: int) -> DesignFacts:
    """A design whose arithmetic overflowed or is not finite: refused, never passed."""
    return DesignFacts(n, 0, 1.0, ill_conditioned=True)
