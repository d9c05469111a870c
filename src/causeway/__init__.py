"""Causeway: federated analysis for hospitals. Data stays, value travels."""

from causeway.algorithms.corr import CorrResult
from causeway.algorithms.count import CountResult
from causeway.algorithms.cox import CoxResult
from causeway.algorithms.crosstab import CrosstabResult
from causeway.algorithms.family import Family
from causeway.algorithms.glm_result import GLMResult
from causeway.algorithms.km import KMResult, LogRank
from causeway.algorithms.meta import MetaResult
from causeway.algorithms.quantiles import QuantilesResult
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

__all__ = [
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
    "GLMResult",
    "InvalidRequest",
    "KMResult",
    "Level",
    "LocalFederation",
    "LogRank",
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
    "SignatureError",
    "TTest",
    "TTestResult",
    "TableOneResult",
    "TaskFailed",
    "Throttled",
    "Unavailable",
    "UserError",
    "col",
]
