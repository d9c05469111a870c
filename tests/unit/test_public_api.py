"""The public names of ``causeway`` are a contract: users' scripts depend on them."""

from __future__ import annotations

import causeway


def test_public_api_is_pinned() -> None:
    assert sorted(causeway.__all__) == [
        "AuthenticationError",
        "BudgetExceeded",
        "CausewayError",
        "Client",
        "DataError",
        "DisclosureRefused",
        "DisclosureReport",
        "Filter",
        "InvalidRequest",
        "Level",
        "LocalFederation",
        "ModelError",
        "NotFound",
        "OutputHeld",
        "PermissionDenied",
        "Policy",
        "Privacy",
        "Progress",
        "QueryError",
        "SignatureError",
        "TaskFailed",
        "Unavailable",
        "UserError",
        "col",
    ]
    for name in causeway.__all__:
        assert hasattr(causeway, name)


def test_client_methods_named_in_the_issues_exist() -> None:
    for method in (
        "datasets",
        "count",
        "summary",
        "quantiles",
        "crosstab",
        "ttest",
        "corr",
        "glm",
        "km",
        "cox",
        # privacy guards (#12): budgets, held outputs and their checkers, released results
        "budget",
        "held",
        "decide",
        "decisions",
        "result",
    ):
        assert callable(getattr(causeway.Client, method))
