"""Canonical JSON: the one byte form of a record that is signed, hashed or put on the ledger."""

from __future__ import annotations

import json
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
