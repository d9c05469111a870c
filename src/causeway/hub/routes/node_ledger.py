"""The ledger as a witness node sees it: every request signed by the node's key. A node fetches the
latest signed head, proves it consistent with the last one it accepted, fetches the entries about
itself with their inclusion proofs, checks the other witnesses' co-signed heads and co-signs (see
:mod:`causeway.node.witness`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from causeway.hub import ledger, witnesses
from causeway.hub.deps import NodeDep
from causeway.hub.schemas import CosignatureIn

router = APIRouter(prefix="/api/node/ledger", tags=["node"])


@router.get("/head")
def head(node: NodeDep) -> dict[str, Any]:
    """The log's latest signed tree head."""

    def signed(session: Session) -> dict[str, Any]:
        node.authenticate(session)
        return ledger.head(session, node.hub.key).to_json()

    return node.hub.run(signed)


@router.get("/consistency")
def consistency(node: NodeDep, old: int, new: int) -> dict[str, Any]:
    """The proof that the tree of ``new`` entries extends the tree of ``old`` (RFC 9162 2.1.4)."""

    def proof(session: Session) -> list[bytes]:
        node.authenticate(session)
        return ledger.consistency(session, old, new)

    return {"old": old, "new": new, "proof": [h.hex() for h in node.hub.run(proof)]}


@router.get("/about")
def about(node: NodeDep, after: int = -1, size: int | None = None) -> dict[str, Any]:
    """The entries above index ``after`` that concern this node (see
    :mod:`causeway.model.concerns`), each with its inclusion proof in the tree of ``size`` entries
    (default: the current one); ask again from ``through`` until it reaches ``size - 1``."""
    sender = node.hub.run(node.authenticate)
    # The scan reads many entries: beside the writers, not holding up the nodes' answers.
    return node.hub.read(lambda s: witnesses.about(s, sender, after, witnesses.tree_size(s, size)))


@router.get("/inclusion")
def inclusion(
    node: NodeDep, size: int, index: Annotated[list[int] | None, Query()] = None
) -> dict[str, Any]:
    """Inclusion proofs of entries ``index`` (repeat; at most 100) in the tree of ``size``."""

    def found(session: Session) -> list[dict[str, Any]]:
        node.authenticate(session)
        return witnesses.proofs(session, list(index or []), size)

    return {"size": size, "proofs": node.hub.run(found)}


@router.get("/cosignatures")
def cosignatures(node: NodeDep) -> list[dict[str, Any]]:
    """The latest head every other witness co-signed (size, root, the hub's timestamp of it, the
    witness's signature)."""

    def found(session: Session) -> list[dict[str, Any]]:
        return witnesses.latest_cosignatures(session, node.authenticate(session))

    return node.hub.run(found)


@router.post("/cosignatures")
def cosign(body: CosignatureIn, node: NodeDep) -> dict[str, Any]:
    """This node's co-signature of a head the hub signed (checked against the node's key)."""

    def kept(session: Session) -> dict[str, Any]:
        sender = node.authenticate(session)
        found = ledger.cosign(session, sender, body.size, body.root, body.signature)
        return {"size": found.size, "root": found.root}

    return node.hub.run(kept)
