"""The steward's console: a small web app served by the node, inside the hospital only.

Every page but the sign-in needs a session; every form carries a CSRF token. The console reads
what the node keeps (approvals, the audit log, budgets) and asks the hub, through the node's own
signed connection, for the projects that name this node. It makes no decision the steward's
commands could not make: approving and withdrawing go through :mod:`causeway.node.steward`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader
from starlette.exceptions import HTTPException as StarletteHTTPException

from causeway.model.errors import CausewayError, NotFound, PermissionDenied, Unavailable
from causeway.model.policy import NodePolicy, Policy
from causeway.node import steward
from causeway.node.config import NodeConfig
from causeway.node.console import pages
from causeway.node.console.password import check_password
from causeway.node.console.security import SESSION_SECONDS, Csrf, Sessions, Throttle
from causeway.node.store import NodeStore
from causeway.node.transport import HubConnection
from causeway.node.witness import WitnessState

HERE = Path(__file__).parent
SESSION_COOKIE = "causeway_console"
SIGNIN_COOKIE = "causeway_console_signin"
MAX_FORM_BYTES = 64 * 1024
DONE = {
    "approve": "Approved: tasks of this project run here while its terms stay as shown.",
    "reject": "Rejected: the application ends.",
    "suspend": "Suspended here: its tasks are refused from the next assignment.",
    "revoke": "Revoked here: its tasks are refused from the next assignment.",
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class ConsoleState:
    """What the console's pages read and change; shared by its requests."""

    def __init__(
        self,
        config: NodeConfig,
        connection: HubConnection | None,
        store: NodeStore,
        audit_dir: Path,
        policy: NodePolicy | Policy,
        password_dir: Path,
        witness: WitnessState | None = None,
    ) -> None:
        self.config = config
        self.connection = connection
        self.store = store
        self.approvals = store.approvals
        # the node's witness of the hub's ledger: its open alarms show on every page
        self.witness = witness if witness is not None else WitnessState.beside(store.path)
        self.audit_dir = Path(audit_dir)
        self.policies = policy if isinstance(policy, NodePolicy) else NodePolicy(fixed=policy)
        self.password_dir = Path(password_dir)
        self.sessions = Sessions()
        self.throttle = Throttle()
        self.csrf = Csrf()
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True
        )
        self.templates.filters["url"] = lambda text: quote(str(text), safe="")

    @property
    def node(self) -> str:
        return self.config.name

    def held(self) -> set[str]:
        return {info.name for info in self.store.datasets()}

    def hub(self) -> HubConnection:
        if self.connection is None:
            raise steward_unavailable()
        return self.connection


def steward_unavailable() -> CausewayError:
    return Unavailable("this console has no connection to the hub")


def create_console(
    config: NodeConfig,
    connection: HubConnection | None,
    store: NodeStore,
    audit_dir: Path,
    policy: NodePolicy | Policy,
    *,
    password_dir: Path | None = None,
    witness: WitnessState | None = None,
) -> FastAPI:
    """The console of the node ``config`` names. ``connection`` is a signed connection to its hub
    (``None``: show what is kept here only); ``store`` its data store (with its approvals);
    ``audit_dir`` where its audit log is; ``policy`` its policy; the password hash is read from
    ``password_dir`` (default: ``audit_dir``, the node's data directory); ``witness`` the state of
    the node's witness of the hub's ledger (default: ``witness.sqlite`` beside the store)."""
    state = ConsoleState(
        config, connection, store, audit_dir, policy, password_dir or Path(audit_dir), witness
    )
    app = FastAPI(
        title=f"Causeway node console ({config.name})",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.console = state

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "No such page." if exc.status_code == 404 else str(exc.detail)
        return render(state, request, "error.html", {"message": message}, exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        message = "Something went wrong in the console; the node's own output says more."
        return render(state, request, "error.html", {"message": message}, 500)

    @app.get("/static/console.css", include_in_schema=False)
    def stylesheet() -> Response:
        css = (HERE / "static" / "console.css").read_text()
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    # -- signing in and out ---------------------------------------------------------------------

    @app.get("/login")
    def login_page(request: Request) -> Response:
        if state.sessions.valid(request.cookies.get(SESSION_COOKIE)):
            return redirect("/")
        return _login(state, request)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        signin = request.cookies.get(SIGNIN_COOKIE)
        if not state.csrf.check(_signin_id(signin), form.get("csrf")):
            return forbidden(state, request)
        wait = state.throttle.locked()
        if wait > 0:
            message = (
                "Too many failed sign-ins: sign-in is refused for "
                f"{math.ceil(wait)} more second(s)."
            )
            return _login(state, request, message, 429)
        right = await run_in_threadpool(
            check_password, state.password_dir, form.get("password", "")
        )
        if not right:
            state.throttle.failed()
            return _login(state, request, "Wrong password.", 401)
        state.throttle.succeeded()
        response = redirect("/")
        response.set_cookie(
            SESSION_COOKIE,
            state.sessions.open(),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        response.delete_cookie(SIGNIN_COOKIE, path="/login")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        form = await read_form(request)
        if not state.sessions.valid(session) or not state.csrf.check(session, form.get("csrf")):
            return forbidden(state, request)
        state.sessions.close(session)
        response = redirect("/login")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- pages ----------------------------------------------------------------------------------

    @app.get("/")
    def projects_page(request: Request) -> Response:
        if not signed_in(state, request):
            return to_login()
        problem, rows, names = None, [], []
        try:
            views = steward.projects(state.hub(), state.node)
            held = state.held()
            rows = [pages.project_row(view, state.approvals, held) for view in views]
            names = [view.name for view in views]
        except CausewayError as exc:
            problem = exc.detail
        local = pages.local_rows(state.approvals, names)
        context = {"projects": rows, "local": local, "hub_problem": problem}
        return render(state, request, "projects.html", context)

    @app.get("/projects/{name}")
    def project_page(request: Request, name: str, done: str = "") -> Response:
        if not signed_in(state, request):
            return to_login()
        return _project(state, request, name, notice=DONE.get(done))

    @app.post("/projects/{name}/{verdict}")
    async def decide(request: Request, name: str, verdict: str) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        if not state.sessions.valid(session):
            return to_login()
        form = await read_form(request)
        if not state.csrf.check(session, form.get("csrf")):
            return forbidden(state, request)
        if verdict not in DONE:
            raise StarletteHTTPException(404)
        comment = form.get("comment", "").strip()
        try:
            await run_in_threadpool(_decide, state, name, verdict, comment, form)
        except CausewayError as exc:
            return await run_in_threadpool(
                _project, state, request, name, None, exc.detail, exc.status
            )
        return redirect(f"/projects/{quote(name, safe='')}?done={verdict}")

    @app.post("/ledger/acknowledge")
    async def acknowledge(request: Request) -> Response:
        """The steward's acknowledgement of the open ledger alarms (as 'node ledger-ack')."""
        session = request.cookies.get(SESSION_COOKIE)
        if not state.sessions.valid(session):
            return to_login()
        form = await read_form(request)
        if not state.csrf.check(session, form.get("csrf")):
            return forbidden(state, request)
        try:
            await run_in_threadpool(state.witness.acknowledge, form.get("comment", ""))
        except CausewayError as exc:
            return render(state, request, "error.html", {"message": exc.detail}, exc.status)
        return redirect("/?acknowledged=1")

    @app.get("/tasks")
    def tasks_page(request: Request, page: int = 1) -> Response:
        if not signed_in(state, request):
            return to_login()
        found = pages.assignments(state.audit_dir)
        size = pages.TASKS_PER_PAGE
        last = max(1, math.ceil(len(found) / size))
        page = min(max(page, 1), last)
        shown = found[(page - 1) * size : page * size]
        context = {
            "tasks": shown,
            "total": len(found),
            "page": page,
            "last": last,
            "first_shown": (page - 1) * size + 1,
            "last_shown": (page - 1) * size + len(shown),
        }
        return render(state, request, "tasks.html", context)

    @app.get("/budgets")
    def budgets_page(request: Request) -> Response:
        if not signed_in(state, request):
            return to_login()
        rows = pages.budgets(state.store, state.policies)
        return render(state, request, "budgets.html", {"budgets": rows})

    return app


# -- helpers -------------------------------------------------------------------------------------


def _decide(
    state: ConsoleState, name: str, verdict: str, comment: str, form: dict[str, str]
) -> None:
    if verdict == "approve":
        expected = form.get("expected", "")
        if not expected:
            raise PermissionDenied("approve from the project's page: it says which terms you saw")
        steward.approve(
            state.hub(), state.approvals, state.node, name, (), comment, expected=expected
        )
    elif verdict == "reject":
        if not comment:
            raise PermissionDenied("say why: to reject needs a comment")
        steward.reject(state.hub(), state.node, name, comment)
    else:
        steward.withdraw(state.connection, state.approvals, name, verdict, comment)


def _project(
    state: ConsoleState,
    request: Request,
    name: str,
    notice: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    view, hub_problem = None, None
    try:
        view = steward.project(state.hub(), state.node, name)
    except NotFound:
        if not any(a.project == name for a in state.approvals.all()):
            raise StarletteHTTPException(404) from None
        hub_problem = f"the hub lists no project {name!r} for this node"
    except CausewayError as exc:
        hub_problem = exc.detail
    context = {
        "name": name,
        "view": view,
        "terms": None if view is None else view.terms,
        "application": None if view is None else (view.application or {}),
        "here": [] if view is None else pages.here(view, state.approvals, state.held()),
        "local": [row for row in pages.local_rows(state.approvals) if row["project"] == name],
        "history": list(reversed(state.approvals.history(name))),
        "actions": pages.actions(view, state.approvals, name),
        "hub_problem": hub_problem,
        "notice": notice,
        "problem": problem,
    }
    return render(state, request, "project.html", context, status)


def _login(
    state: ConsoleState, request: Request, problem: str | None = None, status: int = 200
) -> Response:
    signin = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)
    context = {"problem": problem, "signin_csrf": state.csrf.token(f"signin:{signin}")}
    response = render(state, request, "login.html", context, status, signed=False)
    response.set_cookie(
        SIGNIN_COOKIE,
        signin,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


def _signin_id(signin: str | None) -> str | None:
    return None if not signin else f"signin:{signin}"


def signed_in(state: ConsoleState, request: Request) -> bool:
    return state.sessions.valid(request.cookies.get(SESSION_COOKIE))


def render(
    state: ConsoleState,
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    *,
    signed: bool | None = None,
) -> HTMLResponse:
    session = request.cookies.get(SESSION_COOKIE)
    if signed is None:
        signed = state.sessions.valid(session)
    alarms = [a.to_json() for a in state.witness.open_alarms()] if signed else []
    page = state.templates.get_template(template).render(
        node=state.node,
        organisation=state.config.organisation,
        signed_in=signed,
        csrf=state.csrf.token(session) if signed and session else "",
        path=request.url.path,
        ledger_alarms=alarms,
        acknowledged=request.query_params.get("acknowledged") == "1",
        **context,
    )
    return HTMLResponse(page, status_code=status)


def forbidden(state: ConsoleState, request: Request) -> HTMLResponse:
    message = (
        "This form was refused: it did not carry this console's token (it may be from an "
        "old page, or from another site). Go back, reload the page and try again."
    )
    return render(state, request, "error.html", {"message": message}, 403)


def redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


def to_login() -> RedirectResponse:
    return redirect("/login")


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form's fields (the first value of each); a large body is refused."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise StarletteHTTPException(413, "This form is too large.")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}
