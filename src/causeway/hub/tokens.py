"""Bearer tokens: many per user, each stored only as a hash with a short prefix to recognise it
by, with an optional expiry, its last use, and its revocation.

A token is refused (E201, saying why) once it is revoked or expired, or its user is suspended or
deleted; the check happens on every request, so a revocation or a suspension takes effect at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from causeway.hub.db import ApiToken, User, utcnow
from causeway.hub.status import UserStatus
from causeway.model.errors import AuthenticationError, InvalidRequest, NotFound

TOKEN_PREFIX = "cw_"
SHOWN_PREFIX = 10  # characters of a token kept in clear to recognise it by ("cw_" and 7 more)
MAX_DAYS = 3650.0
# A token's last use is written at most this often (a write on every request would serialise
# SQLite for nothing).
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Issued:
    """A token just issued: the secret is shown this once."""

    record: ApiToken
    secret: str


def issue(
    session: Session, user: User, *, label: str = "", expires_in_days: float | None = None
) -> Issued:
    """A new token for ``user``; ``expires_in_days`` None means it never expires."""
    expires_at = None
    if expires_in_days is not None:
        if not 0 < expires_in_days <= MAX_DAYS:
            raise InvalidRequest(f"a token expires after more than 0 and at most {MAX_DAYS:g} days")
        expires_at = utcnow() + dt.timedelta(days=expires_in_days)
    secret = new_token()
    record = ApiToken(
        user_id=user.id,
        token_hash=hash_token(secret),
        prefix=secret[:SHOWN_PREFIX],
        label=label.strip()[:200],
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(record)
    session.flush()
    return Issued(record, secret)


def of_user(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
    )


def by_id(session: Session, token_id: int) -> ApiToken:
    found = session.get(ApiToken, token_id)
    if found is None:
        raise NotFound(f"no token {token_id}")
    return found


def by_secret(session: Session, secret: str) -> ApiToken | None:
    """The token whose secret this is (looked up by its hash), if any."""
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))


def revoke(token: ApiToken) -> ApiToken:
    """Refuse the token from now on (revoking it twice keeps the first time)."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def revoke_all(session: Session, user: User) -> None:
    """Revoke every token of ``user`` (each one a change of record)."""
    now = utcnow()
    for token in session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = now


def state(token: ApiToken, now: dt.datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


NO_TOKEN = "send a bearer token (Authorization: Bearer cw_...)"


def authenticate(session: Session, token: str | None) -> User:
    """The user behind ``token``, or E201 saying why not."""
    if not token:
        raise AuthenticationError(NO_TOKEN)
    found = by_secret(session, token)
    if found is None:
        raise AuthenticationError("the token is not valid")
    user = session.get(User, found.user_id)
    if user is None or user.status == UserStatus.DELETED:
        raise AuthenticationError("the token is not valid (its user was deleted)")
    now = utcnow()
    shown = f"{found.prefix}…"
    if found.revoked_at is not None:
        raise AuthenticationError(
            f"token {shown} was revoked on {_when(found.revoked_at)}: ask for a new one"
        )
    if found.expires_at is not None and found.expires_at <= now:
        raise AuthenticationError(
            f"token {shown} expired on {_when(found.expires_at)}: issue a new one"
        )
    if user.status == UserStatus.SUSPENDED:
        raise AuthenticationError(f"user {user.name} is suspended: an admin may reinstate them")
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
        found.last_used_at = now
    return user


def _when(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds") + " UTC"
