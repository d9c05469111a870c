"""Backups of a hub's or a node's data directory, as a directory that is itself a valid data
directory: restoring is pointing ``--data-dir`` at it (or copying it back).

SQLite files (the hub's database, a node's approvals and witness files) are copied with SQLite's
online backup, consistent even while the hub or node writes; a node's DuckDB file is copied after
a checkpoint with the store opened here, which fails — saying so — while ``causeway node serve``
holds it. A hub on PostgreSQL is backed up with ``pg_dump`` (this copies its key only). Keys are
copied owner-readable only.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from causeway.model.errors import Conflict, InvalidRequest

SQLITE_SUFFIXES = (".sqlite",)
SKIPPED_SUFFIXES = (".sqlite-wal", ".sqlite-shm", ".wal", ".tmp")
SECRET_SUFFIXES = (".pem", "console_password")


def backup_directory(source: Path, target: Path) -> list[str]:
    """Copy the data directory ``source`` into the new directory ``target``; returns the files
    copied (relative names)."""
    if not source.is_dir():
        raise InvalidRequest(f"no data directory at {source}")
    if target.exists() and any(target.iterdir()):
        raise Conflict(f"{target} exists and is not empty: back up into a new directory")
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name.endswith(SKIPPED_SUFFIXES):
            continue
        relative = path.relative_to(source)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in SQLITE_SUFFIXES:
            _sqlite_copy(path, destination)
        else:
            shutil.copy2(path, destination)
        if path.name.endswith(SECRET_SUFFIXES):
            destination.chmod(0o600)
        copied.append(str(relative))
    return copied


def _sqlite_copy(source: Path, destination: Path) -> None:
    """SQLite's online backup: a consistent copy while another process writes."""
    live, copy = sqlite3.connect(source), sqlite3.connect(destination)
    try:
        live.backup(copy)
    finally:
        copy.close()
        live.close()


def checkpoint_duckdb(path: Path) -> None:
    """Fold DuckDB's write-ahead log into the file, with the store opened here (refused, saying
    why, while ``causeway node serve`` holds it)."""
    import duckdb

    try:
        connection = duckdb.connect(str(path))
    except duckdb.IOException:
        raise Conflict(
            f"{path} is open in another process: stop 'causeway node serve' before backing up "
            "the node (its DuckDB file has one writer at a time)"
        ) from None
    try:
        connection.execute("CHECKPOINT")
    finally:
        connection.close()
