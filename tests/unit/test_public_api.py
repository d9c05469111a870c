"""The public names of ``causeway`` are a contract: users' scripts depend on them."""

from __future__ import annotations

import causeway


def test_public_api_is_pinned() -> None:
    assert sorted(causeway.__all__) == [
        "AuthenticationError",
        "CausewayError",
        "Client",
        "DataError",
        "DisclosureRefused",
        "Filter",
        "InvalidRequest",
        "Level",
        "LocalFederation",
        "ModelError",
        "NotFound",
        "PermissionDenied",
        "Policy",
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
    ):
        assert callable(getattr(causeway.Client, method))
