"""The ledger's canonical JSON: the fast path writes exactly what RFC 8785 (the ``rfc8785``
package) writes, for any JSON value, floats included."""

from __future__ import annotations

import math
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from causeway.model.canonical import jcs

floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | floats | st.text()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(values)
def test_any_value_is_written_as_rfc8785_writes_it(value: Any) -> None:
    assert jcs(value) == rfc8785.dumps(value)


def test_floats_take_the_form_of_ecmascript_numbers() -> None:
    # an integer-valued float is its integer, -0.0 is 0, and the exponent forms where ES uses them
    cases = [1.0, -0.0, 2.5, 0.1, 1e-7, 1.5e-5, 1e16, 1e21, 123456789012345.67, 2.0**53, 2.0**60]
    for value in cases:
        assert jcs({"x": value}) == rfc8785.dumps({"x": value}), value
    assert jcs([1.0, -0.0, 2.5]) == b"[1,0,2.5]"
    assert jcs({"b": 1e21, "a": 1e-7}) == b'{"a":1e-7,"b":1e+21}'


def test_what_json_cannot_hold_is_refused() -> None:
    for bad in (math.nan, math.inf, 2**53):
        try:
            jcs({"x": bad})
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was written")
