"""The filter language: builder → frozen IR → checked against a dictionary → parameterised SQL."""

from causeway.query.builder import ColumnRef, Filter, as_wire, col
from causeway.query.check import check
from causeway.query.ir import Node, from_json, to_json
from causeway.query.memory import evaluate
from causeway.query.sql import SQLCondition, compile_condition, quote
from causeway.query.text import from_text, to_text

__all__ = [
    "ColumnRef",
    "Filter",
    "Node",
    "SQLCondition",
    "as_wire",
    "check",
    "col",
    "compile_condition",
    "evaluate",
    "from_json",
    "from_text",
    "quote",
    "to_json",
    "to_text",
]
