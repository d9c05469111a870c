"""What a route asks FastAPI for: the hub's state, the user behind a bearer token, a node's
signed request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from causeway.crypto.requests import MAX_SKEW_SECONDS, SignedHeaders, read_headers
from causeway.hub import accounts, nodes, tokens
from causeway.hub.db import NodeRecord, User
from causeway.hub.state import HubState
from causeway.model.errors import AuthenticationError

NONCE_PRUNE_SECONDS = 60.0


def hub_state(request: Request) -> HubState:
    hub: HubState = request.app.state.hub
    return hub


HubDep = Annotated[HubState, Depends(hub_state)]


def current_user(
    request: Request, hub: HubDep, authorization: Annotated[str | None, Header()] = None
) -> User:
    """The user behind the bearer token; a client that failed too often is refused (E429) before
    its token is even looked at."""
    return hub.run(_bearer(request, hub, authorization).authenticate)


UserDep = Annotated[User, Depends(current_user)]


@dataclass(frozen=True)
class Bearer:
    """A request's bearer token, checked in the route's own transaction (:meth:`authenticate`)
    instead of one of its own: for the routes on a researcher's hot path (asking for a task)."""

    hub: HubState
    client: str
    token: str | None

    def authenticate(self, session: Session) -> User:
        """The user behind the token (as :func:`current_user` checks it)."""
        try:
            return accounts.authenticate(session, self.token)
        except AuthenticationError:
            self.hub.sign_ins.failed(self.client)
            raise


def bearer(
    request: Request, hub: HubDep, authorization: Annotated[str | None, Header()] = None
) -> Bearer:
    """The bearer token, to check later; a client that failed too often is refused (E429), and a
    request with no token at all (E201), at once."""
    found = _bearer(request, hub, authorization)
    if not found.token:  # (as current_user refuses it, with nothing to read)
        hub.sign_ins.failed(found.client)
        raise AuthenticationError(tokens.NO_TOKEN)
    return found


def _bearer(request: Request, hub: HubState, authorization: str | None) -> Bearer:
    """The request's client and bearer token (None without one), once the client is checked
    against its failed sign-ins (E429)."""
    client = request.client.host if request.client else "?"
    hub.sign_ins.check(client)
    token = None
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    return Bearer(hub, client, token)


BearerDep = Annotated[Bearer, Depends(bearer)]


@dataclass(frozen=True)
class NodeRequest:
    """A request claiming to come from a node, checked inside the handler's own transaction
    (one transaction per request: the nonce is recorded with the work it authorises)."""

    hub: HubState
    signed: SignedHeaders
    method: str
    target: str
    body: bytes

    @property
    def topic(self) -> str:
        """What wakes this node's long poll."""
        return f"node:{self.signed.node}"

    def authenticate(self, session: Session) -> NodeRecord:
        """The enrolled node whose key signed this request; refuses a bad signature or a replay."""
        node = nodes.authenticate_node(session, self.signed, self.method, self.target, self.body)
        self._prune(session)
        return node

    def identify(self, session: Session) -> nodes.SignedNode:
        """:meth:`authenticate` without loading the node's record: its id and name (the same
        checks; for the routes every assignment goes through)."""
        node = nodes.identify_node(session, self.signed, self.method, self.target, self.body)
        self._prune(session)
        return node

    def _prune(self, session: Session) -> None:
        now = time.time()
        if now - self.hub.nonces_pruned_at > NONCE_PRUNE_SECONDS:
            self.hub.nonces_pruned_at = now
            nodes.forget_nonces(session, now - 2 * MAX_SKEW_SECONDS)


async def node_request(request: Request, hub: HubDep) -> NodeRequest:
    body = await request.body()
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return NodeRequest(hub, read_headers(request.headers), request.method, target, body)


NodeDep = Annotated[NodeRequest, Depends(node_request)]
