"""The hub's own refusals, and every error's HTTP form: an RFC 9457 problem document carrying
Causeway's stable code, which the client maps back to the same exception class.

The broker's refusals of an answer are subclasses of :class:`PermissionDenied` with its code, so
the wire (and a node's handling: "drop this answer") is the same for both; inside the hub, and in
tests, they are told apart by type::

    PermissionDenied (E203)
     └── AnswerRefused          the hub takes no answer to this assignment
          ├── AlreadyAnswered   the assignment was answered before
          └── StaleAnswer       its task ended, or moved to another round, before the answer came
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from causeway.model.errors import CausewayError, InternalError, InvalidRequest, PermissionDenied

log = logging.getLogger("causeway.hub")


class AnswerRefused(PermissionDenied):
    """The hub takes no answer to this assignment."""


class AlreadyAnswered(AnswerRefused):
    """A second answer to one assignment (a node retrying, or answering a redelivered copy)."""


class StaleAnswer(AnswerRefused):
    """An answer that came after its task failed, timed out or moved to another round."""


def problem(exc: CausewayError) -> JSONResponse:
    return JSONResponse(
        {
            "type": f"urn:causeway:error:{exc.code}",
            "title": exc.title,
            "status": exc.status,
            "detail": exc.detail,
            "code": exc.code,
        },
        status_code=exc.status,
        media_type="application/problem+json",
    )


def install(app: FastAPI) -> None:
    """Answer every error as a problem document (a bug as E999, its traceback logged)."""

    @app.exception_handler(CausewayError)
    async def _causeway_error(_request: Request, exc: CausewayError) -> JSONResponse:
        return problem(exc)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return problem(InternalError("the hub hit an internal error (logged at the hub)"))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return problem(InvalidRequest(details or "malformed request"))
