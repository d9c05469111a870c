"""A signed tree head of the hub's transparency log: the log's size and root, when, and the hub's
Ed25519 signature over exactly :meth:`TreeHead.to_sign`; witnesses sign the same bytes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from causeway.model import codec
from causeway.model.canonical import canonical_json


@dataclass(frozen=True)
class TreeHead:
    """``root`` is hex; ``timestamp`` milliseconds since the epoch; ``key`` the signer's public
    key (base64), ``signature`` theirs over :meth:`to_sign` (both empty before signing)."""

    size: int
    root: str
    timestamp: int
    signature: str = ""
    key: str = ""

    def to_sign(self) -> bytes:
        """What the hub and the witnesses sign: the size, root and time, in canonical JSON."""
        return canonical_json(
            {"log": "causeway", "size": self.size, "root": self.root, "timestamp": self.timestamp}
        )

    def signed(self, signature: str, key: str) -> TreeHead:
        return dataclasses.replace(self, signature=signature, key=key)

    def unsigned(self) -> TreeHead:
        return dataclasses.replace(self, signature="", key="")

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = codec.encode(self)
        return encoded

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TreeHead:
        head: TreeHead = codec.decode(cls, data, path="tree head")
        return head
