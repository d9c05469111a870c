"""Checking an algorithm's parameters against the data dictionary, with messages a researcher can act on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from causeway.model.contribution import Aggregate
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import DisclosureRefused, InvalidRequest

BOOLEAN_LEVELS = ("False", "True")


def lookup(name: str, dictionary: Dictionary) -> Column:
    found = dictionary.get(name)
    if found is None:
        raise InvalidRequest(
            f"unknown column {name!r}; valid columns are: {', '.join(dictionary.names)}"
        )
    return found


def numeric(algorithm: str, col: Column) -> Column:
    if not col.type.is_numeric:
        raise InvalidRequest(f"{algorithm}: column {col.name!r} is {col.type.value}, not numeric")
    return col


def levels(algorithm: str, col: Column) -> tuple[str, ...]:
    """The levels of a categorical or boolean column, in the dictionary's order."""
    if col.type is ColumnType.BOOLEAN:
        return BOOLEAN_LEVELS
    if col.type is ColumnType.CATEGORICAL and col.levels:
        return col.levels
    raise InvalidRequest(
        f"{algorithm}: column {col.name!r} is {col.type.value}; it needs a categorical or "
        "boolean column"
    )


def whole(algorithm: str, key: str, value: int, low: int, high: int) -> int:
    """A whole-number parameter within [low, high]."""
    if not low <= value <= high:
        raise InvalidRequest(f"{algorithm}: {key} must be a whole number from {low} to {high}")
    return value


def tolerance(algorithm: str, key: str, value: float) -> float:
    """A convergence tolerance: a number strictly between 0 and 1."""
    if not 0 < value < 1:
        raise InvalidRequest(f"{algorithm}: {key} must be a number between 0 and 1")
    return value


def refuse_if_suppressed(total: Aggregate, names: Iterable[str], what: str) -> None:
    """Raise DisclosureRefused when a count this result depends on was withheld by a site's gate."""
    for name in names:
        if name in total.parts and total.suppressed(name).any():
            raise DisclosureRefused(
                f"{what}: a site's {name} is below its disclosure threshold, so the "
                "result cannot be released; widen the cohort or the groups"
            )


def as_float(series: pd.Series[Any]) -> npt.NDArray[np.float64]:
    """A numeric, boolean or nullable column as float64 with NaN for missing."""
    return np.asarray(pd.to_numeric(series, errors="coerce").astype("float64"), dtype=np.float64)
