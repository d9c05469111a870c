"""A hospital's claim of ownership of a dataset ("rights confirmation"), signed by its node.

The claim names the dataset, the node and its organisation, and fingerprints what is claimed: the
content (a hash over the canonical rows, computed at the node without sending them: see
``causeway.node.fingerprint``), the dictionary (SHA-256 of its canonical JSON) and the usage
terms. The node signs :meth:`Claim.to_sign` with its key at every registration; the hub checks the
signature and keeps each new content or dictionary as a new version, and the ledger records every
one: a dataset never changes silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from causeway.model import codec
from causeway.model.canonical import canonical_json


def dictionary_digest(dictionary: list[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical_json(dictionary)).hexdigest()


@dataclass(frozen=True)
class Claim:
    dataset: str
    node: str
    organisation: str
    fingerprint: str
    dictionary: str
    usage: str

    def to_sign(self) -> bytes:
        return canonical_json({"claim": "causeway.ownership", **self.to_json()})

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = codec.encode(self)
        return encoded

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Claim:
        claim: Claim = codec.decode(cls, data, path="claim")
        return claim
