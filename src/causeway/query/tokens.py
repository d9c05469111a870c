"""The tokens of a typed filter, and errors that point at the character where the text goes wrong.

The tokenizer reads names, backquoted names, quoted strings, numbers, operators and punctuation; it
refuses control characters and lone surrogates anywhere, and numbers that are not finite or not
exact. :func:`quote` is the inverse of its string reading, for printing filters back as text.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from causeway.model.errors import QueryError
from causeway.query.ir import COMPARE_OPS, CompareOp

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "between", "null", "true", "false"})
COMPARISONS: dict[str, CompareOp] = {op: op for op in COMPARE_OPS} | {"=": "=="}
_OPS = sorted(COMPARISONS, key=len, reverse=True)  # the longest operator that matches wins
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "`": "`", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE_HINT = r"the escapes are \\ \' \" \` \n \r \t \uXXXX \UXXXXXXXX (\\ is a backslash)"
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class Token:
    kind: str  # "name", "quoted", "string", "number", "op", "punct" or "end"
    text: str  # as written
    pos: int  # 0-based offset of its first character
    value: str | int | float = ""


@dataclass(frozen=True)
class Source:
    """The text being read, and how to point at a place in it."""

    text: str
    label: str | None = None  # e.g. "--where", to start every message

    def error(self, pos: int, message: str, hint: str = "") -> QueryError:
        """The message, where (1-based), the text with a caret under the place, and a hint."""
        where = "at the end of the filter" if pos >= len(self.text) else f"at character {pos + 1}"
        prefix = f"{self.label}: " if self.label else ""
        text = f"{prefix}{message} {where}:\n{_pointer(self.text, pos)}"
        return QueryError(f"{text}\n{hint}" if hint else text)


def tokenize(source: Source) -> list[Token]:
    """The tokens of ``source.text``, ending in one of kind "end"."""
    return _Tokenizer(source).tokens()


def keyword(word: str) -> str | None:
    """The keyword ``word`` spells in any case, or None; only ASCII spellings count."""
    lowered = word.lower() if word.isascii() else ""
    return lowered if lowered in KEYWORDS else None


def is_bare(name: str) -> bool:
    """Whether ``name`` reads back as one name token (keywords aside)."""
    return bool(name) and _starts_name(name[0]) and all(_in_name(c) for c in name)


def _starts_name(char: str) -> bool:
    return char == "_" or char.isalpha()


def _in_name(char: str) -> bool:
    return char == "_" or char.isalnum()


def describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the filter"
    return repr(clip(token.text)) if token.kind != "number" else f"the number {clip(token.text)}"


def clip(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Tokenizer:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.text = source.text

    def tokens(self) -> list[Token]:
        self.refuse_invisible()
        out: list[Token] = []
        text, at = self.text, 0
        while at < len(text):
            char = text[at]
            if char.isspace():
                at += 1
                continue
            if char in "'\"`":
                value, end = self.quoted(at)
                kind = "quoted" if char == "`" else "string"
                if kind == "quoted" and not value:
                    raise self.source.error(at, "a backquoted column name cannot be empty")
                out.append(Token(kind, text[at:end], at, value))
            elif char in "0123456789-.":
                end = self.number_end(at)
                out.append(Token("number", text[at:end], at, self.number(at, end)))
            elif _starts_name(char):
                end = at + 1
                while end < len(text) and _in_name(text[end]):
                    end += 1
                out.append(Token("name", text[at:end], at))
            elif char in "()[],":
                end = at + 1
                out.append(Token("punct", char, at))
            else:
                op = next((op for op in _OPS if text.startswith(op, at)), None)
                if op is None:
                    hint = "'not equal' is written !=" if char == "!" else ""
                    raise self.source.error(at, f"unexpected character {_char(char)}", hint)
                end = at + len(op)
                out.append(Token("op", op, at))
            at = end
        out.append(Token("end", "", len(text)))
        return out

    def refuse_invisible(self) -> None:
        for at, char in enumerate(self.text):
            kind = unicodedata.category(char)
            if kind == "Cs":
                raise self.source.error(
                    at, f"the text holds a lone surrogate {_char(char)} (not valid Unicode)"
                )
            if kind == "Cc" and char not in "\t\n\r":
                raise self.source.error(at, f"control character {_char(char)} is not allowed")

    def number_end(self, at: int) -> int:
        match = _NUMBER.match(self.text, at)
        end = match.end() if match else at + 1
        if match is None or (
            end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "_.")
        ):
            while end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "_.-+"):
                end += 1
            raise self.source.error(at, f"not a number: {clip(self.text[at:end])!r}")
        return end

    def number(self, at: int, end: int) -> int | float:
        written = self.text[at:end]
        if not any(c in written for c in ".eE"):
            digits = written.lstrip("-").lstrip("0")
            # Bound the digits before int(): huge literals cost time and exceed Python's own limit.
            if len(digits) > 19 or not INT64_MIN <= int(written) <= INT64_MAX:
                raise self.source.error(
                    at,
                    f"the integer {clip(written)} is too large to be exact",
                    "integers go up to 2**63 - 1; write a larger number as a decimal, as in 1.5e20",
                )
            return int(written)
        value = float(written)
        if not math.isfinite(value):
            raise self.source.error(at, f"{clip(written)} is not a finite number")
        return value

    def quoted(self, start: int) -> tuple[str, int]:
        text, quote = self.text, self.text[start]
        what = "column name" if quote == "`" else "string"
        out: list[str] = []
        at = start + 1
        while at < len(text):
            char = text[at]
            if char == quote:
                return "".join(out), at + 1
            if char in "\t\n\r":
                raise self.source.error(at, f"a {what} cannot hold a raw tab or line break")
            if char == "\\":
                decoded, at = self.escape(at)
                out.append(decoded)
                continue
            out.append(char)
            at += 1
        raise self.source.error(start, f"this {what} is never closed; expected {quote}")

    def escape(self, at: int) -> tuple[str, int]:
        text = self.text
        code = text[at + 1 : at + 2]
        if code in _ESCAPES:
            return _ESCAPES[code], at + 2
        if code in ("u", "U"):
            width = 4 if code == "u" else 8
            digits = text[at + 2 : at + 2 + width]
            if len(digits) == width and all(c in _HEX for c in digits):
                point = int(digits, 16)
                if point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF:
                    return chr(point), at + 2 + width
            raise self.source.error(
                at, f"\\{code} takes {width} hex digits naming a character (not a surrogate)"
            )
        if not code:
            raise self.source.error(at, "the text ends in the middle of an escape", _ESCAPE_HINT)
        raise self.source.error(at, f"unknown escape \\{clip(code)}", _ESCAPE_HINT)


def _char(char: str) -> str:
    if char.isascii() and char.isprintable():
        return repr(char)
    return f"U+{ord(char):04X}" if not char.isprintable() else f"{char!r} (U+{ord(char):04X})"


def _pointer(text: str, pos: int, margin: int = 40) -> str:
    """Two lines: the text around ``pos`` and a caret under it (wide characters count twice)."""
    start, end = max(0, pos - margin), min(len(text), pos + margin)
    shown = "".join(_visible(c) for c in text[start:end])
    before = ("…" if start else "") + shown[: pos - start]
    tail = "…" if end < len(text) else ""
    return f"    {'…' if start else ''}{shown}{tail}\n    {' ' * _width(before)}^"


def _visible(char: str) -> str:
    if char.isspace():
        return " "
    return "?" if unicodedata.category(char) in ("Cc", "Cs") else char


def _width(text: str) -> int:
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def quote(text: str, mark: str) -> str:
    """``text`` between ``mark`` quotes, escaped so that the tokenizer reads it back."""
    out = [mark]
    for char in text:
        if char == "\\" or char == mark:
            out.append("\\" + char)
        elif char in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        elif unicodedata.category(char) == "Cc":
            out.append(f"\\u{ord(char):04x}")
        elif unicodedata.category(char) == "Cs":
            raise QueryError(f"the text {clip(text)!r} holds a lone surrogate")
        else:
            out.append(char)
    return "".join(out) + mark
