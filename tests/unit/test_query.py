from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import QueryError
from causeway.query import Filter, check, col, compile_condition, from_json, to_json
from causeway.query.ir import And

DICTIONARY = Dictionary(
    (
        Column("age", ColumnType.NUMERIC),
        Column("sex", ColumnType.CATEGORICAL, levels=("F", "M")),
        Column("smoker", ColumnType.BOOLEAN),
        Column("patient_id", ColumnType.TEXT),
    )
)


def test_unknown_column_names_the_valid_columns() -> None:
    with pytest.raises(
        QueryError,
        match=r"unknown column 'weight'; valid columns are: age, sex, smoker, patient_id",
    ):
        check((col("weight") > 3).node, DICTIONARY)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (col("age") >= "forty", "compare it with a number"),
        (col("sex") > "F", "compare it with == or !="),
        (col("sex") == "X", "not a level of 'sex'"),
        (col("smoker") == 1, "True or False"),
        (col("sex").between("A", "Z"), "no order"),
        (col("patient_id") == "P0009", "cannot be filtered"),
        (col("age") >= float("nan"), "finite number"),
    ],
)
def test_type_mismatch_is_a_clear_error(where: Filter, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        check(where.node, DICTIONARY)


def test_values_become_parameters_never_sql() -> None:
    evil = "x'; DROP TABLE t; --"
    cond = compile_condition(check((col("sex") == "F").node, DICTIONARY))
    assert cond.params == ("F",)
    node = check(from_json({"op": "==", "column": "age", "value": 3}), DICTIONARY)
    assert "3" not in compile_condition(node).sql
    with pytest.raises(QueryError):
        check((col("sex") == evil).node, DICTIONARY)


@pytest.mark.parametrize(
    "wire",
    [
        {"op": "drop"},
        {"op": ">=", "column": 3, "value": 1},
        {"op": "in", "column": "age", "values": []},
        {"op": "and", "args": [{"op": "is_null", "column": "age"}]},
        {"op": "==", "column": "age", "value": [1, 2]},
        "age > 3",
    ],
)
def test_malformed_wire_form_is_a_query_error(wire: object) -> None:
    with pytest.raises(QueryError):
        from_json(wire)


def test_python_boolean_operators_are_refused() -> None:
    with pytest.raises(TypeError, match=r"use & \| ~"):
        (col("age") > 1) and (col("age") < 3)


leaves = st.one_of(
    st.builds(lambda v: col("age") >= v, st.integers(-5, 100)),
    st.builds(lambda v: col("sex") == v, st.sampled_from(["F", "M"])),
    st.builds(lambda: col("age").is_null()),
    st.builds(lambda a, b: col("age").between(a, b), st.integers(0, 50), st.integers(50, 99)),
)
filters = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda a, b: a & b, inner, inner),
        st.builds(lambda a, b: a | b, inner, inner),
        st.builds(lambda a: ~a, inner),
    ),
    max_leaves=8,
)


@settings(max_examples=50)
@given(filters)
def test_wire_form_round_trips(where: Filter) -> None:
    assert Filter.from_json(to_json(where.node)) == where


def test_huge_integers_are_compared_as_floats_not_overflowed() -> None:
    node = check((col("age") < 10**40).node, DICTIONARY)
    assert compile_condition(node).params == (1e40,)


def test_non_finite_wire_values_are_refused() -> None:
    with pytest.raises(QueryError, match="finite"):
        from_json({"op": ">", "column": "age", "value": float("inf")})


@pytest.mark.parametrize("op", ["and", "or"])
@pytest.mark.parametrize("width", [66, 3_000])
def test_a_wide_and_or_is_refused_like_a_deep_one(op: str, width: int) -> None:
    """A flat 'and' of n filters is a chain n - 1 deep: the depth limit caps width too (a wide
    one crashed the checker with a RecursionError)."""
    wide = {"op": op, "args": [{"op": ">=", "column": "age", "value": i} for i in range(width)]}
    with pytest.raises(QueryError, match="nested more than 64 deep"):
        from_json(wide)
    inner = {"op": op, "args": [{"op": "==", "column": "age", "value": i} for i in range(64)]}
    from_json(inner)  # 63 deep: within the limit alone
    with pytest.raises(QueryError, match="nested more than 64 deep"):
        from_json({"op": "not", "arg": {"op": "and", "args": [inner, inner]}})


def test_a_wide_and_within_the_limit_still_parses() -> None:
    args = [{"op": ">=", "column": "age", "value": i} for i in range(60)]
    assert isinstance(from_json({"op": "and", "args": args}), And)
