"""Signing in and out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from causeway.hub.deps import HubDep
from causeway.hub.web import session
from causeway.hub.web.page import PageRoute, render
from causeway.hub.web.session import COOKIE, PostedDep
from causeway.model.errors import AuthenticationError

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)


@router.get("/login")
def login_page(request: Request) -> Response:
    return render(request, "login.html", error=None, name="")


@router.post("/login")
async def login(request: Request, hub: HubDep) -> Response:
    form = await session.read_form(request)
    name = form.text("name")
    try:
        secret = await run_in_threadpool(
            session.sign_in, hub, session.client_of(request), name, form.text("token")
        )
    except AuthenticationError as exc:
        return render(request, "login.html", status=exc.status, error=exc.detail, name=name)
    response = RedirectResponse("/ui/", status_code=303)
    session.set_cookie(response, request, secret)
    return response


@router.post("/logout")
def logout(request: Request, hub: HubDep, _form: PostedDep) -> Response:
    session.sign_out(hub, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/ui/login", status_code=303)
    session.clear_cookie(response)
    return response
