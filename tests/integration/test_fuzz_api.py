"""Schemathesis over the hub's OpenAPI document, against a real federation: every operation, with
generated (and deliberately malformed) parameters and bodies, as an admin, answers with anything
but a server error — bad input is a typed 4xx within the hub's limits (docs/reference/limits.md).
The example count is modest in CI (``CAUSEWAY_FUZZ_EXAMPLES`` raises it for a longer hunt)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

import causeway
from causeway.hub.limits import SignInThrottle

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed (pip install schemathesis)"
)

EXAMPLES = int(os.environ.get("CAUSEWAY_FUZZ_EXAMPLES", "8"))
rng = np.random.default_rng(13)
FRAMES = {
    site: pd.DataFrame(
        {"age": rng.integers(20, 90, 120).astype(float), "sex": rng.choice(["female", "male"], 120)}
    )
    for site in ("north", "south")
}


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort", categorical=["sex"]) as federation:
        federation.hub.sign_ins = SignInThrottle(limit=1_000_000)  # bad tokens are generated
        yield federation


def test_no_generated_request_gets_a_server_error(fed: causeway.LocalFederation) -> None:
    """Every operation of the document, each with its own Hypothesis run; all failures listed."""
    api = schemathesis.openapi.from_url(f"{fed.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for found in api.get_all_operations():
        operation = found.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same cases every run: a failure reproduces
            database=None,
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {fed.admin_token}"}, timeout=60)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
            )
            kind = response.headers.get("content-type") or ""
            if "application/problem+json" in str(kind):
                assert str(response.json()["code"]).startswith("E")  # a typed error

        try:
            call()
        except AssertionError as failure:
            failures.append(str(failure).splitlines()[0])
    assert operations > 50  # the whole document was walked
    assert not failures, "\n".join(failures)
