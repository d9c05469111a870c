"""The transparency log: signed tree heads, entries, inclusion and consistency proofs, and the
witnesses' co-signatures. Heads and proofs reveal nothing but hashes (anyone signed in); the
entries themselves are for admins and auditors (and, about themselves, for nodes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from causeway.hub import accounts, ledger
from causeway.hub.deps import HubDep, UserDep

router = APIRouter(prefix="/api/ledger", tags=["ledger"])


@router.get("/head")
def head(user: UserDep, hub: HubDep) -> dict[str, Any]:
    """The log's latest signed tree head (size, root, time, the hub's signature and key)."""
    return hub.run(lambda s: ledger.head(s, hub.key).to_json())


@router.get("/heads")
def heads(user: UserDep, hub: HubDep, after: int = -1) -> list[dict[str, Any]]:
    """Every head the hub signed, of a size above ``after``."""
    return hub.run(lambda s: [h.to_json() for h in ledger.heads(s, after)])


@router.get("/cosignatures")
def cosignatures(user: UserDep, hub: HubDep, after: int = -1) -> list[dict[str, Any]]:
    """The witnesses' co-signatures of heads of a size above ``after``."""
    return hub.run(lambda s: ledger.cosignatures(s, after))


@router.get("/entries")
def entries(user: UserDep, hub: HubDep, start: int = 0, end: int = 1000) -> list[dict[str, Any]]:
    """Entries [start, end), at most 1000 per page, as their exact canonical JSON text."""
    accounts.require(user, accounts.Role.ADMIN, accounts.Role.AUDITOR)
    return hub.run(lambda s: [{"index": i, "entry": e} for i, e in ledger.entries(s, start, end)])


@router.get("/proof/inclusion")
def inclusion(user: UserDep, hub: HubDep, index: int, size: int) -> dict[str, Any]:
    """The audit path of entry ``index`` in the tree of ``size`` entries (RFC 9162 2.1.3)."""
    proof = hub.run(lambda s: ledger.inclusion(s, index, size))
    return {"index": index, "size": size, "proof": [h.hex() for h in proof]}


@router.get("/proof/consistency")
def consistency(user: UserDep, hub: HubDep, old: int, new: int) -> dict[str, Any]:
    """The proof that the tree of ``new`` entries extends the tree of ``old`` (RFC 9162 2.1.4)."""
    proof = hub.run(lambda s: ledger.consistency(s, old, new))
    return {"old": old, "new": new, "proof": [h.hex() for h in proof]}
