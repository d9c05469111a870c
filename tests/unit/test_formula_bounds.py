"""Fuzzing the formula checker: any text is answered at once with a formula or a typed error,
never another exception (a Hypothesis property, modest in CI; the cost bounds are checked in test_limits)."""

from __future__ import annotations

import os

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from causeway.algorithms import design
from causeway.model.dictionary import infer_dictionary
from causeway.model.errors import InvalidRequest

DICTIONARY = infer_dictionary(
    pd.DataFrame({"y": [1.0, 2.0, 3.0, 5.0], "x": [1.0, 2.0, 4.0, 8.0], "z": [0.0, 1.0, 1.0, 0.0]})
)
EXAMPLES = 60 if os.environ.get("CI") else 300
ATOMS = ["x", "z", "1", "2", "10", "1e300", "0.5", "-3", "(x + z)", "np.log(x)", "C(z)", "y"]
OPERATORS = [" + ", " - ", " * ", " / ", " ** ", ":", " | ", " % ", " // "]


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 4 or draw(st.booleans()):
        return draw(st.sampled_from(ATOMS))
    left = draw(expressions(depth + 1))
    right = draw(expressions(depth + 1))
    op = draw(st.sampled_from(OPERATORS))
    wrapped = draw(st.sampled_from(["{}", "I({})", "({})", "np.exp({})"]))
    return wrapped.format(f"{left}{op}{right}")


def _answer(formula: str) -> None:
    try:
        parsed = design.parse("glm", formula, DICTIONARY, response=True)
        design.expected_terms("glm", parsed, DICTIONARY)
    except InvalidRequest:
        pass


@settings(max_examples=EXAMPLES, deadline=None)
@given(expressions())
def test_generated_formulas_are_answered_or_refused(expression: str) -> None:
    _answer(f"y ~ {expression}")


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(alphabet="xyz0123456789+-*/()~|:. eIC", max_size=80))
def test_arbitrary_text_is_answered_or_refused(text: str) -> None:
    _answer(text)
