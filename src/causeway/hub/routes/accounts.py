"""People: who am I, the users (add, list, suspend, reinstate, delete), their organisations (and
the hub's health)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from causeway.hub import accounts
from causeway.hub.accounts import Role
from causeway.hub.db import User
from causeway.hub.deps import HubDep, UserDep
from causeway.hub.schemas import OrganisationOut, UserIn, UserOut

router = APIRouter(prefix="/api")


@router.get("/health", tags=["hub"])
def health(hub: HubDep) -> dict[str, str]:
    return {"status": "ok", "public_key": hub.public_key}


@router.get("/me", tags=["accounts"])
def me(user: UserDep, hub: HubDep) -> UserOut:
    return hub.run(lambda s: _out(s, user))


@router.get("/users", tags=["accounts"])
def users(user: UserDep, hub: HubDep, deleted: bool = False) -> list[UserOut]:
    """Every user (admins and auditors); deleted ones only with ``deleted=true``."""
    accounts.require(user, Role.ADMIN, Role.AUDITOR)
    return hub.run(lambda s: [_out(s, u) for u in accounts.listed(s, deleted=deleted)])


@router.post("/users", status_code=201, tags=["accounts"])
def add_user(body: UserIn, user: UserDep, hub: HubDep) -> UserOut:
    accounts.require(user, Role.ADMIN)
    role = Role.parse(body.role)
    committee = accounts.Committee.parse(body.committee) if body.committee else None

    def create(session: Session) -> UserOut:
        new, token = accounts.add_user(
            session, body.name, role, body.organisation, committee=committee, senior=body.senior
        )
        return _out(session, new, token)

    return hub.run(create)


@router.post("/users/{name}/suspend", tags=["accounts"])
def suspend(name: str, user: UserDep, hub: HubDep) -> UserOut:
    """Refuse every token of the user at once, until reinstated."""
    return hub.run(lambda s: _out(s, accounts.suspend(s, user, name)))


@router.post("/users/{name}/reinstate", tags=["accounts"])
def reinstate(name: str, user: UserDep, hub: HubDep) -> UserOut:
    return hub.run(lambda s: _out(s, accounts.reinstate(s, user, name)))


@router.delete("/users/{name}", tags=["accounts"])
def delete_user(name: str, user: UserDep, hub: HubDep) -> UserOut:
    """Delete a user: tokens revoked, removed from every project; the name stays taken."""
    return hub.run(lambda s: _out(s, accounts.delete(s, user, name)))


@router.get("/organisations", tags=["accounts"])
def organisations(user: UserDep, hub: HubDep) -> list[OrganisationOut]:
    """Every organisation with its number of (undeleted) users and nodes."""
    return hub.run(
        lambda s: [
            OrganisationOut(name=o.name, users=o.users, nodes=o.nodes)
            for o in accounts.organisations(s, user)
        ]
    )


def _out(session: Session, user: User, token: str | None = None) -> UserOut:
    return UserOut.of(user, accounts.organisation_of(session, user), token)
