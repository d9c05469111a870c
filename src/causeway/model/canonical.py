"""Canonical JSON: the one byte form of a record that is signed, hashed or put on the ledger."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no white space, UTF-8; NaN and infinities are refused."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


_SAFE_INT = 2**53 - 1


class _NotPlain(Exception):
    """A value the fast path does not write as RFC 8785 does."""


def jcs(value: Any) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of ``value``: the ledger's entries.

    Values made of ASCII-keyed objects, arrays, strings, booleans, null, integers within IEEE
    double precision and finite floats written without an exponent serialise under RFC 8785
    exactly as :func:`canonical_json` writes them (same key order, separators and string escapes;
    a float's shortest round-trip digits, which ``repr`` and ECMAScript both use), once a float
    holding an integer is written as that integer: the C encoder does those fast. Anything else
    (a float written with an exponent, a larger integer, a non-ASCII key, NaN) goes through the
    ``rfc8785`` package."""
    try:
        return canonical_json(_plain(value))
    except _NotPlain:
        pass
    import rfc8785

    return rfc8785.dumps(value)


def _plain(value: Any) -> Any:
    """``value`` as :func:`canonical_json` writes in RFC 8785's form (floats holding an integer
    as that integer); raises :class:`_NotPlain` where it cannot."""
    if value is None or value is True or value is False or isinstance(value, str):
        return value
    if isinstance(value, int):
        if -_SAFE_INT <= value <= _SAFE_INT:
            return value
        raise _NotPlain
    if isinstance(value, float):
        # Below 2**53 every integer is a float, so a float holding one has that integer as its
        # shortest digits (-0.0 included: RFC 8785 writes it as 0).
        if value.is_integer():
            if -_SAFE_INT <= value <= _SAFE_INT:
                return int(value)
            raise _NotPlain  # ECMAScript writes its shortest digits padded with zeros
        if value != value or "e" in repr(value) or value in (math.inf, -math.inf):
            raise _NotPlain  # NaN, infinities, and what repr writes with an exponent
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not (isinstance(key, str) and key.isascii()):
                raise _NotPlain
            out[key] = _plain(item)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    raise _NotPlain


_MARK = "\u0000causeway:value\u0000"


def spliced(
    template: dict[str, Any], key: str, values: Sequence[str], form: Callable[[Any], bytes]
) -> list[bytes]:
    """``form({**template, key: value})`` for each of ``values`` (strings), serialising the
    template once: under either canonical form a value's bytes do not depend on its neighbours
    and the key order not on the values, so each is the template's bytes with the one value
    swapped. (A round's assignments differ only in the node's name; at 1,000 sites each carries
    the project's terms for every site, and serialising each apart made queueing a round
    O(sites^2).) Falls back to serialising each if the template's bytes do not hold the mark
    exactly once."""
    base = form({**template, key: _MARK})
    mark = form(_MARK)
    if base.count(mark) != 1:
        return [form({**template, key: value}) for value in values]
    before, _, after = base.partition(mark)
    return [before + form(value) + after for value in values]
