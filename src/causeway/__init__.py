"""Causeway: federated analysis for hospitals. Data stays, value travels."""

from causeway.client import Client, Progress
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
    Unavailable,
    UserError,
)
from causeway.model.levels import Level
from causeway.model.policy import Policy, Privacy
from causeway.query import Filter, col

__version__ = "0.1.0"

__all__ = [
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
