"""Causeway: federated analysis for hospitals. Data stays, value travels.

The names below are imported when first used (``causeway.Client``, ``from causeway import col``),
so that ``import causeway.cli`` and other light entry points do not pay for the analysis stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from causeway.algorithms.anova import AnovaResult
    from causeway.algorithms.corr import CorrResult
    from causeway.algorithms.count import CountResult
    from causeway.algorithms.cox import CoxResult
    from causeway.algorithms.crosstab import CrosstabResult
    from causeway.algorithms.deviance import AnovaGLM, anova_glm
    from causeway.algorithms.family import Family
    from causeway.algorithms.fisher import FisherResult
    from causeway.algorithms.glm_result import GLMResult
    from causeway.algorithms.km import KMResult, LogRank
    from causeway.algorithms.link import Link
    from causeway.algorithms.lrtest import LRTest, lr_test
    from causeway.algorithms.mannwhitney import MannWhitneyResult
    from causeway.algorithms.meta import MetaResult
    from causeway.algorithms.quantiles import QuantilesResult
    from causeway.algorithms.rmst import RMSTResult
    from causeway.algorithms.spearman import SpearmanResult
    from causeway.algorithms.summary import CategoricalSummary, NumericSummary
    from causeway.algorithms.table_one import TableOneResult
    from causeway.algorithms.ttest import TTest, TTestResult
    from causeway.client import Client, DatasetDescription, Progress
    from causeway.client.applications import Application
    from causeway.local import LocalFederation
    from causeway.model.disclosure import DisclosureReport
    from causeway.model.errors import (
        AuthenticationError,
        BudgetExceeded,
        CausewayError,
        DataError,
        DisclosureRefused,
        InvalidRequest,
        ModelError,
        NotFound,
        OutputHeld,
        PermissionDenied,
        QueryError,
        SignatureError,
        TaskFailed,
        Throttled,
        Unavailable,
        UserError,
    )
    from causeway.model.levels import Level
    from causeway.model.policy import Policy, Privacy
    from causeway.query import Filter, col

__version__ = "0.1.0"

# where each public name lives: imported on first use (PEP 562)
_HOMES = {
    "AnovaResult": "causeway.algorithms.anova",
    "AnovaGLM": "causeway.algorithms.deviance",
    "anova_glm": "causeway.algorithms.deviance",
    "CorrResult": "causeway.algorithms.corr",
    "CountResult": "causeway.algorithms.count",
    "CoxResult": "causeway.algorithms.cox",
    "CrosstabResult": "causeway.algorithms.crosstab",
    "Family": "causeway.algorithms.family",
    "FisherResult": "causeway.algorithms.fisher",
    "GLMResult": "causeway.algorithms.glm_result",
    "Link": "causeway.algorithms.link",
    "KMResult": "causeway.algorithms.km",
    "LogRank": "causeway.algorithms.km",
    "LRTest": "causeway.algorithms.lrtest",
    "lr_test": "causeway.algorithms.lrtest",
    "MannWhitneyResult": "causeway.algorithms.mannwhitney",
    "MetaResult": "causeway.algorithms.meta",
    "QuantilesResult": "causeway.algorithms.quantiles",
    "RMSTResult": "causeway.algorithms.rmst",
    "SpearmanResult": "causeway.algorithms.spearman",
    "CategoricalSummary": "causeway.algorithms.summary",
    "NumericSummary": "causeway.algorithms.summary",
    "TableOneResult": "causeway.algorithms.table_one",
    "TTest": "causeway.algorithms.ttest",
    "TTestResult": "causeway.algorithms.ttest",
    "Client": "causeway.client",
    "DatasetDescription": "causeway.client",
    "Progress": "causeway.client",
    "Application": "causeway.client.applications",
    "LocalFederation": "causeway.local",
    "DisclosureReport": "causeway.model.disclosure",
    **{
        name: "causeway.model.errors"
        for name in (
            "AuthenticationError",
            "BudgetExceeded",
            "CausewayError",
            "DataError",
            "DisclosureRefused",
            "InvalidRequest",
            "ModelError",
            "NotFound",
            "OutputHeld",
            "PermissionDenied",
            "QueryError",
            "SignatureError",
            "TaskFailed",
            "Throttled",
            "Unavailable",
            "UserError",
        )
    },
    "Level": "causeway.model.levels",
    "Policy": "causeway.model.policy",
    "Privacy": "causeway.model.policy",
    "Filter": "causeway.query",
    "col": "causeway.query",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'causeway' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once found, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


__all__ = [
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
