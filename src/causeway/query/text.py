"""The typed form of a filter: ``age >= 65 and sex == 'female'`` ⇄ the IR of :mod:`causeway.query.ir`.

A hand-written tokenizer and recursive-descent parser; user text is never evaluated. Every mistake
is a :class:`QueryError` whose message points at the character (a caret under the text), and the
limits keep the result within what the hub accepts (``ir.MAX_DEPTH``, ``ir.MAX_IN_VALUES``).

Grammar (keywords are case-insensitive; ``not`` binds tighter than ``and``, ``and`` than ``or``)::

    filter    := or_expr END
    or_expr   := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | "(" or_expr ")" | condition
    condition := column ( ("==" | "=" | "!=" | "<" | "<=" | ">" | ">=") value
                        | ["not"] "in" ( "(" values ")" | "[" values "]" )
                        | ["not"] "between" value "and" value
                        | "is" ["not"] "null" )
    values    := value ("," value)* [","]
    value     := STRING | NUMBER | "true" | "false" | "date" STRING
    column    := NAME | `BACKQUOTED NAME`
"""

from __future__ import annotations

import datetime as dt
import math
import re

from causeway.model.errors import QueryError
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
    Value,
)
from causeway.query.tokens import (
    COMPARISONS,
    INT64_MAX,
    INT64_MIN,
    KEYWORDS,
    Source,
    Token,
    clip,
    describe,
    is_bare,
    keyword,
    quote,
    tokenize,
)

MAX_TEXT_LENGTH = 50_000
# A flat chain of n conditions is n - 1 deep in the IR, so this keeps any chain under MAX_DEPTH.
MAX_TERMS = 64
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def from_text(text: str, *, label: str | None = None) -> Node:
    """Parse a typed filter into its IR; ``label`` (e.g. ``"--where"``) starts every error message."""
    if not isinstance(text, str):
        raise QueryError(f"a typed filter must be text, not {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        prefix = f"{label}: " if label else ""
        raise QueryError(
            f"{prefix}the filter is {len(text)} characters long; the limit is {MAX_TEXT_LENGTH}"
        )
    return _Parser(Source(text, label)).parse()


def to_text(node: Node) -> str:
    """Print a filter as text that :func:`from_text` parses back to an equal node.

    A node the text form cannot carry (deeper or longer than the limits, a value that is not
    finite, an integer beyond 64 bits, a string with a lone surrogate) is a :class:`QueryError`.
    """
    _check_size(node)
    text = _print(node, 0)
    if len(text) > MAX_TEXT_LENGTH:
        raise QueryError(f"the filter is longer than {MAX_TEXT_LENGTH} characters as text")
    return text


class _Parser:
    """Recursive descent over the tokens, one method per rule of the grammar above; ``and`` and
    ``or`` chains and runs of ``not`` are loops, so only parentheses recurse (at most MAX_DEPTH)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.at = 0
        self.terms = 0
        self.parens = 0
        self.error = source.error

    # --- helpers over the token stream ---

    def peek(self) -> Token:
        return self.tokens[self.at]

    def next(self) -> Token:
        token = self.tokens[self.at]
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def is_word(self, word: str, token: Token | None = None) -> bool:
        token = token or self.peek()
        return token.kind == "name" and keyword(token.text) == word

    def is_punct(self, punct: str, token: Token | None = None) -> bool:
        token = token or self.peek()
        return token.kind == "punct" and token.text == punct

    # --- grammar ---

    def parse(self) -> Node:
        if self.peek().kind == "end":
            label = self.source.label
            raise QueryError(f"{label}: the filter is empty" if label else "the filter is empty")
        node, _ = self.or_expr()
        token = self.peek()
        if self.is_punct(")"):
            raise self.error(token.pos, "there is no '(' for this ')' to close")
        if token.kind != "end":
            raise self.error(token.pos, f"expected 'and', 'or' or the end, found {describe(token)}")
        return node

    def or_expr(self) -> tuple[Node, int]:
        left, depth = self.and_expr()
        while self.is_word("or"):
            op = self.next()
            right, right_depth = self.and_expr()
            left, depth = Or(left, right), self.deeper(depth, right_depth, op)
        return left, depth

    def and_expr(self) -> tuple[Node, int]:
        left, depth = self.not_expr()
        while self.is_word("and"):
            op = self.next()
            right, right_depth = self.not_expr()
            left, depth = And(left, right), self.deeper(depth, right_depth, op)
        return left, depth

    def not_expr(self) -> tuple[Node, int]:
        nots = []
        while self.is_word("not"):  # a loop, not recursion: "not not … x" cannot exhaust the stack
            nots.append(self.next())
        node, depth = self.primary()
        for op in reversed(nots):
            node, depth = Not(node), self.deeper(depth, 0, op)
        return node, depth

    def deeper(self, left: int, right: int, op: Token) -> int:
        depth = 1 + max(left, right)
        if depth > MAX_DEPTH:
            raise self.error(op.pos, f"the filter is nested more than {MAX_DEPTH} deep")
        return depth

    def primary(self) -> tuple[Node, int]:
        if not self.is_punct("("):
            return self.condition()
        opening = self.next()
        self.parens += 1
        if self.parens > MAX_DEPTH:
            raise self.error(opening.pos, f"parentheses are nested more than {MAX_DEPTH} deep")
        node, depth = self.or_expr()
        closing = self.next()
        if not self.is_punct(")", closing):
            found = "" if closing.kind == "end" else f", found {describe(closing)}"
            raise self.error(
                closing.pos, f"expected ')' to match the '(' at character {opening.pos + 1}{found}"
            )
        self.parens -= 1
        return node, depth

    def condition(self) -> tuple[Node, int]:
        start = self.peek()
        column = self.column()
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(
                start.pos,
                f"too many conditions: a filter holds at most {MAX_TERMS}",
                "list many values of one column with 'in (…)'",
            )
        token = self.next()
        if token.kind == "op":
            return Compare(column, COMPARISONS[token.text], self.value(token)), 0
        negated = self.is_word("not", token)
        if negated:
            token = self.next()
            if not (self.is_word("in", token) or self.is_word("between", token)):
                raise self.error(token.pos, "expected 'in' or 'between' after 'not'")
        node: Node
        if self.is_word("in", token):
            node = IsIn(column, self.values(token))
        elif self.is_word("between", token):
            low = self.value(token)
            joiner = self.next()
            if not self.is_word("and", joiner):
                raise self.error(joiner.pos, "expected 'and' between the two ends of 'between'")
            node = Between(column, low, self.value(joiner))
        elif self.is_word("is", token):
            negated = self.is_word("not")
            if negated:
                self.next()
            token = self.next()
            if not self.is_word("null", token):
                raise self.error(token.pos, "expected 'null' after 'is'")
            node = IsNull(column)
        else:
            raise self.error(
                token.pos,
                "expected a comparison (==, !=, <, <=, >, >=, in, not in, between, is null) "
                f"after the column {column!r}",
            )
        return (Not(node), 1) if negated else (node, 0)

    def column(self) -> str:
        previous = self.tokens[self.at - 1] if self.at else None
        token = self.next()
        if token.kind == "quoted":
            return str(token.value)
        word = keyword(token.text) if token.kind == "name" else None
        if token.kind == "name" and word is None:
            return token.text
        if token.kind in ("string", "number") or word in ("true", "false", "null"):
            raise self.error(
                token.pos, "a condition starts with its column", "as in: age >= 65, not 65 <= age"
            )
        if word is not None:
            raise self.error(
                token.pos,
                f"expected a column name, found the keyword '{token.text}'",
                f"a column of that name is written in backquotes: `{token.text}`",
            )
        after = f" after {describe(previous)}" if previous else ""
        raise self.error(token.pos, f"expected a condition{after}")

    def values(self, after: Token) -> tuple[Value, ...]:
        opening = self.next()
        if not (self.is_punct("(", opening) or self.is_punct("[", opening)):
            raise self.error(opening.pos, f"expected '(' with the values after '{after.text}'")
        close = ")" if opening.text == "(" else "]"
        if self.is_punct(close):
            raise self.error(self.peek().pos, "'in' needs at least one value")
        values: list[Value] = []
        previous = opening
        while True:
            if len(values) == MAX_IN_VALUES:
                raise self.error(self.peek().pos, f"'in' takes at most {MAX_IN_VALUES} values")
            values.append(self.value(previous))
            previous = self.next()
            if self.is_punct(close, previous):
                return tuple(values)
            if not self.is_punct(",", previous):
                raise self.error(
                    previous.pos,
                    f"expected ',' or '{close}' to close the '{opening.text}' "
                    f"at character {opening.pos + 1}",
                )
            if self.is_punct(close):  # a trailing comma
                self.next()
                return tuple(values)

    def value(self, after: Token) -> Value:
        token = self.next()
        if token.kind in ("string", "number"):
            return token.value
        word = token.text.lower() if token.kind == "name" and token.text.isascii() else None
        if word in ("true", "false"):
            return word == "true"
        if word == "date":
            return self.date()
        if word == "null":
            raise self.error(
                token.pos, "'null' is not a value", "test for missing values with 'is null'"
            )
        if word in ("nan", "inf", "infinity"):
            raise self.error(token.pos, f"'{token.text}' is not a finite number")
        hint = ""
        if token.kind == "name" and word not in KEYWORDS:
            hint = f"text goes in quotes, as in '{clip(token.text)}'"
        elif token.kind == "quoted":
            hint = "a filter compares a column with a value, not with another column"
        raise self.error(token.pos, f"expected a value after '{after.text}'", hint)

    def date(self) -> dt.date:
        token = self.next()
        if token.kind != "string":
            raise self.error(
                token.pos, "expected a quoted date after 'date'", "as in date '2024-01-31'"
            )
        text = str(token.value)
        try:
            if not _ISO_DATE.fullmatch(text):
                raise ValueError(text)
            return dt.date.fromisoformat(text)
        except ValueError:
            raise self.error(
                token.pos, f"not a date: {clip(text)!r}", "dates are written date 'YYYY-MM-DD'"
            ) from None


# --- printing --------------------------------------------------------------------------------

_OR, _AND, _NOT, _ATOM = 1, 2, 3, 4


def _check_size(node: Node) -> None:
    """Refuse, without recursion, trees the parser would refuse for their size."""
    stack: list[tuple[object, int]] = [(node, 0)]
    terms = 0
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise QueryError(f"the filter is nested more than {MAX_DEPTH} deep")
        if isinstance(item, And | Or):
            stack += [(item.left, depth + 1), (item.right, depth + 1)]
        elif isinstance(item, Not):
            stack.append((item.arg, depth + 1))
        elif isinstance(item, Compare | IsIn | Between | IsNull):
            terms += 1
        else:
            raise QueryError(f"not a filter node: {item!r}")
    if terms > MAX_TERMS:
        raise QueryError(f"a filter holds at most {MAX_TERMS} conditions")


def _print(node: Node, context: int) -> str:
    text, precedence = _form(node)
    return f"({text})" if precedence < context else text


def _form(node: Node) -> tuple[str, int]:
    match node:
        case Or(left=a, right=b):
            return f"{_print(a, _OR)} or {_print(b, _AND)}", _OR
        case And(left=a, right=b):
            return f"{_print(a, _AND)} and {_print(b, _NOT)}", _AND
        case Not(arg=IsNull(column=c)):
            return f"{_column(c)} is not null", _ATOM
        case Not(arg=IsIn() | Between() as inner):
            return _range(inner, " not"), _ATOM
        case Not(arg=a):
            return f"not {_print(a, _NOT)}", _NOT
        case Compare(column=c, op=op, value=v):
            return f"{_column(c)} {op} {_literal(v)}", _ATOM
        case IsIn() | Between():
            return _range(node, ""), _ATOM
        case IsNull(column=c):
            return f"{_column(c)} is null", _ATOM
    raise QueryError(f"not a filter node: {node!r}")


def _range(node: IsIn | Between, negation: str) -> str:
    if isinstance(node, Between):
        return f"{_column(node.column)}{negation} between {_literal(node.low)} and {_literal(node.high)}"
    if not 0 < len(node.values) <= MAX_IN_VALUES:
        raise QueryError(f"'in' takes 1 to {MAX_IN_VALUES} values, not {len(node.values)}")
    values = ", ".join(_literal(v) for v in node.values)
    return f"{_column(node.column)}{negation} in ({values})"


def _column(name: str) -> str:
    """A column as written: bare when the tokenizer reads it back whole, else in backquotes."""
    if not isinstance(name, str) or not name:
        raise QueryError(f"a filter names its column as a non-empty string, not {name!r}")
    return name if is_bare(name) and keyword(name) is None else quote(name, "`")


def _literal(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise QueryError(f"the integer {value} is too large to write exactly as text")
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QueryError(f"a filter value must be a finite number, not {value!r}")
        return repr(float(value))
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date | str):
        raise QueryError(f"a filter value must be a number, string, boolean or date, not {value!r}")
    if isinstance(value, dt.date):
        return f"date '{value.isoformat()}'"
    return quote(value, '"' if "'" in value and '"' not in value else "'")
