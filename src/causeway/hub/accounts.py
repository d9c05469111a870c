"""Identities: organisations, users with roles (a reviewer's committee, a researcher's
seniority), their life cycle (active, suspended, deleted) and who may do what to whom.

Tokens are :mod:`causeway.hub.tokens`' business, nodes :mod:`causeway.hub.nodes`'.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from causeway.hub import tokens
from causeway.hub.db import ApiToken, NodeRecord, Organisation, Project, User
from causeway.hub.status import UserStatus
from causeway.model.choice import parse_choice
from causeway.model.errors import Conflict, InvalidRequest, NotFound, PermissionDenied

TOKEN_PREFIX = tokens.TOKEN_PREFIX
hash_token = tokens.hash_token
new_token = tokens.new_token

# The organisation of users created without one (the first admin, the hub operator's staff).
HUB_ORGANISATION = "hub"


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


class Committee(StrEnum):
    """The body a reviewer decides for (L2 needs ethics; L3 all three, in this order)."""

    ETHICS = "ethics"
    DATA_CENTER = "data_center"
    DATA_COMMITTEE = "data_committee"

    @classmethod
    def parse(cls, text: str) -> Committee:
        return parse_choice(cls, text, "committee")


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


def organisation_of(session: Session, user: User) -> str:
    found = session.get(Organisation, user.organisation_id)
    return found.name if found else HUB_ORGANISATION


def add_user(
    session: Session,
    name: str,
    role: Role,
    org: str | None,
    *,
    committee: Committee | None = None,
    senior: bool = False,
) -> tuple[User, str]:
    """Create a user in ``org`` (the hub's own organisation if None); the first token is
    returned once and only its hash is stored."""
    if not name.strip():
        raise InvalidRequest("a user needs a name")
    if role is Role.REVIEWER and committee is None:
        raise InvalidRequest(
            "a reviewer sits on a committee: ethics, data_center or data_committee"
        )
    if role is not Role.REVIEWER and committee is not None:
        raise InvalidRequest("only a reviewer sits on a committee")
    if senior and role is not Role.RESEARCHER:
        raise InvalidRequest("only a researcher can be senior")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} exists")
    user = User(
        name=name,
        role=role.value,
        committee=committee.value if committee else None,
        senior=senior,
        organisation_id=organisation(session, org or HUB_ORGANISATION).id,
        status=UserStatus.ACTIVE,
    )
    session.add(user)
    session.flush()
    return user, tokens.issue(session, user, label="first token").secret


def named(session: Session, name: str) -> User:
    """The user called ``name`` (a deleted one too: their name stays taken)."""
    found = session.scalar(select(User).where(User.name == name))
    if found is None:
        raise NotFound(f"no user {name!r}")
    return found


def listed(session: Session, *, deleted: bool = False) -> list[User]:
    query = select(User).order_by(User.name)
    if not deleted:
        query = query.where(User.status != UserStatus.DELETED)
    return list(session.scalars(query))


def authenticate(session: Session, token: str | None) -> User:
    return tokens.authenticate(session, token)


def has_role(user: User, *roles: Role) -> bool:
    return user.role in roles


def require(user: User, *roles: Role) -> None:
    if not has_role(user, *roles):
        allowed = " or ".join(r.value for r in roles)
        raise PermissionDenied(f"this needs the {allowed} role; {user.name} is {user.role}")


def require_self_or_admin(user: User, target: str) -> None:
    """Only ``target`` themselves or an admin (their tokens, say)."""
    if user.name != target and not has_role(user, Role.ADMIN):
        raise PermissionDenied(f"only {target} or an admin may do this")


def suspend(session: Session, actor: User, name: str) -> User:
    """Refuse every token of the user from now on, until an admin reinstates them."""
    require(actor, Role.ADMIN)
    user = named(session, name)
    _refuse_lockout(session, actor, user, "suspend")
    if user.status == UserStatus.DELETED:
        raise Conflict(f"user {name!r} was deleted")
    user.status = UserStatus.SUSPENDED
    return user


def reinstate(session: Session, actor: User, name: str) -> User:
    require(actor, Role.ADMIN)
    user = named(session, name)
    if user.status == UserStatus.DELETED:
        raise Conflict(f"user {name!r} was deleted: a deleted user is never reinstated")
    user.status = UserStatus.ACTIVE
    return user


def delete(session: Session, actor: User, name: str) -> User:
    """Delete a user: every token revoked, gone from every project's members. The record stays
    (their tasks and reviews name them), so the name is never given to someone else."""
    require(actor, Role.ADMIN)
    user = named(session, name)
    _refuse_lockout(session, actor, user, "delete")
    user.status = UserStatus.DELETED
    tokens.revoke_all(session, user)
    for project in session.scalars(select(Project)):
        if name in project.members:
            project.members = [m for m in project.members if m != name]
    return user


def _refuse_lockout(session: Session, actor: User, user: User, verb: str) -> None:
    if user.id == actor.id:
        raise Conflict(f"you cannot {verb} yourself")
    if has_role(user, Role.ADMIN) and user.status == UserStatus.ACTIVE:
        admins = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN, User.status == UserStatus.ACTIVE)
        )
        if (admins or 0) <= 1:
            raise Conflict(f"cannot {verb} the last active admin")


def recover_admin(session: Session, name: str = "admin") -> tuple[User, str]:
    """On the hub's machine, with its database: a new token for the admin ``name`` (reinstated if
    suspended), or a new admin of that name. For the operator who lost every admin token."""
    found = session.scalar(select(User).where(User.name == name))
    if found is None:
        return add_user(session, name, Role.ADMIN, None)
    if found.role != Role.ADMIN or found.status == UserStatus.DELETED:
        raise Conflict(f"user {name!r} is not an admin who can sign in: name another")
    found.status = UserStatus.ACTIVE
    issued = tokens.issue(session, found, label="recovered on the hub's machine")
    return found, issued.secret


@dataclass(frozen=True)
class OrganisationCount:
    """An organisation with its number of (undeleted) users and of nodes."""

    name: str
    users: int
    nodes: int


def organisations(session: Session, actor: User) -> list[OrganisationCount]:
    """Every organisation with its counts (admins and auditors)."""
    require(actor, Role.ADMIN, Role.AUDITOR)
    people = dict(
        session.execute(
            select(User.organisation_id, func.count())
            .where(User.status != UserStatus.DELETED)
            .group_by(User.organisation_id)
        ).all()
    )
    machines = dict(
        session.execute(
            select(NodeRecord.organisation_id, func.count()).group_by(NodeRecord.organisation_id)
        ).all()
    )
    return [
        OrganisationCount(org.name, people.get(org.id, 0), machines.get(org.id, 0))
        for org in session.scalars(select(Organisation).order_by(Organisation.name))
    ]


def revoke_token(session: Session, actor: User, token_id: int) -> tuple[ApiToken, User]:
    """Revoke a token, its owner's or an admin's to revoke (anyone else is told there is no such
    token); returns it with its owner."""
    found = tokens.by_id(session, token_id)
    owner = session.get(User, found.user_id)
    if owner is None or (owner.id != actor.id and not has_role(actor, Role.ADMIN)):
        raise NotFound(f"no token {token_id}")
    return tokens.revoke(found), owner
