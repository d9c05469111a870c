"""Compile a checked filter to a parameterised SQL condition.

Column names come only from the dictionary (letters, digits and underscores, checked when the
dictionary was made) and are quoted; every value is a bound parameter, so a value is only ever data.
The same SQL runs on DuckDB, SQLite and PostgreSQL; only the parameter style differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from causeway.query.ir import And, Between, Compare, IsIn, IsNull, Node, Not, Or, Value

ParamStyle = Literal["qmark", "format"]  # DuckDB and SQLite use ?, psycopg uses %s

_SQL_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True)
class SQLCondition:
    sql: str
    params: tuple[Value, ...]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def compile_condition(node: Node | None, *, paramstyle: ParamStyle = "qmark") -> SQLCondition:
    """A WHERE condition for a filter that :func:`causeway.query.check.check` accepted."""
    if node is None:
        return SQLCondition("TRUE", ())
    params: list[Value] = []
    mark = "?" if paramstyle == "qmark" else "%s"

    def bind(value: Value) -> str:
        params.append(value)
        return mark

    def emit(n: Node) -> str:
        match n:
            case Compare(column=c, op=op, value=v):
                return f"{quote(c)} {_SQL_OPS[op]} {bind(v)}"
            case IsIn(column=c, values=vs):
                return f"{quote(c)} IN ({', '.join(bind(v) for v in vs)})"
            case Between(column=c, low=lo, high=hi):
                return f"{quote(c)} BETWEEN {bind(lo)} AND {bind(hi)}"
            case IsNull(column=c):
                return f"{quote(c)} IS NULL"
            case And(left=a, right=b):
                return f"({emit(a)} AND {emit(b)})"
            case Or(left=a, right=b):
                return f"({emit(a)} OR {emit(b)})"
            case Not(arg=a):
                return f"(NOT {emit(a)})"
        raise AssertionError(f"unchecked filter node {n!r}")

    return SQLCondition(emit(node), tuple(params))
