"""Administration: users (add, suspend, reinstate), organisations, nodes with their last contact
and recent failures, and a user's tokens (list, revoke). Admins act; auditors read the same pages
without the forms, and the services refuse their posts by role (403) whatever the page shows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from causeway.hub import accounts, nodes, tokens
from causeway.hub.accounts import Committee, OrganisationCount, Role
from causeway.hub.db import ApiToken, User, utcnow
from causeway.hub.deps import HubDep
from causeway.hub.schemas import NodeInfo, TokenOut, UserOut
from causeway.hub.visibility import online
from causeway.hub.web.page import PageRoute, render
from causeway.hub.web.session import PostedDep, SignedInDep

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
FAILURE_DAYS = 7


@dataclass(frozen=True)
class NodeRow:
    info: NodeInfo
    online: bool
    failures: int


@dataclass(frozen=True)
class Overview:
    users: list[UserOut]
    organisations: list[OrganisationCount]
    nodes: list[NodeRow]


def _overview(session: Session, user: User) -> Overview:
    accounts.require(user, Role.ADMIN, Role.AUDITOR)
    now = utcnow()
    failed = nodes.failures(session, user, now - dt.timedelta(days=FAILURE_DAYS))
    return Overview(
        users=[
            UserOut.of(u, accounts.organisation_of(session, u)) for u in accounts.listed(session)
        ],
        organisations=accounts.organisations(session, user),
        nodes=[
            NodeRow(NodeInfo.of(node, org), online(node.last_seen, now), failed.get(node.name, 0))
            for node, org in nodes.listed_for(session, user)
        ],
    )


@router.get("/admin")
def overview(request: Request, viewer: SignedInDep, hub: HubDep) -> Response:
    found = hub.run(lambda s: _overview(s, viewer.user))
    return render(
        request,
        "admin.html",
        overview=found,
        acts=accounts.has_role(viewer.user, Role.ADMIN),
        roles=[r.value for r in Role],
        committees=[c.value for c in Committee],
        failure_days=FAILURE_DAYS,
    )


@router.post("/admin/users")
def add_user(request: Request, viewer: SignedInDep, form: PostedDep, hub: HubDep) -> Response:
    """Create a user and show their first token once (on this answer, never in a URL)."""
    accounts.require(viewer.user, Role.ADMIN)
    role = Role.parse(form.text("role"))
    committee = Committee.parse(form.text("committee")) if form.text("committee") else None

    def create(session: Session) -> UserOut:
        user, token = accounts.add_user(
            session,
            form.text("name"),
            role,
            form.optional("organisation"),
            committee=committee,
            senior=form.text("senior") == "yes",
        )
        return UserOut.of(user, accounts.organisation_of(session, user), token)

    created = hub.run(create)
    return render(request, "user_created.html", status=201, created=created)


@router.post("/admin/users/{name}/suspend")
def suspend(name: str, viewer: SignedInDep, _form: PostedDep, hub: HubDep) -> Response:
    hub.run(lambda s: accounts.suspend(s, viewer.user, name))
    return RedirectResponse("/ui/admin", status_code=303)


@router.post("/admin/users/{name}/reinstate")
def reinstate(name: str, viewer: SignedInDep, _form: PostedDep, hub: HubDep) -> Response:
    hub.run(lambda s: accounts.reinstate(s, viewer.user, name))
    return RedirectResponse("/ui/admin", status_code=303)


def _tokens(session: Session, viewer: User, name: str) -> list[TokenOut]:
    accounts.require_self_or_admin(viewer, name)
    owner = accounts.named(session, name)
    records: list[ApiToken] = tokens.of_user(session, owner)
    return [TokenOut.of(t, owner.name) for t in reversed(records)]


@router.get("/users/{name}/tokens")
def user_tokens(request: Request, name: str, viewer: SignedInDep, hub: HubDep) -> Response:
    """A user's tokens, for themselves or an admin."""
    found = hub.run(lambda s: _tokens(s, viewer.user, name))
    return render(request, "tokens.html", owner=name, tokens=found)


@router.post("/tokens/{token_id}/revoke")
def revoke(token_id: int, viewer: SignedInDep, _form: PostedDep, hub: HubDep) -> Response:
    _token, owner = hub.run(lambda s: accounts.revoke_token(s, viewer.user, token_id))
    return RedirectResponse(f"/ui/users/{owner.name}/tokens", status_code=303)
