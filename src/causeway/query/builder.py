"""The Python builder for filters: ``col("age") >= 40``, combined with ``&``, ``|`` and ``~``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from causeway.query import ir
from causeway.query.ir import Value
from causeway.query.text import from_text


class Filter:
    """A filter expression; ``.node`` is its intermediate form, ``.to_json()`` its wire form."""

    __slots__ = ("node",)

    def __init__(self, node: ir.Node) -> None:
        self.node = node

    def __and__(self, other: Filter) -> Filter:
        return Filter(ir.And(self.node, _node(other)))

    def __or__(self, other: Filter) -> Filter:
        return Filter(ir.Or(self.node, _node(other)))

    def __invert__(self) -> Filter:
        return Filter(ir.Not(self.node))

    def __bool__(self) -> bool:
        raise TypeError("use & | ~ to combine filters, not 'and', 'or', 'not'")

    def to_json(self) -> dict[str, Any]:
        return ir.to_json(self.node)

    @classmethod
    def from_json(cls, data: Any) -> Filter:
        return cls(ir.from_json(data))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and other.node == self.node

    def __hash__(self) -> int:
        return hash(self.node)

    def __repr__(self) -> str:
        return f"Filter({self.node!r})"


def _node(other: object) -> ir.Node:
    if not isinstance(other, Filter):
        raise TypeError(f"cannot combine a filter with {type(other).__name__}")
    return other.node


class ColumnRef:
    """A column named in a filter; comparisons on it build :class:`Filter` objects."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _compare(self, op: ir.CompareOp, value: Value) -> Filter:
        return Filter(ir.Compare(self.name, op, value))

    def __eq__(self, value: Value) -> Filter:  # type: ignore[override]
        return self._compare("==", value)

    def __ne__(self, value: Value) -> Filter:  # type: ignore[override]
        return self._compare("!=", value)

    def __lt__(self, value: Value) -> Filter:
        return self._compare("<", value)

    def __le__(self, value: Value) -> Filter:
        return self._compare("<=", value)

    def __gt__(self, value: Value) -> Filter:
        return self._compare(">", value)

    def __ge__(self, value: Value) -> Filter:
        return self._compare(">=", value)

    def __hash__(self) -> int:
        return hash(self.name)

    def isin(self, values: Iterable[Value]) -> Filter:
        return Filter(ir.IsIn(self.name, tuple(values)))

    def between(self, low: Value, high: Value) -> Filter:
        """Both ends included."""
        return Filter(ir.Between(self.name, low, high))

    def is_null(self) -> Filter:
        return Filter(ir.IsNull(self.name))

    def not_null(self) -> Filter:
        return ~self.is_null()


def col(name: str) -> ColumnRef:
    """Refer to a dataset column in a filter: ``col("age") >= 40``."""
    return ColumnRef(name)


def as_wire(where: Filter | Mapping[str, Any] | str | None) -> dict[str, Any] | None:
    """A filter as the client sends it: built with :func:`col`, typed as text
    (``"age >= 65 and sex == 'female'"``) or in its JSON wire form (validated by round-tripping
    through the IR)."""
    if where is None:
        return None
    if isinstance(where, Filter):
        return where.to_json()
    if isinstance(where, str):
        return ir.to_json(from_text(where, label="where"))
    return ir.to_json(ir.from_json(where))
