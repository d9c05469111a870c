"""Ed25519 keys and signatures (from ``cryptography``; we never write primitives)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from causeway.model.errors import InvalidRequest, SignatureError


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """A public key as base64 of its 32 raw bytes."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_public(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise InvalidRequest("not an Ed25519 public key (base64 of 32 bytes)") from None


def save_private(key: Ed25519PrivateKey, path: Path) -> None:
    """Write the key as PEM, readable by its owner only."""
    write_private(key, path)


def write_private(key: Ed25519PrivateKey | X25519PrivateKey, path: Path) -> None:
    """A private key as PKCS#8 PEM, in a file only its owner can read."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"cannot read the private key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidRequest(f"{path} is not an Ed25519 private key")
    return key


def load_or_create(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        return load_private(path)
    key = generate_key()
    save_private(key, path)
    return key


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode("ascii")


def verify(public: Ed25519PublicKey, message: bytes, signature: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is ``public``'s over ``message``."""
    try:
        public.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        raise SignatureError("the signature does not verify") from None
