"""Nodes as people manage them: enrol (an admin, or a steward for their own organisation), list,
give a new key (re-enrol) and retire. What nodes themselves ask is :mod:`.node`."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from causeway.hub import nodes
from causeway.hub.db import NodeRecord
from causeway.hub.deps import HubDep, UserDep
from causeway.hub.schemas import NodeIn, NodeInfo, NodeKeyIn, NodeOut

router = APIRouter(prefix="/api/nodes", tags=["nodes"])


@router.post("", status_code=201)
def enrol(body: NodeIn, user: UserDep, hub: HubDep) -> NodeOut:
    node = hub.run(
        lambda s: nodes.enrol_node_for(s, user, body.name, body.organisation, body.public_key)
    )
    return NodeOut.of(node, body.organisation, hub.public_key)


@router.get("")
def listed(user: UserDep, hub: HubDep) -> list[NodeInfo]:
    """The nodes you may see (all for admins and auditors, your organisation's for a steward),
    with their state, key changes and last contact."""
    return hub.run(lambda s: [NodeInfo.of(n, org) for n, org in nodes.listed_for(s, user)])


@router.put("/{name}/key")
def change_key(name: str, body: NodeKeyIn, user: UserDep, hub: HubDep) -> NodeOut:
    """A new signing key for the node (rotation, or a lost key); re-enrols a retired node."""

    def run(session: Session) -> NodeOut:
        node = nodes.change_key(session, user, name, body.public_key)
        return NodeOut.of(node, nodes.organisation_name(session, node), hub.public_key)

    out = hub.run(run)
    hub.notifier.notify(f"node:{name}")  # end a long poll held with the old key
    return out


@router.post("/{name}/retire")
def retire(name: str, user: UserDep, hub: HubDep) -> NodeInfo:
    """Retire the node: its requests are refused, it gets no work, its datasets leave the
    catalog."""
    out = hub.run(lambda s: _info(s, nodes.retire(s, user, name)))
    hub.notifier.notify(f"node:{name}")
    return out


def _info(session: Session, node: NodeRecord) -> NodeInfo:
    return NodeInfo.of(node, nodes.organisation_name(session, node))
