"""A plain formula's design columns are named from its terms without building a matrix; they
must be exactly the names formulaic gives (the sites' designs are checked against them)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causeway.algorithms import design
from causeway.model.dictionary import infer_dictionary
from causeway.model.errors import InvalidRequest

FRAME = pd.DataFrame(
    {
        "x1": [1.0, 2.0, 3.5, 4.0],
        "x2": [10, 20, 30, 40],
        "x10": [0.1, 0.2, 0.3, 0.4],
        "flag": [True, False, True, False],
        "sex": ["F", "M", "F", "M"],
        "y": [0.0, 1.0, 0.0, 1.0],
    }
)
DICTIONARY = infer_dictionary(FRAME)
PLAIN = ["x1", "x2", "x10", "flag"]


def _both(rhs: str, intercept: bool = True) -> tuple[list[str], list[str]]:
    parsed = design.parse("glm", f"y ~ {rhs}", DICTIONARY, response=True)
    columns = [design._analysable("glm", v, DICTIONARY) for v in parsed.variables]
    fast = design.expected_terms("glm", parsed, DICTIONARY, intercept=intercept)
    slow = design._expected_by_formulaic("glm", parsed, columns, intercept)
    return fast, slow


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.sampled_from(PLAIN), min_size=1, max_size=6),
    tail=st.sampled_from(["", " - 1", " + 0", " + 1", " - 0"]),
    intercept=st.booleans(),
)
def test_a_plain_formulas_terms_are_formulaics(
    names: list[str], tail: str, intercept: bool
) -> None:
    fast, slow = _both(" + ".join(names) + tail, intercept)
    assert fast == slow


@pytest.mark.parametrize(
    ("rhs", "plain"),
    [
        ("x2 + x1", True),
        ("x1 + x1 + x2", True),
        ("0 + x10", True),
        ("x1:x2", False),
        ("x1 * flag", False),
        ("C(sex) + x1", False),
        ("sex + x1", False),
        ("I(x1 - 50) + x2", False),
        ("np.log(x10) + x1", False),
    ],
)
def test_only_plain_numeric_formulas_take_the_short_way(rhs: str, plain: bool) -> None:
    parsed = design.parse("glm", f"y ~ {rhs}", DICTIONARY, response=True)
    assert (parsed.plain_terms is not None) == (plain or rhs.startswith("sex"))
    fast, slow = _both(rhs)
    assert fast == slow and fast


@pytest.mark.parametrize(
    "rhs", ["Intercept", "Intercept + x1", "x1 + Intercept - 1", "I(Intercept * 2)"]
)
def test_a_column_named_like_the_intercept_is_refused_not_merged_with_it(rhs: str) -> None:
    """A column called 'Intercept' was read as the column of ones (or merged with it by
    formulaic): the model changed silently. It is refused with what to do."""
    dictionary = infer_dictionary(FRAME.assign(Intercept=[5.0, 6.0, 7.0, 8.0]))
    with pytest.raises(InvalidRequest, match="name of the model's intercept; rename"):
        design.parse("glm", f"y ~ {rhs}", dictionary, response=True)
    with pytest.raises(InvalidRequest, match="name of the model's intercept"):
        design.parse("glm", "Intercept ~ x1", dictionary, response=True)
