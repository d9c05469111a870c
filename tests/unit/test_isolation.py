"""Leverage of the design a node built: the test behind "no design may isolate a small group"."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causeway.privacy.isolation import design_facts

rng = np.random.default_rng(7)
BMI = rng.normal(30, 5, 2000).round(1)


def test_a_shifted_one_patient_indicator_has_leverage_one() -> None:
    target = BMI[7]
    column = 2 + 0 ** ((BMI - target) ** 2)  # 3 for the patient (and any twin), 2 for the rest
    twins = int((target == BMI).sum())
    assert design_facts(column[:, None]).max_leverage == pytest.approx(1 / twins, rel=1e-9)


def test_every_member_of_an_isolated_group_of_m_has_leverage_at_least_one_over_m() -> None:
    for m in (1, 5, 9, 10, 30):
        group = (np.arange(2000) < m).astype(float) * 7 - 3  # any two values
        facts = design_facts(np.column_stack([BMI, group]))
        assert facts.max_leverage >= 1 / m - 1e-12


def test_a_near_duplicate_column_is_refused_as_ill_conditioned() -> None:
    bump = (np.arange(2000) == 7).astype(float)
    for eps in (1e-6, 1e-9, 5e-10, 1e-13):
        facts = design_facts(np.column_stack([BMI, BMI + eps * bump]))
        assert facts.ill_conditioned or facts.max_leverage > 0.99


def test_weights_that_single_out_a_row_are_seen() -> None:
    x = np.column_stack([BMI, rng.normal(size=2000)])
    assert design_facts(x).max_leverage < 0.02
    weights = np.full(2000, 1e-9)
    weights[11] = 1.0  # the hub chose coefficients that put all the weight on one patient
    assert design_facts(x, weights=weights).max_leverage > 0.99
    zero = np.zeros(2000)
    zero[11] = 3.0  # a prior weight column that is zero but for one patient
    facts = design_facts(x, weights=zero)
    assert facts.rows == 1 and facts.max_leverage == pytest.approx(1.0)


SHIFTED = np.column_stack([BMI, np.random.default_rng(11).normal(size=2000)])


@settings(max_examples=30, deadline=None)
@given(shift=st.floats(-1e6, 1e6), scale=st.floats(1e-3, 1e3))
def test_leverage_is_blind_to_shifts_and_scales_of_columns(shift: float, scale: float) -> None:
    # the same columns every call (a fresh draw per call made Hypothesis report it flaky); at a
    # shift of 1e6 on a scale of 1e-3 the stored values themselves carry about 1e-7 relative error
    moved = SHIFTED * scale + shift
    expected = design_facts(SHIFTED).max_leverage
    assert design_facts(moved).max_leverage == pytest.approx(expected, rel=1e-5)


def test_a_design_whose_arithmetic_overflows_is_never_passed() -> None:
    """An indicator scaled by 1e154 made the cross-product inf and the leverage NaN, and NaN
    compared as 'below the limit'."""
    target = BMI[7]
    twins = int((target == BMI).sum())  # the indicator isolates this many rows
    for scale in (1e150, 1.35e154, 1e300):
        column = 1 + scale * 0 ** ((BMI - target) ** 2)
        facts = design_facts(np.column_stack([BMI, column]))
        assert facts.ill_conditioned or facts.max_leverage >= 1 / twins - 1e-9
        weighted = design_facts(np.column_stack([BMI, column]), weights=np.ones(2000))
        assert weighted.ill_conditioned or weighted.max_leverage >= 1 / twins - 1e-9
    nan = np.column_stack([BMI, np.where(np.arange(2000) == 3, np.nan, 1.0)])
    assert design_facts(nan).ill_conditioned
