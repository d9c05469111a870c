"""The typed filter: ``age >= 65 and sex == 'female'`` parses into the IR the builder makes, prints
back to text that parses to the same IR, and every mistake is a QueryError pointing at its place."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causeway.model.errors import QueryError
from causeway.query import Filter, col, from_json, from_text, to_json, to_text
from causeway.query.ir import (
    MAX_DEPTH,
    MAX_IN_VALUES,
    And,
    Between,
    Compare,
    IsIn,
    IsNull,
    Node,
    Not,
    Or,
)
from causeway.query.text import MAX_TERMS, MAX_TEXT_LENGTH

EXAMPLES = 50 if os.environ.get("CI") else 200
FILTERS_DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "filters.md"

age, sex, bmi = col("age"), col("sex"), col("bmi")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("age == 65", age == 65),
        ("age = 65", age == 65),
        ("age != 65", age != 65),
        ("age < 65", age < 65),
        ("age <= 65", age <= 65),
        ("age > 65", age > 65),
        ("age >= 65", age >= 65),
        ("age>=65", age >= 65),
        ("age >= 65 and sex == 'female'", (age >= 65) & (sex == "female")),
        ('sex == "female"', sex == "female"),
        ("age in (1, 2, 3)", age.isin([1, 2, 3])),
        ("age in [1, 2, 3,]", age.isin([1, 2, 3])),
        ("sex in ('f')", sex.isin(["f"])),
        ("age not in (1, 2)", ~age.isin([1, 2])),
        ("age between 18 and 65", age.between(18, 65)),
        ("age not between 18 and 65", ~age.between(18, 65)),
        ("bmi is null", bmi.is_null()),
        ("bmi is not null", bmi.not_null()),
        ("not bmi is null", ~bmi.is_null()),
        ("not not age > 1", ~~(age > 1)),
        ("bmi > -1.5", bmi > -1.5),
        ("bmi > .5", bmi > 0.5),
        ("bmi > 1.", bmi > 1.0),
        ("bmi > 2.5e3", bmi > 2500.0),
        ("bmi > -1E-2", bmi > -0.01),
        ("age > -3", age > -3),
        ("age > 007", age > 7),
        ("age > 9223372036854775807", age > 2**63 - 1),
        ("age > -9223372036854775808", age > -(2**63)),
        ("smoker == true", col("smoker") == True),  # noqa: E712
        ("smoker == FALSE", col("smoker") == False),  # noqa: E712
        ("admitted >= date '2023-07-11'", col("admitted") >= dt.date(2023, 7, 11)),
        ('admitted >= DATE "2023-07-11"', col("admitted") >= dt.date(2023, 7, 11)),
        ("admitted >= '2023-07-11'", col("admitted") >= "2023-07-11"),
        ("date == date '2024-02-29'", col("date") == dt.date(2024, 2, 29)),
        (
            "admitted between date '2023-01-01' and date '2023-12-31'",
            col("admitted").between(dt.date(2023, 1, 1), dt.date(2023, 12, 31)),
        ),
        ("AGE > 1", col("AGE") > 1),
        (
            "Age > 1 AND sex IN ('f') Or NOT bmi IS NULL",
            (col("Age") > 1) & sex.isin(["f"]) | ~bmi.is_null(),
        ),
        ("`not` == 1", col("not") == 1),
        ("`1st_visit` == true", col("1st_visit") == True),  # noqa: E712
        ("`a \\` b` == 1", col("a ` b") == 1),
        ("âge > 1 and 年齢 < 2", (col("âge") > 1) & (col("年齢") < 2)),
        ("_x == 1", col("_x") == 1),
        ("name == 'O\\'Brien'", col("name") == "O'Brien"),
        ('name == "O\'Brien"', col("name") == "O'Brien"),
        ("name == 'say \"hi\"'", col("name") == 'say "hi"'),
        ("name == 'a\\\\b'", col("name") == "a\\b"),
        ("name == 'tab\\there\\nnewline\\r'", col("name") == "tab\there\nnewline\r"),
        ("name == 'caf\\u00e9 \\U0001F600'", col("name") == "café 😀"),
        ("name == ''", col("name") == ""),
        ("name == 'and or not'", col("name") == "and or not"),
        ("  age\t>\n1  ", age > 1),
    ],
)
def test_text_parses_to_the_builders_ir(text: str, expected: Filter) -> None:
    assert repr(from_text(text)) == repr(expected.node)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # not > and > or
        (
            "a == 1 or b == 2 and c == 3",
            Or(Compare("a", "==", 1), And(Compare("b", "==", 2), Compare("c", "==", 3))),
        ),
        (
            "a == 1 and b == 2 or c == 3",
            Or(And(Compare("a", "==", 1), Compare("b", "==", 2)), Compare("c", "==", 3)),
        ),
        ("not a == 1 and b == 2", And(Not(Compare("a", "==", 1)), Compare("b", "==", 2))),
        ("not a == 1 or b == 2", Or(Not(Compare("a", "==", 1)), Compare("b", "==", 2))),
        ("not (a == 1 and b == 2)", Not(And(Compare("a", "==", 1), Compare("b", "==", 2)))),
        (
            "(a == 1 or b == 2) and c == 3",
            And(Or(Compare("a", "==", 1), Compare("b", "==", 2)), Compare("c", "==", 3)),
        ),
        (
            "a == 1 and (b == 2 and c == 3)",
            And(Compare("a", "==", 1), And(Compare("b", "==", 2), Compare("c", "==", 3))),
        ),
        # chains associate to the left, as the builder's & and | do
        (
            "a == 1 and b == 2 and c == 3",
            And(And(Compare("a", "==", 1), Compare("b", "==", 2)), Compare("c", "==", 3)),
        ),
        (
            "a == 1 or b == 2 or c == 3",
            Or(Or(Compare("a", "==", 1), Compare("b", "==", 2)), Compare("c", "==", 3)),
        ),
        ("((((a == 1))))", Compare("a", "==", 1)),
        # the 'and' of between belongs to between
        ("a between 1 and 2 and b == 3", And(Between("a", 1, 2), Compare("b", "==", 3))),
        ("a is not null and not b in (1)", And(Not(IsNull("a")), Not(IsIn("b", (1,))))),
    ],
)
def test_precedence_and_parentheses(text: str, expected: Node) -> None:
    assert from_text(text) == expected


def test_typed_and_built_filters_send_the_same_wire_form() -> None:
    typed = from_text("age >= 65 and sex == 'female' and bmi is not null")
    built = (age >= 65) & (sex == "female") & bmi.not_null()
    assert to_json(typed) == built.to_json()


# --- errors point at the character ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("age >= and sex == 'f'", "expected a value after '>='", 8),
        ("age >= 65 and", "expected a condition after 'and'", None),
        ("(age > 1 and sex == 'f'", "expected ')' to match the '(' at character 1", None),
        ("(age > 1 sex == 'f')", "expected ')' to match the '(' at character 1, found 'sex'", 10),
        ("age > 1)", "no '(' for this ')'", 8),
        ("sex == female", "expected a value after '=='", 8),
        ("sex == 'female", "never closed", 8),
        ("sex == 'fe\\male'", "unknown escape \\m", 11),
        ("sex == 'x\\ud800'", "hex digits naming a character", 10),
        ("age > 1 @ 2", "unexpected character '@'", 9),
        ("age ! 1", "unexpected character '!'", 5),
        ("age => 1", "expected a value after '='", 6),
        ("65 <= age", "starts with its column", 1),
        ("age in ()", "needs at least one value", 9),
        ("age in 1, 2", "expected '(' with the values after 'in'", 8),
        ("age in (1, 2", "expected ',' or ')'", None),
        ("age in (1 2)", "expected ',' or ')'", 11),
        ("age between 1 or 2", "expected 'and' between the two ends", 15),
        ("age is nul", "expected 'null' after 'is'", 8),
        ("age not like 1", "expected 'in' or 'between' after 'not'", 9),
        ("age 65", "expected a comparison", 5),
        ("age > 1 age < 2", "expected 'and', 'or' or the end", 9),
        ("and == 1", "found the keyword 'and'", 1),
        ("age == null", "'null' is not a value", 8),
        ("age > nan", "'nan' is not a finite number", 7),
        ("age > inf", "'inf' is not a finite number", 7),
        ("age > 1e999", "1e999 is not a finite number", 7),
        ("age > -1e999", "-1e999 is not a finite number", 7),
        ("age > 99999999999999999999", "too large to be exact", 7),
        ("age > 9223372036854775808", "too large to be exact", 7),
        ("age > 1.2.3", "not a number: '1.2.3'", 7),
        ("age > 12abc", "not a number: '12abc'", 7),
        ("age > - 1", "not a number: '-'", 7),
        ("d > date '2023-02-30'", "not a date", 10),
        ("d > date '20230711'", "not a date", 10),
        ("d > date 2023", "expected a quoted date after 'date'", 10),
        ("age == `bmi`", "not with another column", 8),
        ("`` == 1", "cannot be empty", 1),
        ("sex == 'a\x07'", "control character U+0007", 10),
        ("sex == 'a\ud83d'", "lone surrogate U+D83D", 10),
        ("sex == 'a\tb'", "raw tab or line break", 10),
    ],
)
def test_malformed_text_is_a_query_error_pointing_at_the_character(
    text: str, message: str, position: int | None
) -> None:
    with pytest.raises(QueryError) as caught:
        from_text(text, label="--where")
    first, shown, caret, *_ = str(caught.value).split("\n")
    assert first.startswith("--where: ")
    assert message in str(caught.value)
    where = "at the end of the filter:" if position is None else f"at character {position}:"
    assert first.endswith(where)
    column = len(text) if position is None else position - 1
    assert caret == " " * (4 + column) + "^"
    assert len(shown) == 4 + len(text)


def test_error_message_reads_as_in_the_issue() -> None:
    with pytest.raises(QueryError) as caught:
        from_text("age >= and sex == 'f'", label="--where")
    assert str(caught.value) == (
        "--where: expected a value after '>=' at character 8:\n"
        "    age >= and sex == 'f'\n"
        "           ^"
    )


def test_hints_follow_the_caret() -> None:
    with pytest.raises(QueryError, match=r"\^\ntext goes in quotes, as in 'female'$"):
        from_text("sex == female")
    with pytest.raises(QueryError, match=r"written in backquotes: `in`$"):
        from_text("in == 1")


def test_caret_under_wide_characters_counts_their_width() -> None:
    with pytest.raises(QueryError) as caught:
        from_text("年齢 >= and")
    assert str(caught.value).split("\n")[2] == " " * (4 + 4 + 4) + "^"


def test_a_long_filter_shows_the_text_around_the_mistake() -> None:
    text = " and ".join(["age > 1"] * 40) + " and age >"
    with pytest.raises(QueryError) as caught:
        from_text(text)
    _, shown, caret = str(caught.value).split("\n")
    assert shown.startswith("    …") and len(shown) < 100
    assert caret.endswith("^") and len(caret) == len(shown) + 1


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_an_empty_filter_is_refused(text: str) -> None:
    with pytest.raises(QueryError, match="empty"):
        from_text(text)


def test_non_text_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="must be text"):
        from_text(b"age > 1")  # type: ignore[arg-type]


# --- limits ----------------------------------------------------------------------------------


def test_a_flat_and_of_3000_terms_is_a_clear_error() -> None:
    text = " and ".join(f"age > {i}" for i in range(3000))
    with pytest.raises(
        QueryError, match=f"too many conditions: a filter holds at most {MAX_TERMS}"
    ):
        from_text(text)


def test_the_longest_chain_allowed_is_accepted_by_the_wire_form() -> None:
    node = from_text(" or ".join(f"age == {i}" for i in range(MAX_TERMS)))
    assert from_json(to_json(node)) == node


def test_deep_parentheses_are_a_clear_error() -> None:
    with pytest.raises(QueryError, match=f"nested more than {MAX_DEPTH} deep"):
        from_text("(" * 5000 + "age > 1" + ")" * 5000)


def test_long_runs_of_not_are_a_clear_error() -> None:
    from_text("not " * MAX_DEPTH + "age > 1")
    with pytest.raises(QueryError, match=f"nested more than {MAX_DEPTH} deep"):
        from_text("not " * 5000 + "age > 1")


def test_nesting_beyond_the_wire_forms_depth_is_refused() -> None:
    text = "age > 0"
    for i in range(MAX_DEPTH // 2):
        text = f"not not (age > {i} and {text})"
    with pytest.raises(QueryError, match="nested more than"):
        from_text(text)


def test_in_takes_at_most_max_in_values() -> None:
    values = ", ".join(str(i) for i in range(MAX_IN_VALUES))
    assert len(from_text(f"age in ({values})").values) == MAX_IN_VALUES  # type: ignore[union-attr]
    with pytest.raises(QueryError, match=f"at most {MAX_IN_VALUES} values"):
        from_text(f"age in ({values}, 1000)")


def test_text_longer_than_the_limit_is_refused_before_reading() -> None:
    with pytest.raises(QueryError, match=f"the limit is {MAX_TEXT_LENGTH}"):
        from_text("age > 1 " + " " * MAX_TEXT_LENGTH, label="--where")


def test_a_huge_integer_is_refused_quickly_not_converted() -> None:
    with pytest.raises(QueryError, match="too large to be exact"):
        from_text("age > " + "9" * 40_000)


# --- printing back -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "text"),
    [
        ((age >= 65) & (sex == "female"), "age >= 65 and sex == 'female'"),
        ((age > 1) | (age < 0) & (sex == "f"), "age > 1 or age < 0 and sex == 'f'"),
        (((age > 1) | (age < 0)) & (sex == "f"), "(age > 1 or age < 0) and sex == 'f'"),
        ((age > 1) & ((age < 0) & (sex == "f")), "age > 1 and (age < 0 and sex == 'f')"),
        (~((age > 1) & (sex == "f")), "not (age > 1 and sex == 'f')"),
        (bmi.not_null(), "bmi is not null"),
        (
            ~age.isin([1, "x", True, dt.date(2023, 7, 11)]),
            "age not in (1, 'x', true, date '2023-07-11')",
        ),
        (~age.between(-1.5, 2e20), "age not between -1.5 and 2e+20"),
        (col("not") == "it's", '`not` == "it\'s"'),
        (col("a b") == "x\ny", "`a b` == 'x\\ny'"),
    ],
)
def test_to_text_prints_what_a_person_would_type(node: Filter, text: str) -> None:
    assert to_text(node.node) == text


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (Compare("age", ">", float("nan")), "finite"),
        (Compare("age", ">", float("inf")), "finite"),
        (Compare("age", ">", 10**40), "too large"),
        (Compare("name", "==", "a\ud800"), "lone surrogate"),
        (Compare("", "==", 1), "non-empty"),
        (Compare("t", "==", dt.datetime(2024, 1, 1, 12)), "number, string, boolean or date"),
        (IsIn("age", ()), "'in' takes 1 to"),
        ((col("x") > 1).node, None),
    ],
)
def test_to_text_refuses_what_text_cannot_carry(node: Node, message: str | None) -> None:
    if message is None:
        assert to_text(node) == "x > 1"
        return
    with pytest.raises(QueryError, match=message):
        to_text(node)


def test_to_text_refuses_a_tree_too_deep_without_recursing() -> None:
    node: Node = Compare("age", ">", 0)
    for _ in range(5000):
        node = Not(node)
    with pytest.raises(QueryError, match="nested more than"):
        to_text(node)


# --- properties ----------------------------------------------------------------------------

values = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
)
columns = st.one_of(
    st.sampled_from(["age", "sex", "date", "not", "AND", "1st", "a b", "年齢", "x`y", "_"]),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8),
)
leaves = st.one_of(
    st.builds(Compare, columns, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), values),
    st.builds(lambda c, vs: IsIn(c, tuple(vs)), columns, st.lists(values, min_size=1, max_size=4)),
    st.builds(Between, columns, values, values),
    st.builds(IsNull, columns),
)
trees: st.SearchStrategy[Node] = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(And, inner, inner), st.builds(Or, inner, inner), st.builds(Not, inner)
    ),
    max_leaves=12,
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(trees)
def test_ir_prints_to_text_that_parses_back_to_the_same_ir(node: Node) -> None:
    # repr, not ==: True == 1 and 0.0 == -0.0 in Python, but not in a filter's values
    assert repr(from_text(to_text(node))) == repr(node)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_is_a_query_error(text: str) -> None:
    try:
        node = from_text(text)
    except QueryError:
        return
    assert repr(from_text(to_text(node))) == repr(node)


pieces = st.sampled_from(
    [
        "age",
        "`x`",
        "'s'",
        '"d"',
        "'\\",
        "1",
        "-2.5e3",
        "1e999",
        "(",
        ")",
        "[",
        "]",
        ",",
        "==",
        "=",
        "!=",
        "<",
        ">=",
        "and",
        "or",
        "not",
        "in",
        "between",
        "is",
        "null",
        "true",
        "date",
        "'2023-01-01'",
        " ",
        "\\u",
        "\x00",
        "\ud800",
        "é",
        "年",
    ]
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(pieces, max_size=30).map(" ".join))
def test_near_grammatical_text_parses_or_is_a_query_error(text: str) -> None:
    try:
        node = from_text(text)
    except QueryError:
        return
    assert repr(from_text(to_text(node))) == repr(node)
    assert from_json(to_json(node)) == node  # what parses, the hub accepts


def test_the_docs_examples_parse() -> None:
    section = FILTERS_DOC.read_text().split("## Typed filters", 1)[1]
    examples = [
        line
        for block in re.findall(r"```text\n(.*?)```", section, flags=re.DOTALL)
        for line in block.splitlines()
        if line.strip()
    ]
    assert len(examples) >= 5
    for example in examples:
        from_text(example)
