"""The bounded map that keeps the values used last (checked parameters, merged dictionaries)."""

from __future__ import annotations

import pytest

from causeway.model.kept import Kept


def test_the_least_lately_used_value_goes_first() -> None:
    kept: Kept[str, int] = Kept(2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1  # a used: b is now the oldest
    kept.put("c", 3)
    assert (kept.get("a"), kept.get("b"), kept.get("c"), len(kept)) == (1, None, 3, 2)


def test_get_or_make_makes_once_and_a_failure_keeps_nothing() -> None:
    kept: Kept[str, list[int]] = Kept(4)
    made: list[str] = []

    def make() -> list[int]:
        made.append("x")
        return [1]

    first = kept.get_or_make("x", make)
    assert kept.get_or_make("x", make) is first and made == ["x"]

    def fail() -> list[int]:
        raise ValueError("refused")

    for _ in range(2):
        with pytest.raises(ValueError, match="refused"):
            kept.get_or_make("y", fail)
    assert kept.get("y") is None and len(kept) == 1
