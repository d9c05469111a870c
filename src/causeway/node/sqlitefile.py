"""A node's small SQLite file beside its DuckDB store, shared by ``causeway node serve`` and the
steward's commands (SQLite lets both processes use it; DuckDB lets one write): the approvals
(``approvals.sqlite``) and the witness's state (``witness.sqlite``)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import ClassVar, Self


class SqliteFile:
    """One such file (``":memory:"`` for a node held in memory), its schema made on opening.
    Subclasses name their file (:attr:`FILE`) and schema (:attr:`DDL`)."""

    FILE: ClassVar[str]
    DDL: ClassVar[str]

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        with self._lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(self.DDL)
            self._conn.commit()

    @classmethod
    def beside(cls, store_path: str | Path) -> Self:
        """The file of the node whose DuckDB file is ``store_path``."""
        if str(store_path) == ":memory:":
            return cls(":memory:")
        return cls(Path(store_path).with_name(cls.FILE))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
