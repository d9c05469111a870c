"""API tokens: a user (or an admin for them) issues more, lists them (never the secret) and
revokes one."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from causeway.hub import accounts, tokens
from causeway.hub.db import User
from causeway.hub.deps import HubDep, UserDep
from causeway.hub.schemas import TokenIn, TokenOut
from causeway.model.errors import Conflict

router = APIRouter(prefix="/api", tags=["tokens"])


@router.get("/users/{name}/tokens")
def tokens_of(name: str, user: UserDep, hub: HubDep) -> list[TokenOut]:
    """A user's tokens (theirs or an admin's to see): id, prefix, label, dates, state."""
    accounts.require_self_or_admin(user, name)

    def read(session: Session) -> list[TokenOut]:
        owner = accounts.named(session, name)
        return [TokenOut.of(t, owner.name) for t in tokens.of_user(session, owner)]

    return hub.run(read)


@router.post("/users/{name}/tokens", status_code=201)
def issue(name: str, body: TokenIn, user: UserDep, hub: HubDep) -> TokenOut:
    """Another token for the user, expiring after ``expires_in_days`` (null: never); the secret
    is in this answer only."""
    accounts.require_self_or_admin(user, name)

    def create(session: Session) -> TokenOut:
        owner = _usable(accounts.named(session, name))
        issued = tokens.issue(
            session, owner, label=body.label, expires_in_days=body.expires_in_days
        )
        return TokenOut.of(issued.record, owner.name, issued.secret)

    return hub.run(create)


@router.delete("/tokens/{token_id}")
def revoke(token_id: int, user: UserDep, hub: HubDep) -> TokenOut:
    """Revoke a token (its owner's or an admin's to revoke): refused from the next request on."""

    def run(session: Session) -> TokenOut:
        found, owner = accounts.revoke_token(session, user, token_id)
        return TokenOut.of(found, owner.name)

    return hub.run(run)


def _usable(user: User) -> User:
    if user.status != "active":
        raise Conflict(f"user {user.name} is {user.status}: no new token for them")
    return user
