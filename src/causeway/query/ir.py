"""The filter language's intermediate form: small frozen nodes, and their JSON wire form.

Researchers never send SQL. They send one of these trees (built with :func:`causeway.col`), which each
node validates against its own data dictionary and compiles to parameterised SQL.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from causeway.model.errors import QueryError

Value = str | int | float | bool | dt.date
CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]
COMPARE_OPS: tuple[CompareOp, ...] = ("==", "!=", "<", "<=", ">", ">=")
MAX_DEPTH = 64
MAX_IN_VALUES = 1000


@dataclass(frozen=True)
class Compare:
    column: str
    op: CompareOp
    value: Value


@dataclass(frozen=True)
class IsIn:
    column: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Between:
    """``low <= column <= high``, both ends included."""

    column: str
    low: Value
    high: Value


@dataclass(frozen=True)
class IsNull:
    column: str


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    arg: Node


Node = Compare | IsIn | Between | IsNull | And | Or | Not


def columns_of(node: Node) -> set[str]:
    match node:
        case Compare(column=c) | IsIn(column=c) | Between(column=c) | IsNull(column=c):
            return {c}
        case And(left=a, right=b) | Or(left=a, right=b):
            return columns_of(a) | columns_of(b)
        case Not(arg=a):
            return columns_of(a)
    raise QueryError(f"not a filter node: {node!r}")


def to_json(node: Node) -> dict[str, Any]:
    match node:
        case Compare(column=c, op=op, value=v):
            return {"op": op, "column": c, "value": _value_json(v)}
        case IsIn(column=c, values=vs):
            return {"op": "in", "column": c, "values": [_value_json(v) for v in vs]}
        case Between(column=c, low=lo, high=hi):
            return {"op": "between", "column": c, "low": _value_json(lo), "high": _value_json(hi)}
        case IsNull(column=c):
            return {"op": "is_null", "column": c}
        case And(left=a, right=b):
            return {"op": "and", "args": [to_json(a), to_json(b)]}
        case Or(left=a, right=b):
            return {"op": "or", "args": [to_json(a), to_json(b)]}
        case Not(arg=a):
            return {"op": "not", "arg": to_json(a)}
    raise QueryError(f"not a filter node: {node!r}")


def from_json(data: Any, _depth: int = 0) -> Node:
    """Parse the wire form; anything malformed is a :class:`QueryError`, never a crash."""
    if _depth > MAX_DEPTH:
        raise QueryError(f"the filter is nested more than {MAX_DEPTH} deep")
    if not isinstance(data, Mapping):
        raise QueryError(f"a filter node must be an object, not {type(data).__name__}")
    op = data.get("op")
    if op in COMPARE_OPS:
        return Compare(_column(data), op, _value(data.get("value")))
    if op == "in":
        values = data.get("values")
        if not isinstance(values, list) or not values:
            raise QueryError("'in' needs a non-empty list of values")
        if len(values) > MAX_IN_VALUES:
            raise QueryError(f"'in' takes at most {MAX_IN_VALUES} values")
        return IsIn(_column(data), tuple(_value(v) for v in values))
    if op == "between":
        return Between(_column(data), _value(data.get("low")), _value(data.get("high")))
    if op == "is_null":
        return IsNull(_column(data))
    if op in ("and", "or"):
        args = data.get("args")
        if not isinstance(args, list) or len(args) < 2:
            raise QueryError(f"'{op}' needs a list of at least two filters")
        # n args make a chain n - 1 deep: a wide 'and' is as deep as a nested one
        if _depth + len(args) - 1 > MAX_DEPTH:
            raise QueryError(
                f"the filter is nested more than {MAX_DEPTH} deep ('{op}' of {len(args)} filters)"
            )
        nodes = [from_json(a, _depth + len(args) - 1) for a in args]
        joined = nodes[0]
        for nxt in nodes[1:]:
            joined = And(joined, nxt) if op == "and" else Or(joined, nxt)
        return joined
    if op == "not":
        return Not(from_json(data.get("arg"), _depth + 1))
    raise QueryError(
        f"unknown filter operation {op!r}; use one of "
        f"{', '.join([*COMPARE_OPS, 'in', 'between', 'is_null', 'and', 'or', 'not'])}"
    )


def _column(data: Mapping[str, Any]) -> str:
    column = data.get("column")
    if not isinstance(column, str) or not column:
        raise QueryError("a filter names its column as a non-empty string")
    return column


MAX_INTEGER = 2**63 - 1
MAX_TEXT = 10_000


def _value(raw: Any) -> Value:
    if isinstance(raw, float) and not math.isfinite(raw):
        raise QueryError(f"a filter value must be a finite number, not {raw!r}")
    if (
        isinstance(raw, int)
        and not isinstance(raw, bool)
        and not -MAX_INTEGER <= raw <= MAX_INTEGER
    ):
        raise QueryError("a filter's whole numbers fit in 64 bits; this one has more digits")
    if isinstance(raw, str) and len(raw) > MAX_TEXT:
        raise QueryError(f"a filter's text values are at most {MAX_TEXT} characters")
    if isinstance(raw, bool | int | float | str):
        return raw
    if isinstance(raw, Mapping) and set(raw) == {"date"} and isinstance(raw["date"], str):
        try:
            return dt.date.fromisoformat(raw["date"])
        except ValueError:
            raise QueryError(f"not an ISO date: {raw['date']!r}") from None
    raise QueryError(f"a filter value must be a number, string, boolean or date, not {raw!r}")


def _value_json(value: Value) -> Any:
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    return value
