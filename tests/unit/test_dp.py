from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import opendp.prelude as dp
import pytest

from causeway.model.errors import BudgetExceeded, DisclosureRefused, InvalidRequest
from causeway.privacy.budget import Budget
from causeway.privacy.dp import (
    DISCRETE_GAUSSIAN,
    epsilon_from_rho,
    noisy_counts,
    noisy_sums,
    rho_from_epsilon,
    sigma_for,
)

INTEGERS = dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T=float)
REALS = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float)

# OpenDP samples from a CSPRNG that cannot be seeded, so the noise is checked statistically. One
# release of a 1,000-vector is 1,000 independent draws of the same noise as 1,000 separate releases of
# that sensitivity and rho: each coordinate gets its own draw, at a scale set by sensitivity and rho only.
DRAWS = 1_000
# The sample sd of n normal draws has a standard error of about sigma / sqrt(2 (n - 1)), 2.2% at
# n = 1,000, so 10% is about 4.5 standard errors: a false failure about once in 150,000 runs.
SD_TOLERANCE = 0.10
MEAN_TOLERANCE = 4.5 / math.sqrt(DRAWS)  # in units of sigma, same 4.5 standard errors


@pytest.mark.parametrize("space", [INTEGERS, REALS], ids=["integers", "reals"])
@pytest.mark.parametrize(
    ("sensitivity", "rho"), [(1.0, 0.5), (1.0, 0.01), (math.sqrt(2), 0.1), (37.5, 2.0)]
)
def test_sigma_for_spends_exactly_rho_by_opendps_own_map(
    space: tuple[dp.Domain, dp.Metric], sensitivity: float, rho: float
) -> None:
    measurement: Any = dp.m.make_gaussian(*space, scale=sigma_for(sensitivity, rho))
    assert rho * (1 - 1e-9) <= measurement.map(sensitivity) <= rho * (1 + 1e-9)


def test_noisy_counts_error_has_the_stated_scale_and_no_bias() -> None:
    true = np.arange(DRAWS, dtype=np.int64) * 1_000
    noisy, noise = noisy_counts(true, 0.1, l2_sensitivity=2.0)
    assert noisy.dtype == np.int64 and noise.mechanism == DISCRETE_GAUSSIAN
    _assert_error_matches(noisy - true, noise.sigma)


def test_noisy_sums_error_has_the_stated_scale_and_no_bias() -> None:
    true = np.linspace(-1e4, 1e4, DRAWS)
    noisy, noise = noisy_sums(true, 0.3, l2_sensitivity=2.5)
    assert noisy.dtype == np.float64
    _assert_error_matches(noisy - true, noise.sigma)


def _assert_error_matches(error: np.ndarray, sigma: float) -> None:
    ratio = float(np.std(error, ddof=1)) / sigma
    assert abs(ratio - 1) < SD_TOLERANCE, f"sample sd / sigma = {ratio:.3f}"
    assert abs(float(np.mean(error))) < MEAN_TOLERANCE * sigma


def test_a_release_states_its_noise() -> None:
    _, noise = noisy_sums(np.zeros(3), 0.25, l2_sensitivity=4.0)
    assert noise.sigma == pytest.approx(4.0 / math.sqrt(0.5))
    assert noise.rho == pytest.approx(0.25, rel=1e-9) and noise.rho <= 0.25 * (1 + 1e-9)
    assert noise.l2_sensitivity == 4.0


def test_releases_keep_the_shape_of_their_input() -> None:
    counts, _ = noisy_counts(np.ones((3, 4), dtype=np.int64), 1.0)
    sums, _ = noisy_sums(np.array(2.5), 1.0, l2_sensitivity=1.0)
    empty, _ = noisy_counts(np.zeros(0, dtype=np.int64), 1.0)
    assert counts.shape == (3, 4) and sums.shape == () and empty.shape == (0,)


@pytest.mark.parametrize("rho", [0.0, -1.0, math.nan, math.inf])
def test_mechanisms_refuse_a_bad_rho(rho: float) -> None:
    with pytest.raises(InvalidRequest, match="rho"):
        noisy_counts(np.zeros(2, dtype=np.int64), rho)


@pytest.mark.parametrize("sensitivity", [0.0, -2.0, math.nan, math.inf])
def test_mechanisms_refuse_a_bad_sensitivity(sensitivity: float) -> None:
    with pytest.raises(InvalidRequest, match="sensitivity"):
        noisy_sums(np.zeros(2), 1.0, l2_sensitivity=sensitivity)


@pytest.mark.parametrize(
    "values",
    [np.array([1.5, 2.0]), np.array([2**63], dtype=np.uint64)],
    ids=["floats", "too large"],
)
def test_noisy_counts_refuses_what_is_not_an_int64_count(values: np.ndarray) -> None:
    with pytest.raises(InvalidRequest, match="integers"):
        noisy_counts(values, 1.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_noisy_sums_refuses_values_that_are_not_finite(bad: float) -> None:
    with pytest.raises(InvalidRequest, match="finite"):
        noisy_sums(np.array([1.0, bad]), 1.0, l2_sensitivity=1.0)


@pytest.mark.parametrize("delta", [1e-9, 1e-6, 1e-3])
@pytest.mark.parametrize("epsilon", [0.1, 1.0, 3.0, 10.0])
def test_rho_from_epsilon_is_the_largest_rho_that_fits(epsilon: float, delta: float) -> None:
    rho = rho_from_epsilon(epsilon, delta)
    assert epsilon_from_rho(rho, delta) <= epsilon
    assert epsilon_from_rho(rho, delta) == pytest.approx(epsilon, rel=1e-9)


@pytest.mark.parametrize("rho", [1e-4, 0.01, 0.5, 5.0])
def test_epsilon_from_rho_is_inverted_by_rho_from_epsilon(rho: float) -> None:
    assert rho_from_epsilon(epsilon_from_rho(rho, 1e-6), 1e-6) == pytest.approx(rho, rel=1e-9)


def test_conversions_are_monotone() -> None:
    epsilons = [epsilon_from_rho(rho, 1e-6) for rho in np.geomspace(1e-5, 50, 60)]
    rhos = [rho_from_epsilon(eps, 1e-6) for eps in np.geomspace(0.05, 20, 8)]
    by_delta = [epsilon_from_rho(0.5, delta) for delta in (1e-12, 1e-9, 1e-6, 1e-3)]
    assert np.all(np.diff(epsilons) > 0) and np.all(np.diff(rhos) > 0)
    assert np.all(np.diff(by_delta) < 0)


def test_epsilon_from_rho_matches_the_canonne_kamath_steinke_conversion() -> None:
    # CKS 2020, §2.3: rho-zCDP gives (eps, delta)-DP for
    # delta = min over alpha > 1 of exp((alpha-1)(alpha rho - eps) + alpha log(1 - 1/alpha)) / (alpha-1).
    rho, delta = 0.5, 1e-6
    eps = epsilon_from_rho(rho, delta)
    alpha = 1 + np.geomspace(1e-4, 1e3, 1_000_001)
    log_delta = (alpha - 1) * (alpha * rho - eps) + alpha * np.log1p(-1 / alpha) - np.log(alpha - 1)
    assert math.exp(float(np.min(log_delta))) == pytest.approx(delta, rel=1e-6)
    assert eps == pytest.approx(5.22153444453017, rel=1e-9)
    # Tighter than Bun & Steinke 2016, Prop. 1.3: rho + 2 sqrt(rho log(1/delta)) = 5.7565.
    assert eps < rho + 2 * math.sqrt(rho * math.log(1 / delta))


@pytest.mark.parametrize(
    ("epsilon", "delta"), [(0.0, 1e-6), (math.inf, 1e-6), (1.0, 0.0), (1.0, 1.0)]
)
def test_conversions_refuse_bad_parameters(epsilon: float, delta: float) -> None:
    with pytest.raises(InvalidRequest):
        rho_from_epsilon(epsilon, delta)


def test_budget_can_be_spent_up_to_its_total_and_no_further() -> None:
    budget = Budget(epsilon=1.0, delta=1e-6)
    for _ in range(4):
        budget = budget.spend(budget.rho_total / 4)
    assert budget.epsilon_spent == pytest.approx(1.0, rel=1e-6)
    assert budget.rho_left == pytest.approx(0.0, abs=1e-12) and budget.epsilon_left < 1e-6
    with pytest.raises(BudgetExceeded, match="left"):
        budget.spend(budget.rho_total * 1e-6)


def test_budget_refuses_a_single_release_larger_than_the_total() -> None:
    budget = Budget(epsilon=1.0, delta=1e-6)
    with pytest.raises(BudgetExceeded):
        budget.spend(budget.rho_total * 1.001)
    assert budget.rho_spent == 0.0 and budget.epsilon_left == 1.0


def test_budget_exceeded_is_a_disclosure_refusal_with_its_own_code() -> None:
    assert issubclass(BudgetExceeded, DisclosureRefused)
    assert BudgetExceeded.code == "E301" and BudgetExceeded.title == "Privacy budget exhausted"


def test_budget_state_round_trips_through_json() -> None:
    budget = Budget(epsilon=3.0, delta=1e-8).spend(0.01).spend(0.02)
    again = Budget.from_json(json.loads(json.dumps(budget.to_json())))
    assert again == budget and again.epsilon_left == budget.epsilon_left


@pytest.mark.parametrize(
    ("epsilon", "delta", "rho_spent"),
    [
        (0.0, 1e-6, 0.0),
        (-1.0, 1e-6, 0.0),
        (math.nan, 1e-6, 0.0),
        (1.0, 0.0, 0.0),
        (1.0, 1.0, 0.0),
        (1.0, 1e-6, -0.1),
    ],
)
def test_budget_refuses_bad_parameters(epsilon: float, delta: float, rho_spent: float) -> None:
    with pytest.raises(InvalidRequest):
        Budget(epsilon, delta, rho_spent)


@pytest.mark.parametrize("rho", [0.0, -0.1, math.nan, math.inf])
def test_budget_refuses_to_spend_a_bad_rho(rho: float) -> None:
    with pytest.raises(InvalidRequest):
        Budget(1.0, 1e-6).spend(rho)


@pytest.mark.parametrize(
    "data",
    [
        {"delta": 1e-6},
        {"epsilon": "1", "delta": 1e-6},
        {"epsilon": True, "delta": 1e-6},
        {"epsilon": 1.0, "delta": 1e-6, "rho": 0.1},
        [1.0, 1e-6],
    ],
    ids=["missing epsilon", "string", "boolean", "unknown field", "not an object"],
)
def test_budget_from_json_refuses_malformed_state(data: object) -> None:
    with pytest.raises(InvalidRequest):
        Budget.from_json(data)  # type: ignore[arg-type]
