"""Identities: organisations, users with roles and bearer tokens (stored only as hashes), nodes."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from causeway.crypto.keys import load_public
from causeway.crypto.requests import SignedHeaders, verify_request
from causeway.hub.db import NodeRecord, Nonce, Organisation, User, utcnow
from causeway.model.choice import parse_choice
from causeway.model.errors import (
    AuthenticationError,
    Conflict,
    InvalidRequest,
    PermissionDenied,
    ReplayError,
    SignatureError,
)

TOKEN_PREFIX = "cw_"


class Role(StrEnum):
    ADMIN = "admin"
    STEWARD = "steward"
    RESEARCHER = "researcher"
    REVIEWER = "reviewer"
    OUTPUT_CHECKER = "output_checker"
    AUDITOR = "auditor"

    @classmethod
    def parse(cls, text: str) -> Role:
        return parse_choice(cls, text, "role")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def organisation(session: Session, name: str) -> Organisation:
    """The organisation with this name, created on first use."""
    if not name.strip():
        raise InvalidRequest("an organisation needs a name")
    found = session.scalar(select(Organisation).where(Organisation.name == name))
    if found is None:
        found = Organisation(name=name)
        session.add(found)
        session.flush()
    return found


def add_user(session: Session, name: str, role: Role, org: str | None) -> tuple[User, str]:
    """Create a user; the token is returned once and only its hash is stored."""
    if not name.strip():
        raise InvalidRequest("a user needs a name")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} exists")
    token = new_token()
    org_id = organisation(session, org).id if org else None
    user = User(name=name, role=role.value, organisation_id=org_id, token_hash=hash_token(token))
    session.add(user)
    session.flush()
    return user, token


def authenticate(session: Session, token: str | None) -> User:
    if not token:
        raise AuthenticationError("send a bearer token (Authorization: Bearer cw_...)")
    user = session.scalar(select(User).where(User.token_hash == hash_token(token)))
    if user is None or not user.active:
        raise AuthenticationError("the token is not valid")
    return user


def has_role(user: User, *roles: Role) -> bool:
    return user.role in roles


def require(user: User, *roles: Role) -> None:
    if not has_role(user, *roles):
        allowed = " or ".join(r.value for r in roles)
        raise PermissionDenied(f"this needs the {allowed} role; {user.name} is {user.role}")


def enrol_node(session: Session, name: str, org: str, public_key: str) -> NodeRecord:
    load_public(public_key)
    if not name or not name.replace("-", "_").replace("_", "a").isalnum():
        raise InvalidRequest(f"node name {name!r}: use letters, digits, - and _")
    if session.scalar(select(NodeRecord).where(NodeRecord.name == name)) is not None:
        raise Conflict(f"a node named {name!r} is enrolled")
    node = NodeRecord(
        name=name, organisation_id=organisation(session, org).id, public_key=public_key
    )
    session.add(node)
    session.flush()
    return node


def enrol_node_for(
    session: Session, user: User, name: str, org: str, public_key: str
) -> NodeRecord:
    """Enrol a node as ``user``: an admin for any organisation, a steward for their own."""
    require(user, Role.ADMIN, Role.STEWARD)
    if has_role(user, Role.STEWARD):
        own = session.get(Organisation, user.organisation_id or -1)
        if own is None or own.name != org:
            raise PermissionDenied("a steward enrols nodes of their own organisation")
    return enrol_node(session, name, org, public_key)


def authenticate_node(
    session: Session, signed: SignedHeaders, method: str, target: str, body: bytes
) -> NodeRecord:
    """The enrolled node whose key signed this request; refuses a bad signature or a replay. The
    nonce is recorded in the caller's transaction, with the work the request authorises."""
    node = session.scalar(select(NodeRecord).where(NodeRecord.name == signed.node))
    if node is None or not node.active:
        raise SignatureError(f"no enrolled node {signed.node!r}")
    verify_request(load_public(node.public_key), signed, method, target, body)
    session.add(Nonce(node_id=node.id, nonce=signed.nonce, seen_at=signed.timestamp))
    try:
        session.flush()
    except IntegrityError:
        raise ReplayError("this request was seen before") from None
    node.last_seen = utcnow()
    return node


def forget_nonces(session: Session, before: float) -> None:
    """Drop nonces older than ``before`` (requests that old are refused by their timestamp)."""
    session.execute(delete(Nonce).where(Nonce.seen_at < before))
