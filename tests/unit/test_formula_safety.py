"""Formulas come from researchers and formulaic evaluates Python: only arithmetic on columns, C(),
I() and a few numpy functions may pass, at the hub and again at every node."""

from __future__ import annotations

from pathlib import Path

import pytest

from causeway.algorithms.design import parse
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import InvalidRequest

DICTIONARY = Dictionary(
    (
        Column("y", ColumnType.NUMERIC),
        Column("x", ColumnType.NUMERIC, minimum=0, maximum=100),
        Column("s", ColumnType.CATEGORICAL, levels=("a", "b")),
    )
)


@pytest.mark.parametrize(
    "formula",
    [
        "y ~ x + C(s)",
        "y ~ I(x - 50) + I((x / 10) ** 2)",
        "y ~ np.log(x + 1) + np.sqrt(x) + x:C(s)",
        "y ~ {x * 2} - 1",
    ],
)
def test_arithmetic_formulas_pass(formula: str) -> None:
    assert parse("glm", formula, DICTIONARY, response=True).response == "y"


@pytest.mark.parametrize(
    "formula",
    [
        "y ~ {x + 0*x.__init__.__globals__['__builtins__']['__import__']('os').system('touch PWNED')}",
        "y ~ x + __import__('os').getpid()",
        "y ~ I(open('/etc/passwd'))",
        "y ~ np.loadtxt('/etc/passwd')",
        "y ~ I(x if x else 1)",
        "y ~ C(s, contr.treatment)",
        "y ~ {[c for c in ().__class__.__mro__]}",
        "y ~ I(eval('1'))",
    ],
)
def test_code_in_a_formula_is_refused_before_it_runs(formula: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest):
        parse("glm", formula, DICTIONARY, response=True)
    assert not Path("PWNED").exists()


def test_c_takes_one_categorical_column() -> None:
    with pytest.raises(InvalidRequest, match="not categorical"):
        parse("glm", "y ~ C(x)", DICTIONARY, response=True)
