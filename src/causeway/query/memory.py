"""The reference evaluator: a filter over a pandas DataFrame with SQL's three-valued logic.

Every SQL engine is tested against this one (tests/spec). A comparison with a missing value is
unknown; ``~unknown`` is unknown; only rows where the filter is true are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from causeway.query.ir import And, Between, Compare, IsIn, IsNull, Node, Not, Or

Mask = npt.NDArray[np.bool_]


def evaluate(node: Node | None, frame: pd.DataFrame) -> Mask:
    """True for the rows the filter keeps."""
    if node is None:
        return np.ones(len(frame), dtype=bool)
    true, _unknown = _eval(node, frame)
    return true


def _eval(node: Node, frame: pd.DataFrame) -> tuple[Mask, Mask]:
    match node:
        case Compare(column=c, op=op, value=v):
            series = frame[c]
            missing = series.isna().to_numpy()
            values = _comparable(series)
            result = _compare(values, op, v)
            return result & ~missing, missing
        case IsIn(column=c, values=vs):
            series = frame[c]
            missing = series.isna().to_numpy()
            return _comparable(series).isin(list(vs)).to_numpy() & ~missing, missing
        case Between(column=c, low=lo, high=hi):
            series = frame[c]
            missing = series.isna().to_numpy()
            values = _comparable(series)
            return (values >= lo).to_numpy() & (values <= hi).to_numpy() & ~missing, missing
        case IsNull(column=c):
            return frame[c].isna().to_numpy(), np.zeros(len(frame), dtype=bool)
        case And(left=a, right=b):
            (ta, ua), (tb, ub) = _eval(a, frame), _eval(b, frame)
            false_a, false_b = ~ta & ~ua, ~tb & ~ub
            return ta & tb, ~(ta & tb) & ~(false_a | false_b)
        case Or(left=a, right=b):
            (ta, ua), (tb, ub) = _eval(a, frame), _eval(b, frame)
            return ta | tb, ~(ta | tb) & (ua | ub)
        case Not(arg=a):
            ta, ua = _eval(a, frame)
            return ~ta & ~ua, ua
    raise AssertionError(f"unchecked filter node {node!r}")


def _comparable(series: pd.Series[Any]) -> pd.Series[Any]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype(object)
    return series


def _compare(values: pd.Series[Any], op: str, value: Any) -> Mask:
    filled = values
    ops = {
        "==": lambda: filled == value,
        "!=": lambda: filled != value,
        "<": lambda: filled < value,
        "<=": lambda: filled <= value,
        ">": lambda: filled > value,
        ">=": lambda: filled >= value,
    }
    return np.asarray(ops[op](), dtype=bool)
