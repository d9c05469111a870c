"""The console's local credential: an scrypt hash of the steward's password in ``console_password``.

The file lives in the node's data directory, owner-readable only, and holds the hash's parameters,
its random salt and the derived key (never the password). ``causeway node console-password`` sets
it; the console reads it at each sign-in, so a new password applies at once.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from causeway.model.errors import InvalidRequest

PASSWORD_FILE = "console_password"
MODE = 0o600
MIN_LENGTH = 12
# scrypt's cost: 2**15 x 8 x 128 bytes = 32 MiB and a few tens of milliseconds per sign-in
N, R, P, LENGTH = 2**15, 8, 1, 32


def password_path(data_dir: Path) -> Path:
    return Path(data_dir) / PASSWORD_FILE


def has_password(data_dir: Path) -> bool:
    return password_path(data_dir).is_file()


def set_password(data_dir: Path, password: str) -> Path:
    """Keep the hash of ``password`` (replacing any earlier one), owner-readable only."""
    if len(password) < MIN_LENGTH:
        raise InvalidRequest(f"a console password needs at least {MIN_LENGTH} characters")
    salt = secrets.token_bytes(16)
    key = Scrypt(salt=salt, length=LENGTH, n=N, r=R, p=P).derive(password.encode())
    record = {
        "kdf": "scrypt",
        "n": N,
        "r": R,
        "p": P,
        "salt": base64.b64encode(salt).decode("ascii"),
        "key": base64.b64encode(key).decode("ascii"),
    }
    path = password_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{PASSWORD_FILE}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
    try:
        os.fchmod(fd, MODE)
        os.write(fd, (json.dumps(record) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)  # never a half-written file, never a moment readable by others
    return path


def check_password(data_dir: Path, password: str) -> bool:
    """Whether ``password`` is the console's (False too when none is set or the file is bad)."""
    try:
        record = json.loads(password_path(data_dir).read_text())
        if record.get("kdf") != "scrypt":
            return False
        salt = base64.b64decode(record["salt"])
        key = base64.b64decode(record["key"])
        kdf = Scrypt(
            salt=salt, length=len(key), n=int(record["n"]), r=int(record["r"]), p=int(record["p"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:
        kdf.verify(password.encode(), key)  # compares in constant time
    except InvalidKey:
        return False
    return True
