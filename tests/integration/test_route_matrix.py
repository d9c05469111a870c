"""Every route of the hub, with a token of every role (and none, and a bad one), against a declared
matrix of who may call it. A route added without a row here fails :func:`test_every_route_is_declared`;
docs/reference/roles.md shows the same matrix and is checked against it.

The web pages (``/ui``) are walked the same way with a web session of each role instead of a bearer
token (a signed-in cookie, and the session's CSRF value in every form): no session, or a refused
one, is answered with the sign-in page (401). tests/integration/test_web.py checks what the pages
show and do."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from starlette.routing import BaseRoute, Route

import causeway
from causeway.client.admin import AdminClient
from causeway.crypto.keys import generate_key, public_text
from causeway.hub.app import create_app
from causeway.hub.limits import SignInThrottle
from causeway.hub.web.session import COOKIE

ROLES = ("admin", "steward", "reviewer", "output_checker", "researcher", "auditor")
EVERYONE = frozenset(ROLES)
PUBLIC = "public"  # anyone, signed in or not
NODE = "node"  # a node's signed request only: every user token is refused
ROLES_DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "roles.md"


@dataclass
class Context:
    """What the walk's requests name: the federation, each role's token, a task, targets."""

    fed: causeway.LocalFederation
    tokens: dict[str, str]
    task_id: str
    document: str = ""
    application_id: int = 0
    counter: Iterator[int] = field(default_factory=itertools.count)

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    def admin(self) -> AdminClient:
        return AdminClient(self.fed.url, self.tokens["admin"])

    def fresh_user(self) -> str:
        name = self.fresh("target")
        with self.admin() as admin:
            admin.add_user(name, "researcher", "north hospital")
        return name

    def fresh_token_id(self) -> int:
        with self.admin() as admin:
            return admin.issue_token("target_fixed").id

    def fresh_application(self) -> int:
        """An application by the researcher (of the hub's organisation, like every role's user
        here but the steward, whose node north is a site of it)."""
        with causeway.Client(self.fed.url, self.tokens["researcher"]) as researcher:
            return researcher.apply(self.fresh("app"), **APPLICATION).id

    def fresh_project(self) -> str:
        name = self.fresh("proj")
        with self.admin() as admin:
            admin.add_project(name, ["cohort"], [], ["north"])
        return name

    def web_session(self, role: str) -> tuple[str, str]:
        """A new web session of the role's user: its cookie and its CSRF value."""
        name = role if role in ("admin", "researcher") else f"the_{role}"
        signed = httpx.post(
            f"{self.fed.url}/ui/login", data={"name": name, "token": self.tokens[role]}
        )
        assert signed.status_code == 303, signed.text[:200]
        session = signed.cookies[COOKIE]
        page = httpx.get(f"{self.fed.url}/ui/tasks", cookies={COOKIE: session})
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert found, page.text[:200]
        return session, found.group(1)


Request = tuple[str, Any]  # the path, and the JSON body (None for none)
APPLICATION: dict[str, Any] = {
    "title": "t",
    "purpose": "p",
    "protocol": "q",
    "datasets": ["cohort"],
    "analyses": ["count"],
    "duration_days": 30,
}


@dataclass(frozen=True)
class Row:
    """Who may call a route: roles (or PUBLIC, or NODE), what everyone else gets (403, or 404 where
    a route hides what is not yours), and a sample request (the walk sends the same to all)."""

    allowed: frozenset[str]
    sample: Callable[[Context], Request]
    refused: int = 403
    note: str = ""
    ok: frozenset[int] = frozenset()  # statuses besides 2xx an allowed caller may get here
    web: bool = False  # a page: a web session (cookie and CSRF value), the body a form


REDIRECT = frozenset({303})  # redirect-after-post, or / to /ui/


def fixed(path: str, body: Any = None) -> Callable[[Context], Request]:
    return lambda _ctx: (path, body)


def roles(*names: str) -> frozenset[str]:
    return frozenset(names)


MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/api/health"): Row(roles(PUBLIC), fixed("/api/health")),
    ("GET", "/openapi.json"): Row(roles(PUBLIC), fixed("/openapi.json")),
    ("GET", "/docs"): Row(roles(PUBLIC), fixed("/docs")),
    ("GET", "/healthz"): Row(roles(PUBLIC), fixed("/healthz")),
    ("GET", "/readyz"): Row(roles(PUBLIC), fixed("/readyz")),
    ("GET", "/metrics"): Row(
        roles("admin", "auditor"), fixed("/metrics"), note="or the hub's scrape token"
    ),
    ("GET", "/api/me"): Row(EVERYONE, fixed("/api/me")),
    # users and organisations
    ("GET", "/api/users"): Row(roles("admin", "auditor"), fixed("/api/users")),
    ("POST", "/api/users"): Row(
        roles("admin"),
        lambda c: ("/api/users", {"name": c.fresh("new"), "role": "researcher"}),
    ),
    ("POST", "/api/users/{name}/suspend"): Row(
        roles("admin"), lambda c: (f"/api/users/{c.fresh_user()}/suspend", None)
    ),
    ("POST", "/api/users/{name}/reinstate"): Row(
        roles("admin"), lambda c: (f"/api/users/{c.fresh_user()}/reinstate", None)
    ),
    ("DELETE", "/api/users/{name}"): Row(
        roles("admin"), lambda c: (f"/api/users/{c.fresh_user()}", None)
    ),
    ("GET", "/api/organisations"): Row(roles("admin", "auditor"), fixed("/api/organisations")),
    # tokens: a user's own too (tested in test_identity), here another user's
    ("GET", "/api/users/{name}/tokens"): Row(
        roles("admin"), fixed("/api/users/target_fixed/tokens"), note="and the user themselves"
    ),
    ("POST", "/api/users/{name}/tokens"): Row(
        roles("admin"),
        fixed("/api/users/target_fixed/tokens", {"expires_in_days": 1}),
        note="and the user themselves",
    ),
    ("DELETE", "/api/tokens/{token_id}"): Row(
        roles("admin"),
        lambda c: (f"/api/tokens/{c.fresh_token_id()}", None),
        refused=404,
        note="and the token's owner",
    ),
    # nodes (the steward's organisation is north hospital)
    ("POST", "/api/nodes"): Row(
        roles("admin", "steward"),
        lambda c: (
            "/api/nodes",
            {
                "name": c.fresh("node"),
                "organisation": "north hospital",
                "public_key": public_text(generate_key()),
            },
        ),
        note="a steward for their own organisation",
    ),
    ("GET", "/api/nodes"): Row(
        roles("admin", "auditor", "steward"), fixed("/api/nodes"), note="a steward: their own"
    ),
    ("PUT", "/api/nodes/{name}/key"): Row(
        roles("admin", "steward"),
        lambda c: ("/api/nodes/spare/key", {"public_key": public_text(generate_key())}),
        note="a steward of the node's organisation",
    ),
    ("POST", "/api/nodes/{name}/retire"): Row(
        roles("admin", "steward"),
        fixed("/api/nodes/spare/retire"),
        note="a steward of the node's organisation",
    ),
    # catalog
    ("GET", "/api/datasets"): Row(EVERYONE, fixed("/api/datasets")),
    ("GET", "/api/datasets/{name}"): Row(EVERYONE, fixed("/api/datasets/cohort")),
    ("GET", "/catalog/{name}.jsonld"): Row(EVERYONE, fixed("/catalog/cohort.jsonld")),
    # projects
    ("POST", "/api/projects"): Row(
        roles("admin"),
        lambda c: (
            "/api/projects",
            {"name": c.fresh("p"), "datasets": ["cohort"], "members": [], "sites": ["north"]},
        ),
    ),
    ("GET", "/api/projects"): Row(EVERYONE, fixed("/api/projects"), note="the ones they are in"),
    ("POST", "/api/projects/{name}/members"): Row(
        roles("admin"), lambda c: (f"/api/projects/{c.fed.project}/members", {})
    ),
    ("POST", "/api/projects/{name}/decisions"): Row(
        roles("admin"),
        lambda c: (
            f"/api/projects/{c.fresh_project()}/decisions",
            {"decision": "suspend", "comment": "the walk"},
        ),
    ),
    ("POST", "/api/projects/{name}/accept-terms"): Row(
        roles("admin"),
        lambda c: (f"/api/projects/{c.fresh_project()}/accept-terms", None),
        note="and the project's applicant",
    ),
    ("GET", "/api/contributions"): Row(
        EVERYONE,
        fixed("/api/contributions"),
        note="a steward: their hospital's sites; a researcher: their projects'",
    ),
    # applications and their documents
    ("PUT", "/api/documents"): Row(roles("researcher"), fixed("/api/documents", "a document")),
    ("GET", "/api/documents/{sha256}"): Row(
        roles("researcher", "admin", "auditor"),
        lambda c: (f"/api/documents/{c.document}", None),
        refused=404,
        note="the uploader, and whoever may see an application citing it",
    ),
    ("POST", "/api/applications"): Row(
        roles("researcher"),
        lambda c: ("/api/applications", {"project": c.fresh("app"), **APPLICATION}),
        note="L3 data: a senior researcher",
    ),
    ("GET", "/api/applications"): Row(
        EVERYONE, fixed("/api/applications"), note="the ones they may see"
    ),
    ("GET", "/api/applications/{application_id}"): Row(
        EVERYONE,
        lambda c: (f"/api/applications/{c.application_id}", None),
        refused=404,
        note="their organisation's, the ones they are on or must review",
    ),
    ("POST", "/api/applications/{application_id}/reviews"): Row(
        roles("reviewer"),
        lambda c: (f"/api/applications/{c.application_id}/reviews", {"decision": "approve"}),
        ok=frozenset({409}),  # an L1 application waits for no committee
        note="of the committee the application waits for",
    ),
    ("POST", "/api/applications/{application_id}/withdraw"): Row(
        roles("researcher"),
        lambda c: (f"/api/applications/{c.fresh_application()}/withdraw", None),
        note="the applicant",
    ),
    # tasks: a researcher's own; admins and auditors see every task
    ("POST", "/api/tasks"): Row(
        roles("researcher"),
        lambda c: (
            "/api/tasks",
            {"algorithm": "count", "dataset": "cohort", "project": c.fed.project},
        ),
        note="a member of the project",
    ),
    ("GET", "/api/tasks"): Row(EVERYONE, fixed("/api/tasks"), note="their own"),
    ("GET", "/api/tasks/{task_id}"): Row(
        roles("researcher", "admin", "auditor"),
        lambda c: (f"/api/tasks/{c.task_id}", None),
        refused=404,
        note="a researcher: their own",
    ),
    ("POST", "/api/tasks/{task_id}/cancel"): Row(
        roles("researcher", "admin"),
        lambda c: (f"/api/tasks/{c.task_id}/cancel", None),
        refused=404,
        note="a researcher: their own",
    ),
    # output checking and budgets
    ("GET", "/api/reviews"): Row(roles("output_checker"), fixed("/api/reviews")),
    ("POST", "/api/reviews/{task_id}"): Row(
        roles("output_checker"),
        lambda c: (f"/api/reviews/{c.task_id}", {"decision": "release"}),
        ok=frozenset({404}),  # the walk's task is not held
        note="not on their own task",
    ),
    ("GET", "/api/reviews/{task_id}"): Row(
        roles("researcher", "admin", "auditor", "output_checker"),
        lambda c: (f"/api/reviews/{c.task_id}", None),
        refused=404,
        note="a researcher: on their own task",
    ),
    ("GET", "/api/budgets"): Row(
        roles("researcher", "admin", "auditor"),
        lambda c: (f"/api/budgets?project={c.fed.project}&dataset=cohort", None),
        refused=404,
        note="a researcher: a member of the project",
    ),
    # the ledger: heads and proofs are hashes only; the entries for admins and auditors
    ("GET", "/api/ledger/head"): Row(EVERYONE, fixed("/api/ledger/head")),
    ("GET", "/api/ledger/heads"): Row(EVERYONE, fixed("/api/ledger/heads")),
    ("GET", "/api/ledger/cosignatures"): Row(EVERYONE, fixed("/api/ledger/cosignatures")),
    ("GET", "/api/ledger/entries"): Row(
        roles("admin", "auditor"), fixed("/api/ledger/entries?start=0&end=5")
    ),
    ("GET", "/api/ledger/proof/inclusion"): Row(
        EVERYONE, fixed("/api/ledger/proof/inclusion?index=0&size=2")
    ),
    ("GET", "/api/ledger/proof/consistency"): Row(
        EVERYONE, fixed("/api/ledger/proof/consistency?old=1&new=2")
    ),
    # the node protocol
    ("PUT", "/api/node/datasets"): Row(roles(NODE), fixed("/api/node/datasets", {"datasets": []})),
    ("PUT", "/api/node/aggregation-key"): Row(
        roles(NODE),
        fixed("/api/node/aggregation-key", {"key": "k", "version": 1, "signature": "s"}),
    ),
    ("GET", "/api/node/assignments"): Row(roles(NODE), fixed("/api/node/assignments")),
    ("DELETE", "/api/node/instance"): Row(roles(NODE), fixed("/api/node/instance?instance=x")),
    ("GET", "/api/node/projects"): Row(roles(NODE), fixed("/api/node/projects")),
    ("GET", "/api/node/projects/{name}"): Row(roles(NODE), fixed("/api/node/projects/x")),
    ("POST", "/api/node/decisions"): Row(
        roles(NODE),
        fixed("/api/node/decisions", {"project": "x", "digest": "0" * 64, "decision": "approve"}),
    ),
    ("POST", "/api/node/assignments/{assignment_id}"): Row(
        roles(NODE), fixed("/api/node/assignments/1", {})
    ),
    ("POST", "/api/node/assignments/{assignment_id}/lease"): Row(
        roles(NODE), fixed("/api/node/assignments/1/lease")
    ),
    # the node as a witness of the ledger
    ("GET", "/api/node/ledger/head"): Row(roles(NODE), fixed("/api/node/ledger/head")),
    ("GET", "/api/node/ledger/consistency"): Row(
        roles(NODE), fixed("/api/node/ledger/consistency?old=1&new=2")
    ),
    ("GET", "/api/node/ledger/about"): Row(roles(NODE), fixed("/api/node/ledger/about?after=-1")),
    ("GET", "/api/node/ledger/inclusion"): Row(
        roles(NODE), fixed("/api/node/ledger/inclusion?size=2&index=0&index=1")
    ),
    ("GET", "/api/node/ledger/cosignatures"): Row(
        roles(NODE), fixed("/api/node/ledger/cosignatures")
    ),
    ("POST", "/api/node/ledger/cosignatures"): Row(
        roles(NODE),
        fixed("/api/node/ledger/cosignatures", {"size": 1, "root": "0" * 64, "signature": "s"}),
    ),
    # the web pages (a redirect after a form is the allowed answer)
    ("GET", "/"): Row(roles(PUBLIC), fixed("/"), ok=REDIRECT, note="to /ui/", web=True),
    ("GET", "/ui/login"): Row(roles(PUBLIC), fixed("/ui/login"), web=True),
    ("POST", "/ui/login"): Row(
        roles(PUBLIC),
        lambda c: ("/ui/login", {"name": "researcher", "token": c.fed.researcher_token}),
        ok=REDIRECT,
        note="with a user name and their token",
        web=True,
    ),
    ("POST", "/ui/logout"): Row(EVERYONE, fixed("/ui/logout", {}), ok=REDIRECT, web=True),
    ("GET", "/ui/"): Row(EVERYONE, fixed("/ui/"), web=True),
    ("GET", "/ui/datasets"): Row(EVERYONE, fixed("/ui/datasets?q=cohort"), web=True),
    ("GET", "/ui/datasets/{name}"): Row(EVERYONE, fixed("/ui/datasets/cohort"), web=True),
    ("GET", "/ui/datasets/{name}/dcat.jsonld"): Row(
        EVERYONE, fixed("/ui/datasets/cohort/dcat.jsonld"), web=True
    ),
    ("GET", "/ui/projects"): Row(EVERYONE, fixed("/ui/projects"), note="their own", web=True),
    ("GET", "/ui/projects/{name}"): Row(
        roles("researcher"),
        lambda c: (f"/ui/projects/{c.fed.project}", None),
        refused=404,
        note="a member of the project",
        web=True,
    ),
    ("POST", "/ui/projects/{name}/tasks"): Row(
        roles("researcher"),
        lambda c: (
            f"/ui/projects/{c.fed.project}/tasks",
            {"algorithm": "count", "dataset": "cohort"},
        ),
        ok=REDIRECT,
        note="a member of the project",
        web=True,
    ),
    ("GET", "/ui/tasks"): Row(
        EVERYONE, fixed("/ui/tasks"), note="their own; admins and auditors every task", web=True
    ),
    ("GET", "/ui/tasks/{task_id}"): Row(
        roles("researcher", "admin", "auditor"),
        lambda c: (f"/ui/tasks/{c.task_id}", None),
        refused=404,
        note="a researcher: their own",
        web=True,
    ),
    ("POST", "/ui/tasks/{task_id}/cancel"): Row(
        roles("researcher", "admin"),
        lambda c: (f"/ui/tasks/{c.task_id}/cancel", {}),
        refused=404,
        ok=REDIRECT,
        note="a researcher: their own",
        web=True,
    ),
    ("GET", "/ui/applications"): Row(EVERYONE, fixed("/ui/applications"), web=True),
    ("GET", "/ui/applications/new"): Row(
        roles("researcher"), fixed("/ui/applications/new"), web=True
    ),
    ("POST", "/ui/applications"): Row(
        roles("researcher"),
        lambda c: (
            "/ui/applications",
            {
                "project": c.fresh("webapp"),
                "title": "t",
                "purpose": "p",
                "protocol": "q",
                "datasets": "cohort",
                "analyses": "count",
                "duration_days": "30",
            },
        ),
        ok=REDIRECT,
        note="L3 data: a senior researcher",
        web=True,
    ),
    ("GET", "/ui/applications/{application_id}"): Row(
        EVERYONE,
        lambda c: (f"/ui/applications/{c.application_id}", None),
        refused=404,
        note="their organisation's, the ones they are on or must review",
        web=True,
    ),
    ("POST", "/ui/applications/{application_id}/reviews"): Row(
        roles("reviewer"),
        lambda c: (f"/ui/applications/{c.application_id}/reviews", {"decision": "approve"}),
        ok=frozenset({409}),  # an L1 application waits for no committee
        note="of the committee the application waits for",
        web=True,
    ),
    ("POST", "/ui/applications/{application_id}/withdraw"): Row(
        roles("researcher"),
        lambda c: (f"/ui/applications/{c.fresh_application()}/withdraw", {}),
        ok=REDIRECT,
        note="the applicant",
        web=True,
    ),
    ("POST", "/ui/projects/{name}/decisions"): Row(
        roles("admin"),
        lambda c: (
            f"/ui/projects/{c.fresh_project()}/decisions",
            {"decision": "suspend", "comment": "the walk"},
        ),
        ok=REDIRECT,
        web=True,
    ),
    ("GET", "/ui/documents/{sha256}"): Row(
        roles("researcher", "admin", "auditor"),
        lambda c: (f"/ui/documents/{c.document}", None),
        refused=404,
        note="the uploader, and whoever may see an application citing it",
        web=True,
    ),
    ("GET", "/ui/reviews"): Row(roles("output_checker"), fixed("/ui/reviews"), web=True),
    ("POST", "/ui/reviews/{task_id}"): Row(
        roles("output_checker"),
        lambda c: (f"/ui/reviews/{c.task_id}", {"decision": "release"}),
        ok=frozenset({404}),  # the walk's task is not held
        note="not on their own task",
        web=True,
    ),
    ("GET", "/ui/admin"): Row(
        roles("admin", "auditor"), fixed("/ui/admin"), note="an auditor: read only", web=True
    ),
    ("POST", "/ui/admin/users"): Row(
        roles("admin"),
        lambda c: ("/ui/admin/users", {"name": c.fresh("web"), "role": "researcher"}),
        web=True,
    ),
    ("POST", "/ui/admin/users/{name}/suspend"): Row(
        roles("admin"),
        lambda c: (f"/ui/admin/users/{c.fresh_user()}/suspend", {}),
        ok=REDIRECT,
        web=True,
    ),
    ("POST", "/ui/admin/users/{name}/reinstate"): Row(
        roles("admin"),
        lambda c: (f"/ui/admin/users/{c.fresh_user()}/reinstate", {}),
        ok=REDIRECT,
        web=True,
    ),
    ("GET", "/ui/users/{name}/tokens"): Row(
        roles("admin"),
        fixed("/ui/users/target_fixed/tokens"),
        note="and the user themselves",
        web=True,
    ),
    ("POST", "/ui/tokens/{token_id}/revoke"): Row(
        roles("admin"),
        lambda c: (f"/ui/tokens/{c.fresh_token_id()}/revoke", {}),
        refused=404,
        ok=REDIRECT,
        note="and the token's owner",
        web=True,
    ),
}


def _routes(fed: causeway.LocalFederation) -> set[tuple[str, str]]:
    """Every (method, path) the hub answers: its OpenAPI document's operations, and the routes
    outside the document (the docs page, the document itself) from ``app.routes``; the static
    files behind the docs page are mounted, not routed."""
    app = create_app(fed.hub)
    found = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    for path, route in _walk(app.routes, ""):
        found |= {(m, path) for m in route.methods or () if m != "HEAD"}
    return found


def _walk(routes: Sequence[BaseRoute], prefix: str) -> Iterator[tuple[str, Route]]:
    """Every plain route (APIRoute too) with its full path, inside included routers as well
    (FastAPI keeps an included router as one entry whose routes it resolves lazily; the web
    pages, outside the OpenAPI document, are found only through it)."""
    for route in routes:
        if isinstance(route, Route):
            yield prefix + route.path, route
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + str(getattr(context, "prefix", "")))


rng = np.random.default_rng(3)


@pytest.fixture(scope="module")
def ctx() -> Iterator[Context]:
    frame = pd.DataFrame({"age": rng.integers(20, 90, 100).astype(float)})
    with causeway.LocalFederation({"north": frame}, dataset="cohort") as fed:
        fed.hub.sign_ins = SignInThrottle(limit=1_000_000)  # the walk fails on purpose, often
        tokens = {"admin": fed.admin_token, "researcher": fed.researcher_token}
        with AdminClient(fed.url, fed.admin_token) as admin:
            for role in ROLES:
                if role not in tokens:
                    committee = "ethics" if role == "reviewer" else None
                    # the researcher's organisation is the hub's; a steward's is north's
                    organisation = "north hospital" if role == "steward" else None
                    tokens[role] = admin.add_user(
                        f"the_{role}", role, organisation, committee=committee
                    )
            admin.add_user("target_fixed", "researcher", "south hospital")
            admin.enrol_node("spare", "north hospital", public_text(generate_key()))
        created = httpx.post(
            f"{fed.url}/api/tasks",
            json={"algorithm": "count", "dataset": "cohort", "project": fed.project},
            headers={"Authorization": f"Bearer {fed.researcher_token}"},
        )
        task_id = str(created.json()["id"])
        context = Context(fed, tokens, task_id)
        with causeway.Client(fed.url, fed.researcher_token) as researcher:
            context.document = researcher._http.put("/api/documents", content=b"doc").json()[
                "sha256"
            ]
        context.application_id = context.fresh_application()
        yield context


def test_every_route_is_declared(ctx: Context) -> None:
    routes = _routes(ctx.fed)
    assert routes - set(MATRIX) == set(), "declare who may call these routes in MATRIX"
    assert set(MATRIX) - routes == set(), "MATRIX declares routes the hub does not have"


CALLERS = (*ROLES, "no token", "bad token")


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_answers_each_caller_as_declared(ctx: Context, route: tuple[str, str]) -> None:
    method, _template = route
    row = MATRIX[route]
    wrong = []
    for caller in CALLERS:
        path, body = row.sample(ctx)
        if row.web:
            response = _page_request(ctx, method, path, body, caller)
        else:
            headers = {}
            if caller == "bad token":
                headers["Authorization"] = "Bearer cw_not-a-token"
            elif caller != "no token":
                headers["Authorization"] = f"Bearer {ctx.tokens[caller]}"
            response = httpx.request(method, ctx.fed.url + path, json=body, headers=headers)
        expected = _expected(row, caller)
        if not expected(response.status_code):
            wrong.append(f"{caller}: {response.status_code} {response.text[:160]}")
    assert not wrong, f"{method} {route[1]}:\n" + "\n".join(wrong)


def _page_request(
    ctx: Context, method: str, path: str, form: dict[str, str] | None, caller: str
) -> httpx.Response:
    """A page's request as the caller's browser sends it: its session cookie (a fresh session of
    its role; a made-up one for "bad token"), and a form with the session's CSRF value."""
    cookies, csrf = {}, ""
    if caller == "bad token":
        cookies[COOKIE] = "cw_not-a-token"
    elif caller != "no token":
        cookies[COOKIE], csrf = ctx.web_session(caller)
    data = None if method == "GET" else {**(form or {}), "csrf": csrf}
    return httpx.request(method, ctx.fed.url + path, data=data, cookies=cookies)


def _expected(row: Row, caller: str) -> Callable[[int], bool]:
    if PUBLIC in row.allowed:
        return lambda status: 200 <= status < 300 or status in row.ok
    if NODE in row.allowed or caller in ("no token", "bad token"):
        return lambda status: status == 401
    if caller in row.allowed:
        return lambda status: 200 <= status < 300 or status in row.ok
    return lambda status: status == row.refused


def test_a_node_route_refuses_a_user_token_as_unsigned(ctx: Context) -> None:
    response = httpx.get(
        f"{ctx.fed.url}/api/node/assignments",
        headers={"Authorization": f"Bearer {ctx.tokens['admin']}"},
    )
    assert (response.status_code, response.json()["code"]) == (401, "E210")


def render_matrix() -> str:
    """The matrix as docs/reference/roles.md shows it (between its markers)."""
    columns = ROLES
    lines = [
        "| Route | " + " | ".join(columns) + " | Notes |",
        "|---|" + "---|" * len(columns) + "---|",
    ]
    for (method, path), row in sorted(MATRIX.items(), key=lambda item: (item[0][1], item[0][0])):
        if PUBLIC in row.allowed:
            cells = ["anyone"] * len(columns)
        elif NODE in row.allowed:
            cells = ["node only"] * len(columns)
        else:
            cells = ["yes" if role in row.allowed else "" for role in columns]
        lines.append(f"| `{method} {path}` | " + " | ".join(cells) + f" | {row.note} |")
    return "\n".join(lines)


def test_the_roles_reference_shows_this_matrix() -> None:
    text = ROLES_DOC.read_text()
    found = re.search(r"<!-- matrix -->\n(.*?)\n<!-- /matrix -->", text, flags=re.DOTALL)
    assert found, f"{ROLES_DOC} has no <!-- matrix --> section"
    assert found.group(1).strip() == render_matrix(), (
        f"update the matrix in {ROLES_DOC.name} to:\n{render_matrix()}"
    )
