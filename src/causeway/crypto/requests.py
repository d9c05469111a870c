"""Signed HTTP requests from a node to the hub.

The node signs ``method, path and query, timestamp, nonce, SHA-256(body)`` with its Ed25519 key. The
hub checks the signature against the node's enrolled key, refuses a timestamp outside its window, and
refuses a nonce it has seen (so a captured request cannot be replayed).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from causeway.crypto.keys import sign, verify
from causeway.model.errors import ReplayError, SignatureError

NODE_HEADER = "X-Causeway-Node"
TIME_HEADER = "X-Causeway-Timestamp"
NONCE_HEADER = "X-Causeway-Nonce"
SIGNATURE_HEADER = "X-Causeway-Signature"
MAX_SKEW_SECONDS = 300.0


@dataclass(frozen=True)
class SignedHeaders:
    node: str
    timestamp: float
    nonce: str
    signature: str

    def as_dict(self) -> dict[str, str]:
        return {
            NODE_HEADER: self.node,
            TIME_HEADER: f"{self.timestamp:.6f}",
            NONCE_HEADER: self.nonce,
            SIGNATURE_HEADER: self.signature,
        }


def _message(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([method.upper(), target, timestamp, nonce, digest]).encode()


def sign_request(
    key: Ed25519PrivateKey, node: str, method: str, target: str, body: bytes
) -> SignedHeaders:
    """Headers for one request; ``target`` is the path with its query string."""
    timestamp = time.time()
    nonce = secrets.token_hex(16)
    message = _message(method, target, f"{timestamp:.6f}", nonce, body)
    return SignedHeaders(node, timestamp, nonce, sign(key, message))


def read_headers(headers: Mapping[str, str]) -> SignedHeaders:
    try:
        return SignedHeaders(
            node=headers[NODE_HEADER],
            timestamp=float(headers[TIME_HEADER]),
            nonce=headers[NONCE_HEADER],
            signature=headers[SIGNATURE_HEADER],
        )
    except (KeyError, ValueError):
        raise SignatureError("the request is not signed by a node") from None


def verify_request(
    public: Ed25519PublicKey,
    signed: SignedHeaders,
    method: str,
    target: str,
    body: bytes,
    *,
    now: float | None = None,
) -> None:
    """Check the signature and the time window; the caller checks the nonce is new."""
    now = time.time() if now is None else now
    if abs(now - signed.timestamp) > MAX_SKEW_SECONDS:
        raise ReplayError("the request's timestamp is outside the accepted window")
    if not (8 <= len(signed.nonce) <= 64):
        raise SignatureError("the request's nonce is malformed")
    message = _message(method, target, f"{signed.timestamp:.6f}", signed.nonce, body)
    verify(public, message, signed.signature)
