"""For the operator's tools: liveness and readiness probes (open, revealing nothing), and the
metrics in Prometheus's text format (an admin's or auditor's token, or the hub's scrape token)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from causeway.hub import accounts, health, metrics
from causeway.hub.deps import HubDep, current_user
from causeway.hub.state import HubState
from causeway.model.errors import Unavailable

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers (on the event loop, touching nothing else)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(hub: HubDep) -> dict[str, str]:
    """Readiness: the database answers and its schema is current (E503 otherwise, or while the
    hub shuts down)."""
    if hub.closing:
        raise Unavailable("the hub is shutting down")
    reason = health.not_ready(hub.engine)
    if reason is not None:
        raise Unavailable(reason)
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
def scrape(
    request: Request, hub: HubDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Every metric in Prometheus's text format, for the hub's scrape token or an admin or
    auditor."""
    _authorise(request, hub, authorization)
    return Response(hub.metrics.exposition(), media_type=metrics.CONTENT_TYPE)


def _authorise(request: Request, hub: HubState, authorization: str | None) -> None:
    if hub.metrics_token is not None and authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), hub.metrics_token.encode()
        ):
            hub.sign_ins.check(request.client.host if request.client else "?")
            return
    user = current_user(request, hub, authorization)  # a failed sign-in counts towards throttling
    accounts.require(user, accounts.Role.ADMIN, accounts.Role.AUDITOR)
