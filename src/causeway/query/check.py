"""Validate a filter against a dataset's dictionary: whitelisted columns, values of the right type.

The result is the same tree with every value normalised to the column's type, ready to compile.
"""

from __future__ import annotations

import datetime as dt
import math

from causeway.model.dictionary import Column, ColumnType, Dictionary, level_text
from causeway.model.errors import QueryError
from causeway.query.ir import And, Between, Compare, IsIn, IsNull, Node, Not, Or, Value

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_EQUALITY_ONLY = (ColumnType.CATEGORICAL, ColumnType.TEXT, ColumnType.BOOLEAN)


def check(node: Node, dictionary: Dictionary) -> Node:
    match node:
        case Compare(column=c, op=op, value=v):
            column = _column(c, dictionary)
            if op not in ("==", "!=") and column.type in _EQUALITY_ONLY:
                raise QueryError(
                    f"column {c!r} is {column.type.value}: compare it with == or != or .isin(), "
                    f"not {op}"
                )
            return Compare(c, op, _coerce(column, v))
        case IsIn(column=c, values=vs):
            column = _column(c, dictionary)
            return IsIn(c, tuple(_coerce(column, v) for v in vs))
        case Between(column=c, low=lo, high=hi):
            column = _column(c, dictionary)
            if column.type in _EQUALITY_ONLY:
                raise QueryError(
                    f"column {c!r} is {column.type.value}: it has no order for between"
                )
            return Between(c, _coerce(column, lo), _coerce(column, hi))
        case IsNull(column=c):
            _column(c, dictionary)
            return node
        case And(left=a, right=b):
            return And(check(a, dictionary), check(b, dictionary))
        case Or(left=a, right=b):
            return Or(check(a, dictionary), check(b, dictionary))
        case Not(arg=a):
            return Not(check(a, dictionary))
    raise QueryError(f"not a filter node: {node!r}")


def _column(name: str, dictionary: Dictionary) -> Column:
    column = dictionary.get(name)
    if column is None:
        raise QueryError(
            f"unknown column {name!r}; valid columns are: {', '.join(dictionary.names)}"
        )
    if column.type is ColumnType.TEXT:
        # Identifiers and free text would let a filter single out one patient.
        raise QueryError(f"column {name!r} is text (identifiers, free text): it cannot be filtered")
    return column


def _coerce(column: Column, value: Value) -> Value:
    kind = column.type
    if kind.is_numeric:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise QueryError(
                f"column {column.name!r} is {kind.value}: compare it with a number, not {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise QueryError(f"column {column.name!r}: compare it with a finite number")
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            return float(value)  # SQL engines bind 64-bit integers only
        return value
    if kind is ColumnType.BOOLEAN:
        if not isinstance(value, bool):
            raise QueryError(f"column {column.name!r} is boolean: compare it with True or False")
        return value
    if kind is ColumnType.DATE:
        return _date(column, value)
    if kind is ColumnType.CATEGORICAL:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise QueryError(f"column {column.name!r} is categorical: compare it with a level")
        text = level_text(value)
        if column.levels is not None and text not in column.levels:
            raise QueryError(
                f"{text!r} is not a level of {column.name!r}; its levels are: "
                f"{', '.join(column.levels)}"
            )
        return text
    if not isinstance(value, str):
        raise QueryError(f"column {column.name!r} is text: compare it with a string")
    return value


def _date(column: Column, value: Value) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise QueryError(f"column {column.name!r} is a date: compare it with an ISO date (YYYY-MM-DD)")
