"""People and nodes: who am I, add a user, enrol a node (and the hub's health)."""

from __future__ import annotations

from fastapi import APIRouter

from causeway.hub import accounts
from causeway.hub.deps import HubDep, UserDep
from causeway.hub.schemas import NodeIn, NodeOut, UserIn, UserOut

router = APIRouter(prefix="/api")


@router.get("/health", tags=["hub"])
def health(hub: HubDep) -> dict[str, str]:
    return {"status": "ok", "public_key": hub.public_key}


@router.get("/me", tags=["accounts"])
def me(user: UserDep) -> UserOut:
    return UserOut.of(user)


@router.post("/users", status_code=201, tags=["accounts"])
def add_user(body: UserIn, user: UserDep, hub: HubDep) -> UserOut:
    accounts.require(user, accounts.Role.ADMIN)
    role = accounts.Role.parse(body.role)
    new, token = hub.run(lambda s: accounts.add_user(s, body.name, role, body.organisation))
    return UserOut.of(new, body.organisation, token)


@router.post("/nodes", status_code=201, tags=["nodes"])
def enrol(body: NodeIn, user: UserDep, hub: HubDep) -> NodeOut:
    node = hub.run(
        lambda s: accounts.enrol_node_for(s, user, body.name, body.organisation, body.public_key)
    )
    return NodeOut.of(node, body.organisation, hub.public_key)
