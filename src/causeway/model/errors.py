"""The one exception tree of Causeway.

Every error a user can cause has a stable code, an HTTP status and a CLI exit code, so the hub,
the client and the CLI map errors in one place (here) and never by string matching::

    CausewayError
     ├── UserError                      shown without a traceback
     │    ├── InvalidRequest      (E100) malformed input, bad parameter
     │    │    ├── QueryError     (E101) unknown column, type mismatch in a filter
     │    │    ├── DataError      (E102) a dataset or dictionary that fails validation
     │    │    └── PayloadTooLarge (E113) a request body beyond the hub's limit
     │    ├── NotFound            (E104) unknown dataset, task, project, user
     │    ├── Conflict            (E109) already exists
     │    ├── AuthenticationError (E201) missing or wrong token
     │    ├── PermissionDenied    (E203) authenticated but not allowed
     │    ├── SignatureError      (E210) a signed message whose signature does not verify
     │    │    ├── ReplayError    (E211) a signed request seen before, or too old
     │    │    └── ProofError     (E212) a Merkle inclusion or consistency proof that does not hold
     │    ├── DisclosureRefused   (E300) the release gate would not let a result leave a node
     │    │    ├── BudgetExceeded (E301) a release would spend more privacy budget than is left
     │    │    └── OutputHeld     (E305) the result waits for two output checkers
     │    ├── TaskFailed          (E400) a federated task failed at a node or at the hub
     │    │    └── ModelError     (E410) a model fit that is not usable (separation, singular design)
     │    ├── Throttled           (E429) too many failed sign-ins from one client: wait
     │    ├── ExtraNotInstalled   (E120) an optional extra (e.g. ``causeway[plot]``) is missing
     │    └── Unavailable         (E503) the hub or a node cannot be reached
     └── InternalError            (E999) a bug: shown with a traceback
"""

from __future__ import annotations

from typing import ClassVar


class CausewayError(Exception):
    """Base of every error Causeway raises on purpose."""

    code: ClassVar[str] = "E999"
    status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 70
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UserError(CausewayError):
    code = "E000"
    status = 400
    exit_code = 1
    title = "Error"


class InvalidRequest(UserError):
    code = "E100"
    status = 422
    exit_code = 2
    title = "Invalid request"


class QueryError(InvalidRequest):
    code = "E101"
    title = "Invalid query"


class DataError(InvalidRequest):
    code = "E102"
    title = "Invalid data"


class SourceDrifted(DataError):
    """A live source (a warehouse table) no longer conforms to the dictionary it was registered
    with. The detail (columns, counts of rows, reasons) is for the node's steward: the agent logs
    it and tells the hub only that the dataset is unreadable, since a count of odd rows
    describes rows."""


class PayloadTooLarge(InvalidRequest):
    code = "E113"
    status = 413
    title = "Request too large"


class NotFound(UserError):
    code = "E104"
    status = 404
    exit_code = 3
    title = "Not found"


class Conflict(UserError):
    code = "E109"
    status = 409
    exit_code = 4
    title = "Conflict"


class AuthenticationError(UserError):
    code = "E201"
    status = 401
    exit_code = 5
    title = "Not authenticated"


class PermissionDenied(UserError):
    code = "E203"
    status = 403
    exit_code = 6
    title = "Permission denied"


class SignatureError(UserError):
    code = "E210"
    status = 401
    exit_code = 7
    title = "Bad signature"


class ReplayError(SignatureError):
    code = "E211"
    title = "Replayed or stale request"


class ProofError(SignatureError):
    """A Merkle inclusion or consistency proof of the ledger that does not hold (see
    :mod:`causeway.model.merkle`): like a bad signature, the evidence does not verify."""

    code = "E212"
    title = "Proof does not verify"


class DisclosureRefused(UserError):
    code = "E300"
    status = 403
    exit_code = 8
    title = "Disclosure refused"


class BudgetExceeded(DisclosureRefused):
    code = "E301"
    title = "Privacy budget exhausted"


class OutputHeld(DisclosureRefused):
    """Not a failure: the result exists and waits at the hub for two output checkers."""

    code = "E305"
    status = 202
    title = "Output held for checking"

    def __init__(self, detail: str, task_id: str = "") -> None:
        super().__init__(detail)
        self.task_id = task_id


class TaskFailed(UserError):
    code = "E400"
    status = 409
    exit_code = 9
    title = "Task failed"


class ModelError(TaskFailed):
    code = "E410"
    title = "Model not usable"


class Throttled(UserError):
    code = "E429"
    status = 429
    exit_code = 11
    title = "Too many failed attempts"


class ExtraNotInstalled(UserError):
    """A feature needs an optional extra that is not installed (its message names the
    ``pip install`` that adds it, e.g. ``causeway[plot]`` for figures)."""

    code = "E120"
    status = 501
    exit_code = 12
    title = "Optional extra not installed"


class Unavailable(UserError):
    code = "E503"
    status = 503
    exit_code = 10
    title = "Unavailable"


class InternalError(CausewayError):
    pass


def _all_subclasses(cls: type[CausewayError]) -> list[type[CausewayError]]:
    found: list[type[CausewayError]] = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


def error_for_code(code: str) -> type[CausewayError]:
    """The exception class with this stable code (InternalError when unknown)."""
    for cls in _all_subclasses(CausewayError):
        if cls.code == code:
            return cls
    return InternalError
