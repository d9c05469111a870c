"""A contribution's parts as one vector over Z_2^64, the form secure aggregation masks and sums.

Parts are laid out in name order; each is its fixed-point encoding (:mod:`causeway.model.fixedpoint`)
followed by one slot per cell marking whether the release gate suppressed it. The marks are summed
like the values, so the total says how many sites withheld a cell (the plain total treats any as
withheld), never which; the node keeps its own gate report (see ``docs/privacy.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from causeway.model import fixedpoint
from causeway.model.contribution import Part, PartKind, PartLayout
from causeway.model.errors import InvalidRequest

Vector = npt.NDArray[np.uint64]


def size(layout: Sequence[PartLayout]) -> int:
    """The slots a layout takes."""
    return sum(fixedpoint.slots(item.kind, item.size) + item.size for item in layout)


def flatten(parts: Mapping[str, Part], sites: int) -> tuple[tuple[PartLayout, ...], Vector]:
    """The parts' layout and their encoding (raises :class:`~fixedpoint.FixedPointOverflow`
    naming a part whose value the fixed point cannot hold). Each value must stay within the
    range divided by the number of ``sites``, so that no total can wrap around the ring (which,
    once masked, nobody could detect)."""
    layout, pieces = [], []
    for name in sorted(parts):
        part = parts[name]
        _check_total(name, part, sites)
        layout.append(PartLayout(name, part.kind, tuple(int(n) for n in part.values.shape)))
        pieces.append(fixedpoint.encode(name, part))
        pieces.append(part.mask.ravel().astype(np.uint64))
    vector = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint64)
    return tuple(layout), vector


def _check_total(name: str, part: Part, sites: int) -> None:
    values = np.abs(part.values.astype(np.float64, copy=False))
    limit = (fixedpoint.FLOAT_RANGE if part.kind is not PartKind.COUNT else 2.0**62) / sites
    if values.size and not float(values.max()) < limit:  # not: also NaN
        if not np.isfinite(values).all():
            fixedpoint.encode(name, part)  # its own message for a value that is not finite
        raise fixedpoint.FixedPointOverflow(
            f"secure aggregation: part {name!r} holds a value beyond the fixed-point range of "
            f"±{limit:.1e} per site over {sites} sites; rescale the column (e.g. to thousands or "
            "millions of its unit) so its sums, squares and products stay within the range"
        )


def unflatten(layout: Sequence[PartLayout], total: Vector, sites: int) -> dict[str, Part]:
    """The summed parts from the sum over ``sites`` of their encodings (mod 2^64)."""
    if total.shape != (size(layout),):
        raise InvalidRequest("a masked total does not match its layout")
    parts, offset = {}, 0
    for item in layout:
        n = fixedpoint.slots(item.kind, item.size)
        values = fixedpoint.decode(item.kind, item.shape, total[offset : offset + n], sites)
        offset += n
        marks = total[offset : offset + item.size].reshape(item.shape)
        offset += item.size
        parts[item.name] = Part(item.kind, values, marks > 0)
    return parts
