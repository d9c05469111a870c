"""Causeway: federated analysis for hospitals. Data stays, value travels."""

from causeway.client import Client, Progress
from causeway.local import LocalFederation
from causeway.model.errors import (
    AuthenticationError,
    CausewayError,
    DataError,
    DisclosureRefused,
    InvalidRequest,
    ModelError,
    NotFound,
    PermissionDenied,
    QueryError,
    SignatureError,
    TaskFailed,
    Unavailable,
    UserError,
)
from causeway.model.levels import Level
from causeway.model.policy import Policy
from causeway.query import Filter, col

__version__ = "0.1.0"

__all__ = [
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
