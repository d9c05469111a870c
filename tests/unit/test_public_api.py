"""The public names of ``causeway`` are a contract: users' scripts depend on them."""

from __future__ import annotations

import causeway


def test_public_api_is_pinned() -> None:
    assert sorted(causeway.__all__) == [
        "AnovaGLM",
        "AnovaResult",
        "Application",
        "AuthenticationError",
        "BudgetExceeded",
        "CategoricalSummary",
        "CausewayError",
        "Client",
        "CorrResult",
        "CountResult",
        "CoxResult",
        "CrosstabResult",
        "DataError",
        "DatasetDescription",
        "DisclosureRefused",
        "DisclosureReport",
        "Family",
        "Filter",
        "FisherResult",
        "GLMResult",
        "InvalidRequest",
        "KMResult",
        "LRTest",
        "Level",
        "Link",
        "LocalFederation",
        "LogRank",
        "MannWhitneyResult",
        "MetaResult",
        "ModelError",
        "NotFound",
        "NumericSummary",
        "OutputHeld",
        "PermissionDenied",
        "Policy",
        "Privacy",
        "Progress",
        "QuantilesResult",
        "QueryError",
        "RMSTResult",
        "SignatureError",
        "SpearmanResult",
        "TTest",
        "TTestResult",
        "TableOneResult",
        "TaskFailed",
        "Throttled",
        "Unavailable",
        "UserError",
        "anova_glm",
        "col",
        "lr_test",
    ]
    for name in causeway.__all__:
        assert hasattr(causeway, name)


def test_client_methods_named_in_the_issues_exist() -> None:
    for method in (
        "datasets",
        "describe",
        "count",
        "summary",
        "quantiles",
        "crosstab",
        "ttest",
        "corr",
        "glm",
        "km",
        "cox",
        # research-grade results (#19)
        "anova",
        "fisher",
        "mannwhitney",
        "spearman",
        # privacy guards (#12): budgets, held outputs and their checkers, released results
        "budget",
        "held",
        "decide",
        "decisions",
        "result",
    ):
        assert callable(getattr(causeway.Client, method))
