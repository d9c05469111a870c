"""Web sessions: signing in with a user name and an API token opens a session, which is a new
short-lived API token of that user (label ``web session``, :data:`SESSION_HOURS` hours) kept in
an HttpOnly, SameSite=Strict cookie scoped to ``/ui``; signing out revokes it. Every check of a
session is the API's check of a token (:func:`causeway.hub.tokens.authenticate`: revoked,
expired, suspended or deleted is refused at once), under the same throttle of failed sign-ins.

Every form that changes something carries ``csrf``: HMAC-SHA256 of the session token under a
key derived (HKDF) from the hub's signing key, so every replica of a hub agrees on it and it
changes with the key. A POST without the right one is refused (403)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from causeway.hub import accounts, tokens
from causeway.hub.db import User
from causeway.hub.deps import HubDep
from causeway.hub.state import HubState
from causeway.model.errors import AuthenticationError, PermissionDenied

COOKIE = "causeway_session"
COOKIE_PATH = "/ui"
SESSION_LABEL = "web session"
SESSION_HOURS = 8
CSRF_FIELD = "csrf"


class SignInNeeded(AuthenticationError):
    """No session, or one the hub refuses: the sign-in page answers."""


class CsrfRefused(PermissionDenied):
    """A form posted without the session's CSRF value (another site's form, or a stale page)."""


@dataclass(frozen=True)
class SignedIn:
    """The user behind a page's session, and the CSRF value its forms carry."""

    user: User
    csrf: str


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def csrf_value(hub: HubState, session_token: str) -> str:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"causeway web csrf v1"
    ).derive(hub.key.private_bytes_raw())
    return hmac.new(key, session_token.encode(), hashlib.sha256).hexdigest()


def sign_in(hub: HubState, client: str, name: str, token: str) -> str:
    """A new session token for the user ``name`` holding ``token``; a failure counts towards
    the client's throttle and the account's (E429 once either has failed too often, whatever it
    sends: guessing one account's token from many addresses is throttled too)."""
    account = f"account:{name.strip().lower()}"
    hub.sign_ins.check(client)
    hub.sign_ins.check(account, what="for this account")

    def open_session(session: Session) -> str:
        user = accounts.authenticate(session, token.strip() or None)
        if user.name != name.strip():
            raise AuthenticationError("the user name and the token do not match")
        issued = tokens.issue(
            session, user, label=SESSION_LABEL, expires_in_days=SESSION_HOURS / 24
        )
        return issued.secret

    try:
        return hub.run(open_session)
    except AuthenticationError:
        hub.sign_ins.failed(client)
        hub.sign_ins.failed(account)
        raise


def sign_out(hub: HubState, session_token: str) -> None:
    def revoke(session: Session) -> None:
        found = tokens.by_secret(session, session_token)
        if found is not None:
            tokens.revoke(found)

    hub.run(revoke)


def set_cookie(response: Response, request: Request, session_token: str) -> None:
    response.set_cookie(
        COOKIE,
        session_token,
        max_age=SESSION_HOURS * 3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def signed_in(request: Request, hub: HubDep) -> SignedIn:
    """The page's user, from the session cookie (checked as an API token is)."""
    client = client_of(request)
    hub.sign_ins.check(client)
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInNeeded("sign in to use the hub's pages")
    try:
        user = hub.run(lambda s: accounts.authenticate(s, token))
    except AuthenticationError as exc:
        hub.sign_ins.failed(client)
        raise SignInNeeded(f"your session has ended ({exc.detail}): sign in again") from None
    viewer = SignedIn(user, csrf_value(hub, token))
    request.state.viewer = viewer
    return viewer


SignedInDep = Annotated[SignedIn, Depends(signed_in)]


@dataclass(frozen=True)
class Upload:
    """A file posted with a form (``multipart/form-data``)."""

    name: str
    media_type: str
    content: bytes


@dataclass(frozen=True)
class Form:
    """A posted form's fields (``fields``: the last value of a repeated field; ``every``: all of
    them) and its files."""

    fields: dict[str, str]
    every: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)

    def text(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default).strip()

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def all(self, name: str) -> list[str]:
        """Every non-empty value of a repeated field (checkboxes), in order."""
        return [v.strip() for v in self.every.get(name, []) if v.strip()]

    def file(self, name: str) -> Upload | None:
        """The file posted as ``name`` (None when none was chosen)."""
        return self.files.get(name)


MAX_FORM_FILES = 1
MAX_FORM_FIELDS = 200


async def read_form(request: Request) -> Form:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await _read_multipart(request)
    body = await request.body()
    pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    every: dict[str, list[str]] = {}
    for key, value in pairs:
        every.setdefault(key, []).append(value)
    return Form(dict(pairs), every)


async def _read_multipart(request: Request) -> Form:
    posted = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
    fields: dict[str, str] = {}
    every: dict[str, list[str]] = {}
    files: dict[str, Upload] = {}
    for key, value in posted.multi_items():
        if isinstance(value, str):
            fields[key] = value
            every.setdefault(key, []).append(value)
        elif value.filename:  # an empty file input posts a part with no name
            content = await value.read()
            media_type = value.content_type or "application/octet-stream"
            files[key] = Upload(value.filename, media_type, content)
    await posted.close()
    return Form(fields, every, files)


async def posted(request: Request, viewer: SignedInDep) -> Form:
    """A form posted in the session, with its CSRF value checked."""
    form = await read_form(request)
    if not hmac.compare_digest(form.text(CSRF_FIELD), viewer.csrf):
        raise CsrfRefused(
            "this form did not come from a page of this session (its security check is missing "
            "or out of date): reload the page and send it again; nothing was changed"
        )
    return form


PostedDep = Annotated[Form, Depends(posted)]
