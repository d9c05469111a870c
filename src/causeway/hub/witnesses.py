"""What the hub serves its witness nodes (:mod:`causeway.node.witness`): the entries that concern a
node with their inclusion proofs, proofs for the entries it kept, and the other witnesses' latest
co-signed heads. The node checks every answer; nothing here is trusted by it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from causeway.hub import ledger
from causeway.hub.db import (
    ApplicationReview,
    AssignmentRecord,
    BudgetRecord,
    DatasetRecord,
    LedgerCosignature,
    LedgerEntry,
    LedgerHead,
    NodeRecord,
    Project,
)
from causeway.model import merkle
from causeway.model.concerns import RowKey, concerns, entry_row, row_key
from causeway.model.errors import InvalidRequest, NotFound

MAX_ABOUT = 500  # entries about a node per answer
MAX_SCAN = 20_000  # entries read per answer (the node asks again from where it stopped)
MAX_PROOFS = 100  # inclusion proofs per answer
_BATCH = 2_000


def tree_size(session: Session, size: int | None) -> int:
    """The size a witness asks about (default: the log's current one), which the hub must have."""
    current = ledger.size(session)
    if size is None:
        return current
    if not 0 <= size <= current:
        raise NotFound(f"the log has no tree of size {size}")
    return size


def known_rows(session: Session, node: NodeRecord) -> set[RowKey]:
    """The rows that concern ``node`` now: updates to them name no node, so the hub looks here."""
    known = {row_key("nodes", {"id": node.id})}
    for model in (DatasetRecord, AssignmentRecord, BudgetRecord, ApplicationReview):
        table = model.__tablename__
        for row_id in session.scalars(select(model.id).where(model.node_id == node.id)):
            known.add(row_key(table, {"id": row_id}))
    for project_id, sites in session.execute(select(Project.id, Project.sites)):
        if isinstance(sites, list) and node.name in sites:
            known.add(row_key("projects", {"id": project_id}))
    return known


def about(
    session: Session,
    node: NodeRecord,
    after: int,
    size: int,
    *,
    limit: int = MAX_ABOUT,
    scan: int = MAX_SCAN,
) -> dict[str, Any]:
    """The entries with an index above ``after`` (and below ``size``) that concern ``node``, each
    with its inclusion proof in the tree of ``size`` entries. ``through`` says how far the hub
    read: the node asks again with ``after=through`` until it reaches ``size - 1``."""
    if after < -1:
        raise InvalidRequest("about: after >= -1")
    known = known_rows(session, node)
    subtree = ledger.subtree_of(session)
    found: list[dict[str, Any]] = []
    through = after
    start = after + 1
    end = min(size, start + scan)
    while start < end and len(found) < limit:
        rows = session.execute(
            select(LedgerEntry.index, LedgerEntry.entry)
            .where(LedgerEntry.index >= start, LedgerEntry.index < min(end, start + _BATCH))
            .order_by(LedgerEntry.index)
        ).all()
        if not rows:
            break
        for index, text in rows:
            through = int(index)
            body = json.loads(text)
            if isinstance(body, dict) and concerns(body, node.id, node.name, known):
                row = entry_row(body)
                if row is not None:
                    known.add(row)
                proof = merkle.inclusion_proof(through, size, subtree)
                found.append(
                    {"index": through, "entry": str(text), "proof": [h.hex() for h in proof]}
                )
                if len(found) >= limit:
                    break
        start = through + 1
    if len(found) < limit and start >= end:
        through = max(after, end - 1)
    return {"size": size, "through": through, "entries": found}


def proofs(session: Session, indices: list[int], size: int) -> list[dict[str, Any]]:
    """Inclusion proofs of entries ``indices`` in the tree of ``size`` entries."""
    if len(indices) > MAX_PROOFS:
        raise InvalidRequest(f"at most {MAX_PROOFS} proofs per request")
    return [
        {"index": i, "proof": [h.hex() for h in ledger.inclusion(session, i, size)]}
        for i in indices
    ]


def latest_cosignatures(session: Session, node: NodeRecord) -> list[dict[str, Any]]:
    """The latest head each other witness co-signed, with the hub's timestamp of that head (which
    the co-signature covers)."""
    latest = (
        select(LedgerCosignature.node_id, func.max(LedgerCosignature.size).label("size"))
        .where(LedgerCosignature.node_id != node.id)
        .group_by(LedgerCosignature.node_id)
        .subquery()
    )
    rows = session.execute(
        select(LedgerCosignature, NodeRecord.name, LedgerHead.timestamp)
        .join(
            latest,
            (latest.c.node_id == LedgerCosignature.node_id)
            & (latest.c.size == LedgerCosignature.size),
        )
        .join(NodeRecord, NodeRecord.id == LedgerCosignature.node_id)
        .outerjoin(
            LedgerHead,
            (LedgerHead.size == LedgerCosignature.size)
            & (LedgerHead.root == LedgerCosignature.root),
        )
        .order_by(NodeRecord.name)
    )
    return [
        {
            "node": name,
            "size": c.size,
            "root": c.root,
            "timestamp": timestamp,
            "signature": c.signature,
        }
        for c, name, timestamp in rows
    ]
