"""Where a bounded link's linear predictor may go: judged from the dictionary alone.

A link that can put fitted means outside the family's range (log-binomial: eta <= 0; binomial
identity: 0 < eta < 1; identity or inverse for a count or gamma mean: eta > 0) would have a node
clip its rows there, and the clipped deviance turns into a count of outcomes on either side of a
threshold the hub chose. So a node refuses coefficients whose linear predictor leaves the range
anywhere over the dictionary's bounds (:func:`refuse_outside`), and the hub, which knows the
same dictionary, halves each IRLS step until the next coefficients stay inside
(:func:`pull_inside`). An estimate whose maximum lies beyond (the last step halved) is refused:
the fit would be on the edge of the dictionary's range, not at the maximum of the likelihood.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from causeway.algorithms import design, params
from causeway.algorithms.family import Family, Model
from causeway.algorithms.glm_spec import Spec
from causeway.algorithms.link import Link
from causeway.model.dictionary import Dictionary
from causeway.model.errors import DisclosureRefused

FloatArray = npt.NDArray[np.float64]
HALVINGS = 40


def allowed(model: Model) -> tuple[float, float] | None:
    """The open interval the linear predictor must keep (None: any value is fine)."""
    if not model.bounded:
        return None
    if model.family is Family.BINOMIAL:
        return (-math.inf, 0.0) if model.link is Link.LOG else (0.0, 1.0)
    return (0.0, math.inf)


def _offset(s: Spec, dictionary: Dictionary) -> tuple[float, float]:
    if s.offset is None:
        return 0.0, 0.0
    column = params.lookup(s.offset, dictionary)
    low = -math.inf if column.minimum is None else float(column.minimum)
    high = math.inf if column.maximum is None else float(column.maximum)
    return low, high


def reach(
    s: Spec, dictionary: Dictionary, terms: list[str], beta: FloatArray
) -> tuple[float, float]:
    """The smallest and largest x'beta + offset over the dictionary's corners (``beta`` in the
    terms' own coordinates; one coefficient alone is an intercept-only model)."""
    low, high = _offset(s, dictionary)
    if beta.shape == (1,):
        return float(beta[0]) + low, float(beta[0]) + high
    x = design.corners("glm", s.parsed.rhs, s.parsed.variables, dictionary, terms)
    if not x.size:
        return -math.inf, math.inf
    eta = x @ beta
    return float(eta.min()) + low, float(eta.max()) + high


def inside(model: Model, span: tuple[float, float]) -> bool:
    interval = allowed(model)
    if interval is None:
        return True
    return interval[0] < span[0] and span[1] < interval[1]


def refuse_outside(
    s: Spec, model: Model, dictionary: Dictionary, terms: list[str], betas: list[FloatArray]
) -> None:
    """The node's check of the hub's coefficients (each in the terms' own coordinates)."""
    for beta in betas:
        if not np.all(np.isfinite(beta)) or not inside(model, reach(s, dictionary, terms, beta)):
            raise DisclosureRefused(
                f"glm: the coefficients sent for this round put the {model.link.value} link's "
                f"fitted means outside the {model.family.value} family's range within the "
                "dictionary's bounds, where rows would be clipped to a threshold the hub chose; "
                "this node releases nothing for them"
            )


def pull_inside(
    s: Spec,
    model: Model,
    dictionary: Dictionary,
    terms: list[str],
    step: tuple[FloatArray, FloatArray],
) -> tuple[FloatArray, bool]:
    """The hub's next coefficients: ``step`` is (from, to), both in the terms' coordinates;
    ``to`` itself if it stays inside the range, else the step halved until it does (``from``
    is inside, as the nodes accepted it). Returns the coefficients and whether it halved."""
    start, end = step
    if inside(model, reach(s, dictionary, terms, end)):
        return end, False
    for k in range(1, HALVINGS + 1):
        candidate = start + (end - start) / 2.0**k
        if inside(model, reach(s, dictionary, terms, candidate)):
            return candidate, True
    return start, True
