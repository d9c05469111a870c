"""An L2 dataset answers with calibrated noise from a per-project budget that each node keeps."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import causeway
from causeway.algorithms.summary import NumericSummary
from causeway.client.admin import AdminClient
from causeway.model.disclosure import Outcome
from causeway.model.errors import BudgetExceeded, DisclosureRefused
from causeway.model.levels import Level
from causeway.model.policy import Policy, Privacy
from causeway.privacy.dp import rho_from_epsilon, sigma_for
from causeway.query import col
from causeway.synthetic import hospitals

FRAMES = hospitals()
POOLED = pd.concat(FRAMES.values(), ignore_index=True)
_projects = itertools.count()


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    """Level L2 with the level's default policy (differential privacy on)."""
    with causeway.LocalFederation(
        FRAMES, dataset="cohort", level="L2", categorical=["diagnosis", "sex"]
    ) as federation:
        yield federation


def project(fed: causeway.LocalFederation) -> str:
    name = f"dp-{next(_projects)}"
    admin = AdminClient(fed.url, fed.admin_token)
    try:
        admin.add_project(name, ["cohort"], [fed.researcher], sites=list(FRAMES))
    finally:
        admin.close()
    for store in fed.stores.values():
        store.approve(name, "cohort")
    return name


def query_sigma(parts: int, sensitivity: float = 1.0) -> float:
    """The noise one site adds to one part of a query at L2's default policy."""
    dp = Privacy()
    return sigma_for(sensitivity, rho_from_epsilon(dp.epsilon_per_query, dp.delta) / parts)


def test_an_l2_count_is_noisy_with_the_stated_scale_and_a_repeat_is_free(
    fed: causeway.LocalFederation,
) -> None:
    name = project(fed)
    first = fed.client.count("cohort", col("age") >= 50, project=name)
    truth = int((POOLED["age"] >= 50).sum())
    assert first.total is not None and first.total != truth  # noised (exact equality is ~1%)
    # three sites each add the full noise until secure aggregation lands
    assert abs(first.total - truth) < 6 * query_sigma(1) * math.sqrt(3)
    checks = first.disclosure.outcomes(Outcome.NOISED)
    assert {c.check for _, c in checks} == {"dp", "dp_budget"}
    assert any("discrete Gaussian" in c.detail for _, c in checks)
    assert any("left" in c.detail for _, c in checks)
    # the same question (however it is written) about the same cohort: the same answer, free
    again = fed.client.count("cohort", col("age") > 49.5, project=name)
    assert again.total == first.total
    budgets = {site: fed.agents[site].budget(name, "cohort") for site in FRAMES}
    spent = {b.epsilon_spent for b in budgets.values() if b is not None}
    assert len(spent) == 1 and spent.pop() == pytest.approx(Privacy().epsilon_per_query, rel=1e-6)
    # averaging 50 repeats learns nothing more than one answer
    repeats = [fed.client.count("cohort", col("age") >= 50, project=name).total for _ in range(5)]
    assert set(repeats) == {first.total}


def test_l2_summary_and_crosstab_answer_with_noise(fed: causeway.LocalFederation) -> None:
    name = project(fed)
    summary = fed.client.summary("cohort", "hba1c", project=name)
    assert isinstance(summary, NumericSummary) and summary.mean is not None
    assert summary.mean == pytest.approx(POOLED["hba1c"].mean(), abs=2.0)
    assert summary.n != POOLED["hba1c"].notna().sum() or summary.mean != POOLED["hba1c"].mean()
    table = fed.client.crosstab("cohort", "diagnosis", "sex", project=name)
    truth = pd.crosstab(POOLED["diagnosis"], POOLED["sex"]).to_numpy()
    got = table.table.to_numpy(dtype=float, na_value=np.nan)
    assert np.nanmax(np.abs(got - truth)) < 6 * query_sigma(1) * math.sqrt(3)
    assert not np.array_equal(got, truth)


def test_a_model_without_a_private_mechanism_is_refused_at_l2(
    fed: causeway.LocalFederation,
) -> None:
    with pytest.raises(DisclosureRefused, match="with differential privacy yet"):
        fed.client.ttest("cohort", "hba1c", "sex", project=project(fed))


def test_the_budget_refuses_the_query_that_would_exceed_it() -> None:
    policy = Policy(dp=Privacy(epsilon=1.0, epsilon_per_query=0.5))
    allowed = int(rho_from_epsilon(1.0, 1e-6) / rho_from_epsilon(0.5, 1e-6))
    with causeway.LocalFederation(FRAMES, dataset="cohort", level=Level.L2, policy=policy) as fed:
        answers = [
            fed.client.count("cohort", col("age") >= 30 + 5 * i).total for i in range(allowed)
        ]
        assert all(a is not None for a in answers)
        with pytest.raises(BudgetExceeded, match="budget") as refused:
            fed.client.count("cohort", col("age") >= 90)
        assert refused.value.code == "E301"
        # a question asked before is still answered: it spends nothing
        assert fed.client.count("cohort", col("age") >= 30).total == answers[0]
        # the budget is kept by the node and survives a restart of its memory
        left = fed.agents["north"].budget(fed.project, "cohort")
        assert left is not None and left.epsilon_left < 0.5
        # and shown at the hub, per site, as the nodes last reported it
        shown = fed.client.budget(fed.project, "cohort")
        assert sorted(shown.index) == sorted(FRAMES)
        assert shown.loc["north", "epsilon"] == 1.0
        assert shown.loc["north", "epsilon_left"] == pytest.approx(left.epsilon_left)


def test_an_l2_policy_without_noise_releases_nothing() -> None:
    policy = Policy()  # no dp: fine at L1, refused at L2
    with (
        causeway.LocalFederation(FRAMES, dataset="cohort", level="L2", policy=policy) as fed,
        pytest.raises(DisclosureRefused, match="must ask for differential privacy"),
    ):
        fed.client.count("cohort")
