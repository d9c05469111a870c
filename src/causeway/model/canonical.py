"""Canonical JSON: the one byte form of a record that is signed, hashed or put on the ledger."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no white space, UTF-8; NaN and infinities are refused."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


_SAFE_INT = 2**53 - 1


def jcs(value: Any) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of ``value``: the ledger's entries.

    Values made only of ASCII-keyed objects, arrays, strings, booleans, null and integers within
    IEEE double precision serialise under RFC 8785 exactly as :func:`canonical_json` writes them
    (same key order, separators and string escapes), which the C encoder does fast; anything else
    (a float, a larger integer, a non-ASCII key) goes through the ``rfc8785`` package."""
    if _plain(value):
        return canonical_json(value)
    import rfc8785

    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    if value is None or value is True or value is False or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False


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
