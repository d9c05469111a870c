"""A researcher's bad parameters are clear, typed errors from the hub, never a crash."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import causeway

rng = np.random.default_rng(0)
FRAMES = {
    site: pd.DataFrame(
        {
            "y": rng.normal(size=50),
            "x": rng.normal(size=50),
            "t": rng.exponential(size=50),
            "e": rng.choice(["yes", "no"], 50),
        }
    )
    for site in ("a", "b")
}


@pytest.fixture(scope="module")
def client() -> Iterator[causeway.Client]:
    with causeway.LocalFederation(FRAMES, policy=causeway.Policy.unrestricted()) as fed:
        yield fed.client


CASES: list[tuple[str, Callable[[causeway.Client], Any], type[Exception], str]] = [
    ("no terms", lambda c: c.glm("cohort", "y ~ 0"), causeway.InvalidRequest, "no terms"),
    (
        "text event",
        lambda c: c.cox("cohort", "x", duration="t", event="e"),
        causeway.InvalidRequest,
        "must be 0/1 or boolean",
    ),
    (
        "nested columns",
        lambda c: c.corr("cohort", [["x"], "y"]),  # type: ignore[list-item]
        causeway.InvalidRequest,
        r"columns\[0\]: expected a string, got a list",
    ),
    (
        "perfect fit",
        lambda c: c.glm("cohort", "y ~ x", offset="y"),
        causeway.ModelError,
        "perfect fit",
    ),
    (
        "boolean prob",
        lambda c: c.quantiles("cohort", "x", probs=[True]),
        causeway.InvalidRequest,
        r"probs\[0\]: expected a number, got a boolean",
    ),
    (
        "unknown family",
        lambda c: c.glm("cohort", "y ~ x", family="tweedie"),
        causeway.InvalidRequest,
        "tweedie",
    ),
    (
        "code in formula",
        lambda c: c.glm("cohort", "y ~ I(__import__('os').getpid())"),
        causeway.InvalidRequest,
        "not allowed in a formula",
    ),
]


@pytest.mark.parametrize(("name", "call", "error", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_parameters_are_typed_errors(
    client: causeway.Client,
    name: str,
    call: Callable[[causeway.Client], Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        call(client)


def test_a_diverging_cox_fit_is_reported_not_returned() -> None:
    rng = np.random.default_rng(1)
    frames = {}
    for site in ("a", "b"):
        x = np.repeat([0.0, 1.0], 40)
        frames[site] = pd.DataFrame(
            {"x": x, "t": rng.exponential(size=80), "d": np.where(x == 1, 0, 1).astype(float)}
        )  # the x = 1 group has no events: its hazard ratio runs to zero
    with (
        causeway.LocalFederation(frames, policy=causeway.Policy.unrestricted()) as fed,
        pytest.raises(causeway.ModelError, match="monotone likelihood: the estimate for x"),
    ):
        fed.client.cox("cohort", "x", duration="t", event="d")
