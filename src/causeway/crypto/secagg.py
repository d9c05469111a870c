"""Secure aggregation's cryptography, composed from ``cryptography``'s primitives (never our own).

Each node holds an X25519 *agreement* key, separate from its Ed25519 signing key, and announces its
public half signed with the signing key (:class:`KeyAnnouncement`); a peer accepts it only with a
valid signature by the signing key its steward trusts (the node's roster, never the hub's word). For
an attempt of a round with participants P, every pair (i, j) derives a seed by X25519 and
HKDF-SHA256 bound to the attempt (task, round, attempt, the participants, a digest of everything
asked) and to the pair, and expands it with ChaCha20 into a mask over Z_2^64 (:func:`keystream`).
Node i adds the masks it shares with nodes named after it and subtracts those it shares with nodes
named before it, so the masks cancel in the sum over P. Each node also adds a *self mask* from a
fresh random seed, revealed only once the hub holds every participant's masked vector; the rules
that keep a hub from unmasking two totals whose difference is one site's share (one revealed
attempt per round, one participant set per question, one answer per attempt) live with the node's
store (:meth:`causeway.node.store.NodeStore.masking`, ``reveal_seed``) and are explained in
``docs/privacy.md``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from causeway.crypto.keys import sign, verify, write_private
from causeway.model.canonical import canonical_json
from causeway.model.errors import InvalidRequest, SignatureError

__all__ = [
    "KeyAnnouncement",
    "agreement_public_text",
    "keystream",
    "load_agreement_public",
    "load_or_create_agreement_key",
    "mask",
    "pack",
    "round_context",
    "unpack",
]

Vector = npt.NDArray[np.uint64]
SEED_BYTES = 32
_NONCE = bytes(16)  # every ChaCha20 key here is used for one stream only
_LABEL = b"causeway secure aggregation v1"


def agreement_public_text(key: X25519PrivateKey | X25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_agreement_public(text: str) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError:
        raise InvalidRequest("not an X25519 public key (base64 of 32 bytes)") from None


def load_or_create_agreement_key(path: Path) -> X25519PrivateKey:
    """The node's agreement key, kept as PEM readable by its owner only (created on first use)."""
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"cannot read the aggregation key {path}: {exc}") from None
        if not isinstance(key, X25519PrivateKey):
            raise InvalidRequest(f"{path} is not an X25519 private key")
        return key
    key = X25519PrivateKey.generate()
    write_private(key, path)
    return key


@dataclass(frozen=True)
class KeyAnnouncement:
    """A node's agreement key, signed with its Ed25519 signing key. ``version`` grows with each
    rotation; a peer accepts a key only with a valid signature by the signing key it knows."""

    node: str
    key: str
    version: int
    signature: str = ""

    def message(self) -> bytes:
        body = {
            "purpose": "causeway aggregation key",
            "node": self.node,
            "key": self.key,
            "version": self.version,
        }
        return canonical_json(body)

    def signed(self, signing_key: Ed25519PrivateKey) -> KeyAnnouncement:
        return replace(self, signature=sign(signing_key, self.message()))

    def verify(self, signing_key: Ed25519PublicKey) -> X25519PublicKey:
        """The announced key, once its signature checks out (else :class:`SignatureError`)."""
        try:
            verify(signing_key, self.message(), self.signature)
        except SignatureError:
            raise SignatureError(
                f"the aggregation key announced for {self.node!r} is not signed by its signing key"
            ) from None
        return load_agreement_public(self.key)


def round_context(
    task_id: str, round_: int, attempt: int, participants: Sequence[str], question: str
) -> bytes:
    """What every mask of one attempt of one round is bound to, ``question`` being a digest of
    everything the attempt asks (so two questions never share a mask)."""
    return canonical_json(
        {
            "task": task_id,
            "round": round_,
            "attempt": attempt,
            "participants": sorted(participants),
            "question": question,
        }
    )


def keystream(seed: bytes, size: int) -> Vector:
    """``size`` uniform values of Z_2^64 from a 256-bit seed (ChaCha20)."""
    encryptor = Cipher(algorithms.ChaCha20(seed, _NONCE), mode=None).encryptor()
    return np.frombuffer(encryptor.update(bytes(8 * size)), dtype="<u8").astype(np.uint64)


def _pair_seed(own: X25519PrivateKey, peer: X25519PublicKey, info: bytes) -> bytes:
    try:
        shared = own.exchange(peer)
    except ValueError:  # a low-order point: no shared secret
        raise SignatureError("a peer's aggregation key is not a valid X25519 key") from None
    return HKDF(algorithm=hashes.SHA256(), length=SEED_BYTES, salt=None, info=info).derive(shared)


def mask(
    values: Vector,
    me: str,
    own: X25519PrivateKey,
    peers: Mapping[str, X25519PublicKey],
    context: bytes,
    self_seed: bytes,
) -> Vector:
    """``values`` plus the self mask, plus the pairwise masks shared with peers named after ``me``,
    minus those shared with peers named before it (all mod 2^64)."""
    size = int(values.shape[0])
    out = values + keystream(self_seed, size)
    for name in sorted(peers):
        if name == me:
            continue
        info = _LABEL + canonical_json({"round": context.decode(), "pair": sorted((me, name))})
        stream = keystream(_pair_seed(own, peers[name], info), size)
        out = out + stream if me < name else out - stream
    return out


def new_seed() -> bytes:
    return os.urandom(SEED_BYTES)


def pack(vector: Vector) -> str:
    """A vector over Z_2^64 as compact text: base64 of its little-endian bytes."""
    return base64.b64encode(vector.astype("<u8").tobytes()).decode("ascii")


def unpack(text: str, size: int) -> Vector:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise InvalidRequest("a masked vector is not base64") from None
    if len(raw) != 8 * size:
        raise InvalidRequest(f"a masked vector holds {len(raw) // 8} values, not {size}")
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64, copy=False)
