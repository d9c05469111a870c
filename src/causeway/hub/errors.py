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
from collections.abc import Callable
from typing import Any

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


def answer(app: Any, exc: CausewayError) -> JSONResponse:
    """The problem document for ``exc``, told first to the app's error hook (the metrics)."""
    hook: Callable[[str], None] | None = getattr(getattr(app, "state", None), "on_error", None)
    if hook is not None:
        hook(exc.code)
    return problem(exc)


def install(app: FastAPI, on_error: Callable[[str], None] | None = None) -> None:
    """Answer every error as a problem document (a bug as E999, its traceback logged), calling
    ``on_error`` with each one's code."""
    app.state.on_error = on_error

    @app.exception_handler(CausewayError)
    async def _causeway_error(request: Request, exc: CausewayError) -> JSONResponse:
        return answer(request.app, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return answer(
            request.app, InternalError("the hub hit an internal error (logged at the hub)")
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return answer(request.app, InvalidRequest(details or "malformed request"))
