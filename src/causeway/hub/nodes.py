"""Nodes: enrolment (an admin for any organisation, a steward for their own), a new signing key
(re-enrolment), retirement, and checking a node's signed request.

A retired node is refused at once: its signed requests (it can neither poll for work nor answer
an assignment it holds), the catalog (its datasets stop counting) and the broker (it is given no
work; a task that needs it fails as "left during the task").
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from causeway.crypto.keys import load_public
from causeway.crypto.requests import SignedHeaders, verify_request
from causeway.hub.accounts import Role, has_role, organisation, require
from causeway.hub.db import AssignmentRecord, Base, NodeRecord, Nonce, Organisation, User, utcnow
from causeway.hub.status import AssignmentStatus
from causeway.model.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ReplayError,
    SignatureError,
)


def enrol_node(session: Session, name: str, org: str, public_key: str) -> NodeRecord:
    load_public(public_key)
    if not name or not name.replace("-", "_").replace("_", "a").isalnum():
        raise InvalidRequest(f"node name {name!r}: use letters, digits, - and _")
    found = session.scalar(select(NodeRecord).where(NodeRecord.name == name))
    if found is not None:
        hint = f" (retired: re-enrol it with PUT /api/nodes/{name}/key)" if not found.active else ""
        raise Conflict(f"a node named {name!r} is enrolled{hint}")
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
        own = session.get(Organisation, user.organisation_id)
        if own is None or own.name != org:
            raise PermissionDenied("a steward enrols nodes of their own organisation")
    return enrol_node(session, name, org, public_key)


def listed_for(session: Session, user: User) -> list[tuple[NodeRecord, str]]:
    """The nodes ``user`` may see, with their organisation: all for an admin or auditor, their
    own organisation's for a steward."""
    require(user, Role.ADMIN, Role.AUDITOR, Role.STEWARD)
    query = (
        select(NodeRecord, Organisation.name)
        .join(Organisation, NodeRecord.organisation_id == Organisation.id)
        .order_by(NodeRecord.name)
    )
    if has_role(user, Role.STEWARD):
        query = query.where(NodeRecord.organisation_id == user.organisation_id)
    return [(node, org) for node, org in session.execute(query).all()]


def managed(session: Session, user: User, name: str) -> NodeRecord:
    """The node ``name``, for an admin or a steward of the node's own organisation."""
    require(user, Role.ADMIN, Role.STEWARD)
    node = session.scalar(select(NodeRecord).where(NodeRecord.name == name))
    if node is None:
        raise NotFound(f"no enrolled node {name!r}")
    if has_role(user, Role.STEWARD) and node.organisation_id != user.organisation_id:
        raise PermissionDenied("a steward manages the nodes of their own organisation only")
    return node


def change_key(session: Session, user: User, name: str, public_key: str) -> NodeRecord:
    """Give the node a new signing key (a rotation, or a lost key): requests signed with the old
    one are refused from now on. A retired node is re-enrolled. The aggregation key it announced
    was signed with the old key, so it is dropped: the node announces a new one when it starts."""
    load_public(public_key)
    node = managed(session, user, name)
    node.public_key = public_key
    node.key_changed_at = utcnow()
    node.agg_key = node.agg_key_signature = None
    node.agg_key_version = None
    node.active, node.retired_at = True, None
    return node


def retire(session: Session, user: User, name: str) -> NodeRecord:
    node = managed(session, user, name)
    if node.active:
        node.active, node.retired_at = False, utcnow()
    return node


def failures(session: Session, user: User, since: dt.datetime) -> dict[str, int]:
    """How many assignments each node answered with an error (a refusal, a failed computation)
    since ``since``, for the nodes ``user`` may see; a node with none is not listed."""
    visible = [node.id for node, _org in listed_for(session, user)]
    rows = session.execute(
        select(NodeRecord.name, func.count())
        .join(AssignmentRecord, AssignmentRecord.node_id == NodeRecord.id)
        .where(
            NodeRecord.id.in_(visible),
            AssignmentRecord.status == AssignmentStatus.FAILED,
            AssignmentRecord.created_at >= since,
        )
        .group_by(NodeRecord.name)
    ).all()
    return {name: int(count) for name, count in rows}


def organisation_name(session: Session, node: NodeRecord) -> str:
    found = session.get(Organisation, node.organisation_id)
    return found.name if found else "?"


def authenticate_node(
    session: Session, signed: SignedHeaders, method: str, target: str, body: bytes
) -> NodeRecord:
    """The enrolled node whose key signed this request; refuses a bad signature, a replay or a
    retired node. The nonce is recorded in the caller's transaction, with the work the request
    authorises."""
    found = identify_node(session, signed, method, target, body)
    node = session.get(NodeRecord, found.id)
    if node is None:  # the node's row was read in this same transaction
        raise SignatureError(f"no enrolled node {signed.node!r}")
    return node


@dataclass(frozen=True)
class SignedNode:
    """The node behind a signed request, as the hot routes (a node's answer, its poll) need it:
    its id and name, without loading its record."""

    id: int
    name: str


_NODES = Base.metadata.tables["nodes"]
_SIGNER = select(_NODES.c.id, _NODES.c.name, _NODES.c.public_key, _NODES.c.active).where(
    _NODES.c.name == bindparam("name")
)
_ADD_NONCE = insert(Base.metadata.tables["nonces"])
_SEEN = update(_NODES).where(_NODES.c.id == bindparam("node")).values(last_seen=bindparam("now"))


def identify_node(
    session: Session, signed: SignedHeaders, method: str, target: str, body: bytes
) -> SignedNode:
    """:func:`authenticate_node` in three statements (the node's key, the nonce, when it was
    seen), for the routes every assignment goes through. The same checks, in the same order."""
    connection = session.connection()
    row = connection.execute(_SIGNER, {"name": signed.node}).one_or_none()
    if row is None:
        raise SignatureError(f"no enrolled node {signed.node!r}")
    verify_request(_public(row.public_key), signed, method, target, body)
    if not row.active:  # said only to the holder of the node's key
        raise PermissionDenied(f"node {row.name!r} is retired: an admin or steward may re-enrol it")
    try:
        connection.execute(
            _ADD_NONCE, {"node_id": row.id, "nonce": signed.nonce, "seen_at": signed.timestamp}
        )
    except IntegrityError:
        raise ReplayError("this request was seen before") from None
    connection.execute(_SEEN, {"node": row.id, "now": utcnow()})
    return SignedNode(int(row.id), str(row.name))


@functools.lru_cache(maxsize=4096)
def _public(text: str) -> Ed25519PublicKey:
    """A node's public key from its stored text (cached by the text itself, so a new key is
    never answered by an old one)."""
    return load_public(text)


def forget_nonces(session: Session, before: float) -> None:
    """Drop nonces older than ``before`` (requests that old are refused by their timestamp)."""
    session.execute(delete(Nonce).where(Nonce.seen_at < before))
