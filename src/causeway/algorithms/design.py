"""Design matrices from formulas, built identically at every site.

Formulas use formulaic. Categorical columns arrive as pandas categoricals whose categories are the
dictionary's levels, so every site encodes the same columns (the reference is the first level) even
when a level is absent locally. The hub computes the expected term names from the dictionary alone
and each node checks its matrix against them, so a site that would encode differently fails loudly.

Stateful transforms (``center``, ``scale``, ``poly``, splines…) learn from each site's own rows and
would silently encode sites differently: they are refused.

A design whose terms are all plain numeric or boolean columns (and the intercept) is the columns
side by side: :func:`plain`, :func:`plain_block` and :func:`plain_design` read them from the
node's engine into one float matrix (Arrow batches, no DataFrame) and give the values formulaic
would; everything else goes through formulaic.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from formulaic import Formula, model_matrix
from formulaic.errors import FormulaicError
from formulaic.formula import SimpleFormula

from causeway.model.data import DataView
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import DisclosureRefused, InvalidRequest, ModelError

FloatArray = npt.NDArray[np.float64]
# |x'beta| beyond it: fitted probabilities are 0 or 1 in float64, and exp() ratios in a Cox risk
# set exceed 1e15 (one row outweighs any other): coefficients from the hub are held within it
MAX_LINEAR_PREDICTOR = 36.0

_STATEFUL = re.compile(r"\b(center|scale|standardize|poly|bs|cr|cs|cc|te|hashed|lag)\s*\(")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ParsedFormula:
    """``response`` is a column name (or None for a right-hand side only); ``variables`` are the
    right-hand side's columns."""

    response: str | None
    rhs: str
    variables: tuple[str, ...]
    # the right-hand side's terms in formulaic's order when each is the intercept ("1") or one
    # column by its name (a plain formula, the common case), else None
    plain_terms: tuple[str, ...] | None = None


def parse(
    algorithm: str, formula: object, dictionary: Dictionary, *, response: bool
) -> ParsedFormula:
    if not isinstance(formula, str) or not formula.strip():
        raise InvalidRequest(f"{algorithm} needs a formula such as 'y ~ x1 + x2'")
    if len(formula) > MAX_FORMULA_LENGTH:
        raise InvalidRequest(
            f"{algorithm}: a formula is at most {MAX_FORMULA_LENGTH} characters, not {len(formula)}"
        )
    _check_interaction_order(algorithm, formula)
    found = _STATEFUL.search(formula)
    if found:
        raise InvalidRequest(
            f"{algorithm}: {found.group(1)}() learns from each site's own rows and would encode "
            "sites differently; transform with fixed constants instead (e.g. I(x - 50))"
        )
    lhs, sep, rhs = formula.partition("~")
    if response and not sep:
        raise InvalidRequest(f"{algorithm}: the formula needs a response, as in 'y ~ x'")
    if not sep:
        lhs, rhs = "", formula
    lhs = lhs.strip()
    if not response and lhs:
        raise InvalidRequest(f"{algorithm}: give only the right-hand side, as in '~ x1 + x2'")
    if response and not _NAME.match(lhs):
        raise InvalidRequest(f"{algorithm}: the response {lhs!r} must be a column name")
    try:
        parsed = Formula(rhs)
    except Exception as exc:  # formulaic's parser raises more than its own errors on odd text
        # (TypeError, StopIteration, …): any failure to parse text is the formula's, never a 500
        reason = _reason(exc)
        raise InvalidRequest(
            f"{algorithm}: cannot parse the formula {formula!r}: {reason}"
        ) from None
    if not isinstance(parsed, SimpleFormula):
        raise InvalidRequest(
            f"{algorithm}: {formula!r} has parts ('|'); a model takes one right-hand side"
        )
    if len(parsed) > MAX_TERMS:
        raise InvalidRequest(
            f"{algorithm}: the formula expands to {len(parsed)} terms (at most {MAX_TERMS})"
        )
    for term in parsed:
        for factor in term.factors:
            if factor.eval_method.value == "python":
                _check_expression(algorithm, str(factor.expr), dictionary)
    variables = tuple(sorted(str(v) for v in parsed.required_variables))
    if INTERCEPT in variables or lhs == INTERCEPT:
        # the design names its column of ones so: a column of that name would be taken for it
        # (read as ones, or merged with it), silently changing the model
        raise InvalidRequest(
            f"{algorithm}: column {INTERCEPT!r} has the name of the model's intercept; "
            "rename the column (e.g. with a derived column) to use it in a formula"
        )
    for name in (*variables, *([lhs] if response else [])):
        _analysable(algorithm, name, dictionary)
    return ParsedFormula(lhs if response else None, rhs.strip(), variables, _plain_terms(parsed))


def _plain_terms(parsed: SimpleFormula) -> tuple[str, ...] | None:
    """The terms when each is the literal 1 or one column looked up by a plain name."""
    out = []
    for term in parsed:
        factors = list(term.factors)
        if len(factors) != 1:
            return None
        method, expr = factors[0].eval_method.value, str(factors[0].expr)
        if not (
            (method == "literal" and expr == "1") or (method == "lookup" and _NAME.match(expr))
        ):
            return None
        out.append(expr)
    return tuple(out)


# What a formula may compute: arithmetic on columns and numbers, C() and I(), and a few
# elementwise numpy functions. Formulaic evaluates Python, and a formula arrives from a researcher:
# anything else (attributes, subscripts, other calls, comparisons…) is refused before evaluation.
_FUNCTIONS = frozenset({"C", "I"})
_NUMPY = frozenset({"log", "log1p", "log2", "log10", "exp", "expm1", "sqrt", "abs", "square"})
_OPERATORS = (
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.Mod,
    ast.FloorDiv,
    ast.USub,
    ast.UAdd,
)


MAX_FORMULA_LENGTH = 2_000
INTERCEPT = "Intercept"  # formulaic's name for the design's column of ones
MAX_TERMS = 500
MAX_INTERACTION_ORDER = 3
MAX_CONSTANT = 1e15
MAX_NESTING = 32
_ANSI = re.compile(r"\x1b\[[0-9;]*m|[⧚⧛]")


def _reason(exc: BaseException) -> str:
    """An exception's first line, without the colour codes formulaic puts in its messages."""
    lines = _ANSI.sub("", str(exc)).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _check_interaction_order(algorithm: str, formula: str) -> None:
    """``(a + b + ...) ** k`` outside I() expands to every interaction up to order k: refused
    above :data:`MAX_INTERACTION_ORDER` before formulaic expands it (k = 20 over 20 columns is a
    million terms)."""
    outside: list[str] = []
    inside_call: list[int] = []
    depth = 0
    i = 0
    while i < len(formula):
        call = re.match(r"(?:I|np\.\w+)\s*\(", formula[i:])
        if call and not inside_call:
            inside_call.append(depth)
            depth += 1
            i += call.end()
            continue
        char = formula[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if inside_call and depth == inside_call[-1]:
                inside_call.pop()
                i += 1
                continue
        if not inside_call:
            outside.append(char)
        i += 1
    for power in re.finditer(r"\*\*\s*\(?\s*([0-9.eE+-]+)", "".join(outside)):
        try:
            order = float(power.group(1))
        except ValueError:
            order = math.inf
        if not order <= MAX_INTERACTION_ORDER:
            raise InvalidRequest(
                f"{algorithm}: interactions up to order {MAX_INTERACTION_ORDER} only "
                f"('(a + b) ** 2'); got ** {power.group(1)}"
            )


def _check_expression(algorithm: str, expr: str, dictionary: Dictionary) -> None:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        raise InvalidRequest(f"{algorithm}: cannot parse {expr!r} in the formula") from None
    allowed = _allowed(tree.body, dictionary, 0)
    if allowed is not None:
        raise InvalidRequest(
            f"{algorithm}: {allowed} is not allowed in a formula; use columns, numbers, "
            f"+ - * / **, C(), I() and np.{'/'.join(sorted(_NUMPY))}"
        )


def _allowed(node: ast.AST, dictionary: Dictionary, depth: int) -> str | None:
    """None if ``node`` is a safe expression of bounded cost, else a description of the first
    offending part: numbers, and powers of numbers, of magnitude at most :data:`MAX_CONSTANT`
    (``3 ** (2 * 10 ** 7)`` held the hub's interpreter for 40 s), nesting at most
    :data:`MAX_NESTING` deep."""
    if depth > MAX_NESTING:
        return f"an expression nested more than {MAX_NESTING} deep"
    match node:
        case ast.Constant(value=value) if isinstance(value, int | float) and not isinstance(
            value, bool
        ):
            if not abs(float(value)) <= MAX_CONSTANT:
                return f"the number {ast.unparse(node)[:40]} (numbers up to {MAX_CONSTANT:g})"
            return None
        case ast.Name(id=name) if name in dictionary:
            return None
        case ast.BinOp(left=ast.expr() as left, op=ast.Pow(), right=ast.expr() as right) if (
            _is_constant(left) and _is_constant(right)
        ):
            # a power of Python numbers is computed exactly before numpy sees it: folded here in
            # floats instead, so 3 ** (2 * 10 ** 7) overflows at once rather than building an
            # integer of millions of digits (columns are float arrays: their powers are cheap)
            if _constant(node) is None:
                return f"the power {ast.unparse(node)[:40]!r} (numbers up to {MAX_CONSTANT:g})"
            return None
        case ast.BinOp(left=left, op=op, right=right) if isinstance(op, _OPERATORS):
            return _allowed(left, dictionary, depth + 1) or _allowed(right, dictionary, depth + 1)
        case ast.UnaryOp(op=op, operand=operand) if isinstance(op, _OPERATORS):
            return _allowed(operand, dictionary, depth + 1)
        case ast.Call(func=ast.Name(id="C"), args=[ast.Name(id=name)], keywords=[]):
            column = dictionary.get(name)
            if column is None or column.type not in (ColumnType.CATEGORICAL, ColumnType.BOOLEAN):
                return f"C({name}) on a column that is not categorical"
            return None
        case ast.Call(func=ast.Name(id="C")):
            return f"{ast.unparse(node)!r} (C() takes one categorical column)"
        case ast.Call(func=func, args=args, keywords=[]) if _callable(func):
            for arg in args:
                found = _allowed(arg, dictionary, depth + 1)
                if found:
                    return found
            return None
        case ast.Name(id=name):
            return f"the name {name!r}"
    return f"{ast.unparse(node)!r}"


def _is_constant(node: ast.AST) -> bool:
    """Whether ``node`` involves numbers only (no column)."""
    return not any(isinstance(n, ast.Name) for n in ast.walk(node))


def _constant(node: ast.AST) -> float | None:
    """The value of a constant expression, in floats (so a huge power overflows at once rather
    than building a huge integer), or None when it is not one or not finite."""
    try:
        value = _fold(node, 0)
    except (OverflowError, ZeroDivisionError, ValueError):
        return None
    return value if value is not None and math.isfinite(value) else None


def _fold(node: ast.AST, depth: int) -> float | None:
    if depth > MAX_NESTING:
        return None
    match node:
        case ast.Constant(value=value) if isinstance(value, int | float) and not isinstance(
            value, bool
        ):
            return float(value) if abs(float(value)) <= MAX_CONSTANT else None
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            inner = _fold(operand, depth + 1)
            return None if inner is None else -inner
        case ast.BinOp(left=left, op=op, right=right):
            a, b = _fold(left, depth + 1), _fold(right, depth + 1)
            if a is None or b is None:
                return None
            if isinstance(op, ast.Pow):
                value = float(math.pow(a, b))
                return value if abs(value) <= MAX_CONSTANT else None
            operations = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}
            if type(op) in operations:
                return operations[type(op)]
            if isinstance(op, ast.Div):
                return a / b
    return None


def _callable(func: ast.expr) -> bool:
    match func:
        case ast.Name(id=name):
            return name in _FUNCTIONS
        case ast.Attribute(value=ast.Name(id="np"), attr=attr):
            return attr in _NUMPY
    return False


def _analysable(algorithm: str, name: str, dictionary: Dictionary) -> Column:
    col = dictionary.get(name)
    if col is None:
        raise InvalidRequest(
            f"{algorithm}: unknown column {name!r} in the formula; valid columns are: "
            f"{', '.join(dictionary.names)}"
        )
    if col.type in (ColumnType.TEXT, ColumnType.DATE):
        raise InvalidRequest(f"{algorithm}: column {name!r} is {col.type.value}: not modelable")
    return col


def expected_terms(
    algorithm: str, formula: ParsedFormula, dictionary: Dictionary, *, intercept: bool = True
) -> list[str]:
    """The design's column names, from the dictionary alone (no data). A plain formula of
    numeric and boolean columns names them as its terms (formulaic's own names: the intercept,
    then the columns in its order; a test holds the two equal); any other is built by formulaic
    on a few synthetic rows."""
    columns = [_analysable(algorithm, v, dictionary) for v in formula.variables]
    if formula.plain_terms is not None and all(
        c.type.is_numeric or c.type is ColumnType.BOOLEAN for c in columns
    ):
        names = ["Intercept" if t == "1" else t for t in formula.plain_terms]
        return names if intercept else [n for n in names if n != "Intercept"]
    return _expected_by_formulaic(algorithm, formula, columns, intercept)


def _expected_by_formulaic(
    algorithm: str, formula: ParsedFormula, columns: list[Column], intercept: bool
) -> list[str]:
    size = 2 * max([len(c.levels or ()) for c in columns] + [3]) + 2
    frame = pd.DataFrame({c.name: _synthetic(c, size) for c in columns}, index=range(size))
    names = list(_matrix(algorithm, formula.rhs, frame).columns)
    return names if intercept else [n for n in names if n != "Intercept"]


def _synthetic(col: Column, size: int) -> Any:
    if col.type is ColumnType.CATEGORICAL:
        levels = list(col.levels or ())
        return pd.Categorical([levels[i % len(levels)] for i in range(size)], categories=levels)
    if col.type is ColumnType.BOOLEAN:
        return np.arange(size, dtype=float) % 2
    low = col.minimum if col.minimum is not None else 1.0
    high = col.maximum if col.maximum is not None else low + size
    return low + (high - low) * (np.arange(size) + 1.0) / (size + 1.0)


def _matrix(algorithm: str, rhs: str, frame: pd.DataFrame) -> pd.DataFrame:
    try:
        matrix = model_matrix(rhs, frame, na_action="ignore")
    except (
        FormulaicError,
        ValueError,
        TypeError,
        NameError,
        StopIteration,
        ArithmeticError,
    ) as exc:
        reason = _reason(exc)
        raise InvalidRequest(
            f"{algorithm}: cannot build the design from {rhs!r}: {reason}"
        ) from None
    return pd.DataFrame(matrix)


def prepare(frame: pd.DataFrame, dictionary: Dictionary) -> pd.DataFrame:
    """Columns as the formula should see them: numbers and booleans as float, categoricals kept."""
    out = {}
    for name in frame.columns:
        col = dictionary.get(str(name))
        series = frame[name]
        if col is not None and col.type is ColumnType.CATEGORICAL:
            out[name] = series
        else:
            out[name] = pd.Series(
                series.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan),
                index=frame.index,
            )
    return pd.DataFrame(out, index=frame.index)


def complete_frame(view: DataView, columns: Sequence[str]) -> pd.DataFrame:
    """The filtered rows of ``columns`` with no missing value among them (complete cases)."""
    unique = list(dict.fromkeys(columns))
    frame = prepare(view.frame(unique), view.dictionary)
    return frame.dropna(how="any").reset_index(drop=True)


def design(algorithm: str, rhs: str, frame: pd.DataFrame, terms: Sequence[str]) -> FloatArray:
    """The design matrix with exactly the columns ``terms`` (from :func:`expected_terms`)."""
    if frame.empty:
        return np.zeros((0, len(terms)))
    matrix = _matrix(algorithm, rhs, frame)
    names = list(matrix.columns)
    wanted = list(terms)
    if "Intercept" in names and "Intercept" not in wanted:
        names.remove("Intercept")
    if names != wanted:
        raise ModelError(
            f"{algorithm}: this site's design has columns {names}, the hub expected {wanted}; "
            "the sites do not share one dictionary"
        )
    values = matrix[wanted].to_numpy(dtype=np.float64)
    if values.shape[0] and not np.all(np.isfinite(values)):
        bad = [t for t, ok in zip(wanted, np.isfinite(values).all(axis=0), strict=True) if not ok]
        raise ModelError(f"{algorithm}: term(s) {', '.join(bad)} are not finite at some rows")
    return values


def plain(dictionary: Dictionary, columns: Sequence[str], terms: Sequence[str]) -> bool:
    """Whether every one of ``columns`` is numeric or boolean and every term is the intercept or
    one of them as it is: the design is then those columns side by side (what formulaic builds
    from them), read straight from the engine by :func:`plain_block` without a DataFrame."""
    names = set(columns)
    for name in columns:
        col = dictionary.get(name)
        if col is None or not (col.type.is_numeric or col.type is ColumnType.BOOLEAN):
            return False
    return all(t == "Intercept" or t in names for t in terms)


def plain_block(view: DataView, columns: Sequence[str]) -> tuple[FloatArray, list[str]]:
    """The complete cases of ``columns`` (all numeric or boolean, see :func:`plain`) as one
    float64 matrix from the engine, and its column names (``columns`` without repeats)."""
    unique = list(dict.fromkeys(columns))
    return view.complete_floats(unique), unique


def plain_matrix(
    algorithm: str, view: DataView, terms: Sequence[str], extra: Sequence[str]
) -> tuple[FloatArray, dict[str, FloatArray]]:
    """The design of plain terms (:func:`plain`) read from the engine as the first columns of
    one column-major matrix (the intercept a column of ones), and the ``extra`` columns (a
    response, weights) beside it, all views of that matrix: the rows are held once, in the
    values formulaic gives for the same columns."""
    return plain_split(algorithm, view.complete_floats(plain_columns(terms, extra)), terms, extra)


def plain_columns(terms: Sequence[str], extra: Sequence[str]) -> list[str | None]:
    """What :func:`plain_matrix` reads: the terms (None for the intercept), then the ``extra``
    columns that are not terms."""
    others = [c for c in dict.fromkeys(extra) if c not in terms]
    return [*(None if t == "Intercept" else t for t in terms), *others]


def plain_split(
    algorithm: str, block: FloatArray, terms: Sequence[str], extra: Sequence[str]
) -> tuple[FloatArray, dict[str, FloatArray]]:
    """A matrix of :func:`plain_columns` (all rows, or a chunk of them) as the design and the
    named columns, views of it; a term not finite at some row is refused."""
    others = [c for c in dict.fromkeys(extra) if c not in terms]
    x = block[:, : len(terms)]
    finite = np.ones(len(terms), dtype=bool)
    for j in range(len(terms)):
        finite[j] = bool(np.isfinite(x[:, j]).all())
    if not finite.all():
        bad = [t for t, ok in zip(terms, finite.tolist(), strict=True) if not ok]
        raise ModelError(f"{algorithm}: term(s) {', '.join(bad)} are not finite at some rows")
    columns = {c: block[:, len(terms) + i] for i, c in enumerate(others)}
    columns.update({t: x[:, j] for j, t in enumerate(terms) if t != "Intercept"})
    return x, columns


def plain_design(
    algorithm: str,
    block: FloatArray,
    names: Sequence[str],
    terms: Sequence[str],
    *,
    order: npt.NDArray[np.intp] | None = None,
    shift: FloatArray | None = None,
) -> FloatArray:
    """The design of plain terms (:func:`plain`) from :func:`plain_block`'s matrix: the
    intercept as ones, each other term its column, row-major; the values are those
    formulaic gives for the same columns. ``order``: a permutation of the block's rows,
    taken in that order (a sort, gathered as the rows are laid out: no sorted copy of the
    block); ``shift``: each column less this (a site's centring, taken in the same pass)."""
    n = block.shape[0] if order is None else order.shape[0]
    x = np.empty((n, len(terms)), dtype=np.float64)
    sources = [None if t == "Intercept" else block[:, list(names).index(t)] for t in terms]
    # every row of each column is taken (``order`` permutes them): judged column by column
    finite = np.array([c is None or bool(np.isfinite(c).all()) for c in sources], dtype=bool)
    step = 16_384  # row blocks: the transposition into rows stays within the processor's cache
    for start in range(0, n, step):
        rows = slice(start, start + step)
        taken = rows if order is None else order[rows]
        for j, source in enumerate(sources):
            x[rows, j] = 1.0 if source is None else source[taken]
        if shift is not None:
            x[rows] -= shift
    if not finite.all():
        bad = [t for t, ok in zip(terms, finite.tolist(), strict=True) if not ok]
        raise ModelError(f"{algorithm}: term(s) {', '.join(bad)} are not finite at some rows")
    return x


def codes(series: pd.Series[Any]) -> npt.NDArray[np.int64]:
    """Level indices of a prepared grouping column: categorical codes, or 0/1 for a boolean."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return np.asarray(series.cat.codes, dtype=np.int64)
    return np.asarray(series, dtype=np.float64).astype(np.int64)


def support(x: FloatArray) -> npt.NDArray[np.int64]:
    """Rows behind each design column: [n, non-zero rows per column, zero rows per 0/1 column
    (0 for other columns, so every site sends the same shape)]. Released as a count part that
    guards a model's sums, so that a rare level (or an interaction with one) cannot carry a few
    patients' values out in X'X and its kin. Counted over row blocks (no copy of the design)."""
    n = x.shape[0]
    nonzero, binary = support_counts(x)
    return support_of(n, nonzero, binary)


def support_counts(x: FloatArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Non-zero rows per design column, and whether each column is 0/1 (:func:`support`'s
    pieces, which add up over chunks of rows: counts by sum, 0/1 by all)."""
    n, p = x.shape
    nonzero = np.zeros(p, dtype=np.int64)
    binary = np.ones(p, dtype=bool)
    for start in range(0, n, _BLOCK):
        block = x[start : start + _BLOCK]
        nonzero += np.count_nonzero(block, axis=0)
        binary &= np.all((block == 0) | (block == 1), axis=0)
    return nonzero, binary


def support_of(
    n: int, nonzero: npt.NDArray[np.int64], binary: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """:func:`support` from its pieces."""
    return np.concatenate([[n], nonzero, np.where(binary, n - nonzero, 0)]).astype(np.int64)


def outcome_support(x: FloatArray, outcome: FloatArray | None) -> npt.NDArray[np.int64]:
    """For a 0/1 ``outcome`` (a binary response, a Cox event): rows with each outcome overall and
    among the rows where each design column is non-zero, [y=1, y=0, per column: y=1, y=0]; all
    zeros (the same shape at every site) when there is no such outcome."""
    n, p = x.shape
    if outcome is None:
        return np.zeros(2 + 2 * p, dtype=np.int64)
    y = np.asarray(outcome, dtype=np.float64)
    ones, nonzero = np.zeros(p, dtype=np.int64), np.zeros(p, dtype=np.int64)
    for start in range(0, n, _BLOCK):
        rows = slice(start, start + _BLOCK)
        mask = x[rows] != 0
        # y is 0/1: the rows with y = 1 among the non-zero ones are those where y is non-zero
        ones += np.count_nonzero(mask & (y[rows, None] != 0), axis=0)
        nonzero += np.count_nonzero(mask, axis=0)
    zeros = nonzero - ones
    head = [float(y.sum()), float(len(y) - y.sum())]
    return np.concatenate([head, np.ravel(np.column_stack([ones, zeros]))]).astype(np.int64)


def column_support(columns: Sequence[FloatArray], outcome: FloatArray) -> npt.NDArray[np.int64]:
    """:func:`support` and :func:`outcome_support` side by side, of the design whose columns
    are ``columns`` (each one array, contiguous such as a column of :func:`plain_block`'s
    matrix, in any order of rows) and a 0/1 ``outcome``: counted column by column, one pass
    over each, with the same values."""
    y = np.asarray(outcome, dtype=np.float64)
    n, p = y.shape[0], len(columns)
    event = y != 0
    nonzero = np.zeros(p, dtype=np.int64)
    ones = np.zeros(p, dtype=np.int64)  # rows equal to 1: the column is 0/1 if all non-zero are
    with_outcome = np.zeros(p, dtype=np.int64)
    for j, column in enumerate(columns):
        present = column != 0
        nonzero[j] = np.count_nonzero(present)
        ones[j] = np.count_nonzero(column == 1)
        with_outcome[j] = np.count_nonzero(present & event)
    binary = ones == nonzero
    head = [float(y.sum()), float(n - y.sum())]
    pairs = np.ravel(np.column_stack([with_outcome, nonzero - with_outcome]))
    return np.concatenate(
        [support_of(n, nonzero, binary), np.concatenate([head, pairs]).astype(np.int64)]
    )


# rows per block of the counts above
_BLOCK = 65_536


def corners(
    algorithm: str, rhs: str, variables: Sequence[str], dictionary: Dictionary, terms: Sequence[str]
) -> FloatArray:
    """The design at every corner of the variables' bounds (up to 2^10 corners) and at every
    level of each categorical: the extremes a design row can reach on data within the
    dictionary, known from the dictionary alone (so kept for the next rounds, read-only)."""
    try:
        return _corners(algorithm, rhs, tuple(variables), dictionary, tuple(terms))
    except TypeError:  # a dictionary built by hand with unhashable levels: not kept
        return _corners.__wrapped__(algorithm, rhs, tuple(variables), dictionary, tuple(terms))


@functools.lru_cache(maxsize=64)
def _corners(
    algorithm: str,
    rhs: str,
    variables: tuple[str, ...],
    dictionary: Dictionary,
    terms: tuple[str, ...],
) -> FloatArray:
    columns = [_analysable(algorithm, v, dictionary) for v in variables]
    numeric = [c for c in columns if c.type.is_numeric]
    size = max(2 ** min(len(numeric), 10), *[len(c.levels or ()) for c in columns], 2)
    frame = pd.DataFrame({c.name: _extreme(c, size, numeric) for c in columns}, index=range(size))
    x = design(algorithm, rhs, frame, list(terms))
    x.setflags(write=False)
    return x


def linear_reach(
    algorithm: str,
    parsed: ParsedFormula,
    dictionary: Dictionary,
    terms: Sequence[str],
    beta: FloatArray,
    *,
    spread: bool = False,
) -> float:
    """The largest |x'beta| over :func:`corners` (the range a linear predictor can take); with
    ``spread``, the largest difference between two rows' x'beta (what a Cox risk set sees)."""
    if beta.shape != (len(terms),) or not np.all(np.isfinite(beta)):
        return math.inf
    x = corners(algorithm, parsed.rhs, parsed.variables, dictionary, terms)
    if not x.size:
        return float(np.abs(beta).sum())
    eta = x @ beta
    return float(eta.max() - eta.min()) if spread else float(np.max(np.abs(eta)))


def coefficients(state: Mapping[str, Any], *keys: str) -> list[tuple[str, FloatArray]]:
    """The coefficient vectors the hub sent in a round's state, under ``keys`` (absent ones
    skipped)."""
    return [
        (key, np.asarray(state[key], dtype=np.float64))
        for key in keys
        if state.get(key) is not None
    ]


def refuse_steep(reaches: Iterable[float], refusal: str) -> None:
    """Refuse (``refusal``) any linear-predictor reach beyond :data:`MAX_LINEAR_PREDICTOR`:
    judged from the hub's coefficients and the dictionary alone, so it says nothing of a row."""
    for reach in reaches:
        if not np.isfinite(reach) or reach > MAX_LINEAR_PREDICTOR:
            raise DisclosureRefused(refusal)


def _extreme(column: Column, size: int, numeric: list[Column]) -> Any:
    if column.type is ColumnType.CATEGORICAL:
        levels = list(column.levels or ())
        return pd.Categorical([levels[i % len(levels)] for i in range(size)], categories=levels)
    if column.type is ColumnType.BOOLEAN:
        return np.arange(size, dtype=float) % 2
    position = numeric.index(column) if column in numeric else 0
    low = column.minimum if column.minimum is not None else -1.0
    high = column.maximum if column.maximum is not None else 1.0
    corner = (np.arange(size) >> min(position, 9)) % 2
    return np.where(corner == 1, high, low).astype(float)
