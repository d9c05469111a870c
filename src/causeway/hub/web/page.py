"""Rendering a page: the Jinja2 environment (autoescaped), the navigation by role, and the route
class that turns Causeway's typed errors into a page with the error's status code (never a
stack trace); a missing or refused session answers the sign-in page (401)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from causeway.hub.accounts import Role
from causeway.hub.web.session import SignedIn, clear_cookie
from causeway.model.errors import (
    AuthenticationError,
    CausewayError,
    InternalError,
    InvalidRequest,
)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
log = logging.getLogger("causeway.hub")

environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Link:
    href: str
    label: str


def navigation(viewer: SignedIn | None) -> list[Link]:
    """The links a role finds in the header."""
    if viewer is None:
        return []
    role = viewer.user.role
    links = [Link("/ui/", "Catalog"), Link("/ui/applications", "Applications")]
    if role == Role.RESEARCHER:
        links += [Link("/ui/projects", "Projects"), Link("/ui/tasks", "Tasks")]
    if role in (Role.ADMIN, Role.AUDITOR):
        links += [Link("/ui/tasks", "Tasks"), Link("/ui/admin", "Administration")]
    if role == Role.OUTPUT_CHECKER:
        links.append(Link("/ui/reviews", "Held outputs"))
    links.append(Link(f"/ui/users/{viewer.user.name}/tokens", "My tokens"))
    return links


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    viewer: SignedIn | None = getattr(request.state, "viewer", None)
    html = environment.get_template(template).render(
        viewer=viewer,
        nav=navigation(viewer),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, exc: CausewayError) -> HTMLResponse:
    hook: Callable[[str], None] | None = getattr(request.app.state, "on_error", None)
    if hook is not None:
        hook(exc.code)  # the metrics count a page's refusals as the API's
    if isinstance(exc, AuthenticationError):
        request.state.viewer = None
        response = render(request, "login.html", status=exc.status, error=exc.detail, name="")
        clear_cookie(response)
        return response
    return render(request, "error.html", status=exc.status, error=exc)


class PageRoute(APIRoute):
    """A page's route: its errors answered as pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except CausewayError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
                )
                return error_page(request, InvalidRequest(detail or "malformed request"))
            except Exception as exc:  # a bug: logged, shown as E999 without its traceback
                log.exception("unexpected error on a page", exc_info=exc)
                return error_page(request, InternalError("the hub hit an internal error"))

        return page
