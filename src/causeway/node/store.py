"""The node's data store: datasets in a local DuckDB file, each with its dictionary and level.

Ingestion validates the whole file against the dictionary before anything is written, and writes in
one transaction: bad input gets a :class:`DataError` and leaves every stored dataset as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd

from causeway.crypto.keys import load_public
from causeway.model.catalog import DatasetMetadata, check_dataset_name
from causeway.model.data import DataView, Moments
from causeway.model.dictionary import ColumnType, Dictionary, infer_dictionary, level_text
from causeway.model.errors import (
    Conflict,
    DataError,
    DisclosureRefused,
    InvalidRequest,
    NotFound,
    SignatureError,
)
from causeway.model.levels import Level
from causeway.model.release import Summands
from causeway.node import fingerprint as fingerprints
from causeway.node.approvals import Approvals
from causeway.node.columns import (
    BATCH_ROWS,
    chunks,
    fill,
    magnitudes_sql,
    select_complete,
    summands_of,
)
from causeway.query import Node, SQLCondition, check, compile_condition, quote

_SQL_TYPES = {
    ColumnType.NUMERIC: "DOUBLE",
    ColumnType.INTEGER: "BIGINT",
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.CATEGORICAL: "VARCHAR",
    ColumnType.DATE: "DATE",
    ColumnType.TEXT: "VARCHAR",
}
_CATALOG_DDL = """
CREATE TABLE IF NOT EXISTS causeway_datasets (
    name VARCHAR PRIMARY KEY, dictionary VARCHAR NOT NULL, level VARCHAR NOT NULL,
    description VARCHAR NOT NULL, rows BIGINT NOT NULL, fingerprint VARCHAR NOT NULL,
    added_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS causeway_budgets (
    project VARCHAR NOT NULL, dataset VARCHAR NOT NULL, budget VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL, PRIMARY KEY (project, dataset)
);
CREATE TABLE IF NOT EXISTS causeway_releases (
    project VARCHAR NOT NULL, dataset VARCHAR NOT NULL, query VARCHAR NOT NULL,
    contribution VARCHAR NOT NULL, released_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project, dataset, query)
);
CREATE TABLE IF NOT EXISTS causeway_peers (
    name VARCHAR PRIMARY KEY, signing_key VARCHAR NOT NULL, key_version BIGINT NOT NULL,
    first_seen TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS causeway_self_masks (
    task_id VARCHAR NOT NULL, round BIGINT NOT NULL, attempt BIGINT NOT NULL, seed BLOB NOT NULL,
    revealed BOOLEAN NOT NULL, assignment VARCHAR NOT NULL, question VARCHAR NOT NULL,
    participants VARCHAR NOT NULL, masked VARCHAR, PRIMARY KEY (task_id, round, attempt)
);
CREATE TABLE IF NOT EXISTS causeway_own_key (
    public_key VARCHAR PRIMARY KEY, version BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS causeway_sources (
    name VARCHAR PRIMARY KEY, source VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS causeway_cohorts (
    project VARCHAR NOT NULL, dataset VARCHAR NOT NULL, digest VARCHAR NOT NULL,
    bitmap BLOB NOT NULL, released_at TIMESTAMP NOT NULL, PRIMARY KEY (project, dataset, digest)
);
"""
# Columns added after the first release, added in place to an older store when it is opened (a
# store written before the catalog had metadata reads as having none).
_CATALOG_UPGRADES = (
    "ALTER TABLE causeway_datasets ADD COLUMN IF NOT EXISTS metadata VARCHAR DEFAULT '{}'",
    # 'cohort' (a query's rows) or 'set' (a group, cell or interval within one)
    "ALTER TABLE causeway_cohorts ADD COLUMN IF NOT EXISTS kind VARCHAR DEFAULT 'cohort'",
)
# DuckDB's row-id pseudo-column, which the differencing guard reads; a real column of that name
# would hide it.
_ROW_ID = "rowid"
T = TypeVar("T")
# Bytes a model's rows may take in a node's memory before they are read again in chunks each
# round instead of held (``NodeStore(design_budget=...)``, a node's ``design_budget_mb``).
DESIGN_BUDGET = 1 << 30


@dataclass(frozen=True)
class MaskStep:
    """One attempt of one securely aggregated round, as a node masks it. ``assignment`` digests
    everything the hub sent for it (so another question under the same attempt is refused);
    ``question`` digests what is asked of the data (project, dataset, algorithm, parameters,
    state and the cohort's rows), the same in any task or round."""

    task_id: str
    round: int
    attempt: int
    assignment: str
    question: str
    participants: tuple[str, ...]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    dictionary: Dictionary
    level: Level
    description: str
    rows: int
    fingerprint: str
    metadata: DatasetMetadata = field(default_factory=DatasetMetadata)


def _table(name: str) -> str:
    return quote("ds_" + name)


def dataset_table(name: str) -> str:
    """The quoted SQL name of the table holding dataset ``name`` in the store's DuckDB."""
    return _table(name)


@dataclass(frozen=True)
class _Entry:
    """A dataset's catalog row at the node, as :meth:`NodeStore._install` writes it."""

    name: str
    dictionary: Dictionary
    level: Level
    description: str
    metadata: DatasetMetadata
    rows: int
    fingerprint: str


class NodeStore:
    """One DuckDB database file (or ``":memory:"``) holding a node's datasets.

    ``design_budget`` (bytes) bounds the rows a model holds in memory (:data:`DESIGN_BUDGET`
    by default); ``memory_limit`` (DuckDB's, e.g. ``"1GB"``; None: DuckDB's default of 80% of
    the machine) and ``threads`` (None: one per core) bound the engine itself."""

    def __init__(
        self,
        path: str | Path,
        *,
        design_budget: int = DESIGN_BUDGET,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.path = str(path)
        self.design_budget = int(design_budget)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = duckdb.connect(self.path)
        except duckdb.IOException as exc:
            raise DataError(f"cannot open the node's data store {self.path}: {exc}") from None
        if memory_limit is not None:
            self._conn.execute(f"SET memory_limit = '{_setting(memory_limit)}'")
        if threads is not None:
            self._conn.execute(f"SET threads = {int(threads)}")
        self._lock = threading.RLock()
        # The steward's decisions, in a file both `node serve` and the steward's commands open.
        self.approvals = Approvals.beside(self.path)
        self._conn.execute(_CATALOG_DDL)
        for upgrade in _CATALOG_UPGRADES:
            self._conn.execute(upgrade)
        # Dataset metadata is read on every assignment; only _write and set_metadata change it (and DuckDB lets
        # no other process write this file while we hold it), so the cache cannot go stale.
        self._infos: dict[str, DatasetInfo] = {}
        # where each dataset's rows live (None: here), read once: every view asks
        self._sources: dict[str, dict[str, Any] | None] = {}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        self.approvals.close()

    def __enter__(self) -> NodeStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- datasets -------------------------------------------------------------------------------

    def add_dataset(
        self,
        name: str,
        data: pd.DataFrame | str | Path,
        *,
        dictionary: Dictionary | None = None,
        level: Level = Level.L1,
        description: str = "",
        metadata: DatasetMetadata | None = None,
        replace: bool = False,
    ) -> DatasetInfo:
        """Validate ``data`` (a DataFrame, or a CSV or Parquet file) and store it as ``name``.

        Replacing a dataset keeps the cohorts remembered for it (see :meth:`remember_cohort`),
        the conservative choice: row ids are row numbers in ingestion order, so a refresh that
        keeps the old rows first (new patients appended) stays guarded against differencing
        across the refresh (a repeated query whose cohort gained a few new rows is refused). A
        refresh that reorders rows makes the old cohorts name other rows: some queries are then
        refused needlessly, and differences across the refresh are no longer caught.
        """
        check_dataset_name(name)
        metadata = metadata or DatasetMetadata()
        frame = _read(data)
        frame.columns = [str(c).strip() for c in frame.columns]
        if dictionary is None:
            dictionary = infer_dictionary(frame)
        _refuse_reserved(dictionary)
        frame = conform(frame, dictionary)
        with self._lock:
            exists = self._conn.execute(
                "SELECT count(*) FROM causeway_datasets WHERE name = ?", [name]
            ).fetchone()
            if exists and exists[0] and not replace:
                raise Conflict(f"dataset {name!r} exists; pass replace to overwrite it")
            self._write(name, frame, dictionary, level, description, metadata)
        return self.dataset(name)

    def set_metadata(self, name: str, metadata: DatasetMetadata) -> DatasetInfo:
        """Replace what the catalog says of a stored dataset (its data stays as it is)."""
        self.dataset(name)
        with self._lock:
            self._conn.execute(
                "UPDATE causeway_datasets SET metadata = ? WHERE name = ?",
                [json.dumps(metadata.to_json()), name],
            )
            self._forget(name)
        return self.dataset(name)

    def _write(
        self,
        name: str,
        frame: pd.DataFrame,
        dictionary: Dictionary,
        level: Level,
        description: str,
        metadata: DatasetMetadata,
    ) -> None:
        columns = ", ".join(
            f"CAST({quote(c.name)} AS {_SQL_TYPES[c.type]}) AS {quote(c.name)}"
            for c in dictionary.columns
        )
        conn = self._conn
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.register("incoming", frame)
            conn.execute(
                f"CREATE OR REPLACE TABLE {_table(name)} AS SELECT {columns} FROM incoming"
            )
            conn.unregister("incoming")
            fingerprint = fingerprints.duckdb_fingerprint(conn, _table(name), dictionary)
            conn.execute("DELETE FROM causeway_datasets WHERE name = ?", [name])
            conn.execute("DELETE FROM causeway_sources WHERE name = ?", [name])
            conn.execute(
                "INSERT INTO causeway_datasets (name, dictionary, level, description, rows, "
                "fingerprint, added_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    name,
                    json.dumps(dictionary.to_json()),
                    level.value,
                    description,
                    len(frame),
                    fingerprint,
                    dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    json.dumps(metadata.to_json()),
                ],
            )
            conn.execute("COMMIT")
            self._forget(name)
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def fingerprint_of(self, table: str, dictionary: Dictionary) -> str:
        """The content fingerprint (:mod:`causeway.node.fingerprint`, the current scheme) of the
        rows of ``table``, a table of this database with the dictionary's columns in its types."""
        with self._lock:
            return fingerprints.duckdb_fingerprint(self._conn, quote(table), dictionary)

    def legacy_fingerprint_of(self, table: str, dictionary: Dictionary) -> str:
        """The scheme-v1 fingerprint of the rows of ``table``: to recognise rows recorded before
        the current scheme (re-ingesting them changes nothing, old fingerprint included)."""
        with self._lock:
            return fingerprints.legacy(self._conn, quote(table), dictionary)

    def holds_rows(self, name: str, table: str, dictionary: Dictionary, fingerprint: str) -> bool:
        """Whether dataset ``name`` is stored here (a warehouse registration is not) with the rows
        of ``table`` under ``dictionary``: it records ``fingerprint`` (the current scheme's, of
        ``table``) or, recorded under scheme v1, the v1 fingerprint of ``table``."""
        info = self.dataset(name)
        if self.source(name) is not None or info.dictionary != dictionary:
            return False
        if info.fingerprint == fingerprint:
            return True
        return fingerprints.is_legacy(info.fingerprint) and (
            self.legacy_fingerprint_of(table, dictionary) == info.fingerprint
        )

    def install_table(
        self,
        name: str,
        table: str,
        dictionary: Dictionary,
        *,
        level: Level,
        description: str,
        metadata: DatasetMetadata,
        rows: int,
        fingerprint: str,
    ) -> DatasetInfo:
        """Make ``table`` (a table of this database holding exactly the dictionary's columns in
        its types, already validated) the dataset ``name``, replacing any dataset of that name,
        in one transaction: the old rows, dictionary and metadata stay if anything fails."""
        entry = _Entry(name, dictionary, level, description, metadata, rows, fingerprint)
        return self._install(entry, table=table)

    def install_source(
        self,
        name: str,
        source: dict[str, Any],
        dictionary: Dictionary,
        *,
        level: Level,
        description: str,
        metadata: DatasetMetadata,
        rows: int,
        fingerprint: str,
    ) -> DatasetInfo:
        """Register ``name`` as a dataset whose rows live elsewhere (``source``: what
        :mod:`causeway.node.warehouse` needs to reach them, never a password), replacing any
        dataset of that name in one transaction. The caller has checked the rows already."""
        entry = _Entry(name, dictionary, level, description, metadata, rows, fingerprint)
        return self._install(entry, source=source)

    def _install(
        self, entry: _Entry, *, table: str | None = None, source: dict[str, Any] | None = None
    ) -> DatasetInfo:
        """One transaction: any dataset ``entry.name`` dropped, then its rows taken from
        ``table`` (renamed into place) or its ``source`` recorded, and its catalog row written."""
        name = entry.name
        check_dataset_name(name)
        _refuse_reserved(entry.dictionary)
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN TRANSACTION")
            try:
                conn.execute(f"DROP TABLE IF EXISTS {_table(name)}")
                if table is not None:
                    conn.execute(f"ALTER TABLE {quote(table)} RENAME TO {_table(name)}")
                conn.execute("DELETE FROM causeway_datasets WHERE name = ?", [name])
                conn.execute("DELETE FROM causeway_sources WHERE name = ?", [name])
                conn.execute(
                    "INSERT INTO causeway_datasets (name, dictionary, level, description, rows, "
                    "fingerprint, added_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        name,
                        json.dumps(entry.dictionary.to_json()),
                        entry.level.value,
                        entry.description,
                        entry.rows,
                        entry.fingerprint,
                        dt.datetime.now(dt.UTC).replace(tzinfo=None),
                        json.dumps(entry.metadata.to_json()),
                    ],
                )
                if source is not None:
                    conn.execute(
                        "INSERT INTO causeway_sources VALUES (?, ?)", [name, json.dumps(source)]
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._forget(name)
        return self.dataset(name)

    def source(self, name: str) -> dict[str, Any] | None:
        """Where the rows of ``name`` live when not in this store (see :meth:`install_source`);
        None for a dataset stored here."""
        if name in self._sources:
            found = self._sources[name]
            return None if found is None else dict(found)
        with self._lock:
            row = self._conn.execute(
                "SELECT source FROM causeway_sources WHERE name = ?", [name]
            ).fetchone()
            found = None if row is None else dict(json.loads(row[0]))
            self._sources[name] = found
        return None if found is None else dict(found)

    def _forget(self, name: str) -> None:
        """Drop what is cached of ``name`` (it was written)."""
        self._infos.pop(name, None)
        self._sources.pop(name, None)

    def datasets(self) -> list[DatasetInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, dictionary, level, description, rows, fingerprint, metadata "
                "FROM causeway_datasets ORDER BY name"
            ).fetchall()
        return [_info(row) for row in rows]

    def dataset(self, name: str) -> DatasetInfo:
        cached = self._infos.get(name)
        if cached is not None:
            return cached
        with self._lock:
            row = self._conn.execute(
                "SELECT name, dictionary, level, description, rows, fingerprint, metadata "
                "FROM causeway_datasets WHERE name = ?",
                [name],
            ).fetchone()
        if row is None:
            raise NotFound(f"this node holds no dataset {name!r}")
        info = self._infos[name] = _info(row)
        return info

    # -- cohorts released (the differencing guard's memory) ----------------------------------------

    def cohorts(self, project: str, dataset: str) -> list[bytes]:
        """The serialized cohorts released for ``project`` on ``dataset``, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT bitmap FROM causeway_cohorts WHERE project = ? AND dataset = ? "
                "AND kind = 'cohort' ORDER BY released_at, digest",
                [project, dataset],
            ).fetchall()
        return [bytes(row[0]) for row in rows]

    def released_sets(self, project: str, dataset: str) -> list[tuple[str, bytes]]:
        """The groups, cells and intervals within those cohorts whose counts were released, each
        with its kind (the columns defining it), oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT kind, bitmap FROM causeway_cohorts WHERE project = ? AND dataset = ? "
                "AND kind LIKE 'set:%' ORDER BY released_at, digest",
                [project, dataset],
            ).fetchall()
        return [(str(row[0]).removeprefix("set:"), bytes(row[1])) for row in rows]

    def remember_cohort(self, project: str, dataset: str, bitmap: bytes) -> None:
        """Record that results for the cohort ``bitmap`` (serialized) were released; the same
        bytes twice are stored once. Kept across a replace of the dataset and never forgotten:
        forgetting a cohort would reopen the differencing it guards against."""
        # digested as before sets were remembered, so a store keeps one row per cohort
        self._remember(project, dataset, "cohort", bitmap, hashlib.sha256(bitmap).hexdigest())

    def remember_set(self, project: str, dataset: str, kind: str, bitmap: bytes) -> None:
        """Record that counts of the set ``bitmap`` (a group, cell or interval of ``kind``
        within a released cohort) were released; kept as cohorts are, apart from a cohort of
        the same rows (the guard judges the two apart)."""
        digest = hashlib.sha256(f"set:{kind}".encode() + b"\0" + bitmap).hexdigest()
        self._remember(project, dataset, f"set:{kind}", bitmap, digest)

    def _remember(self, project: str, dataset: str, kind: str, bitmap: bytes, digest: str) -> None:
        self.dataset(dataset)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO causeway_cohorts "
                "(project, dataset, digest, bitmap, released_at, kind) VALUES (?, ?, ?, ?, ?, ?)",
                [project, dataset, digest, bitmap, now, kind],
            )

    # -- differential privacy: budgets spent and noisy releases made ------------------------------

    def budget(self, project: str, dataset: str) -> dict[str, Any] | None:
        """The privacy budget state of ``project`` on ``dataset`` (None before its first spend)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT budget FROM causeway_budgets WHERE project = ? AND dataset = ?",
                [project, dataset],
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def released(self, project: str, dataset: str, query: str) -> dict[str, Any] | None:
        """The noisy contribution released before for the same ``query`` (a digest of the
        question and the cohort it was asked of), to be answered again without new noise."""
        with self._lock:
            row = self._conn.execute(
                "SELECT contribution FROM causeway_releases "
                "WHERE project = ? AND dataset = ? AND query = ?",
                [project, dataset, query],
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def record_budget(self, project: str, dataset: str, budget: dict[str, Any]) -> None:
        """Keep what a project has spent on a dataset (before the computation it pays for)."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO causeway_budgets VALUES (?, ?, ?, ?)",
                [project, dataset, json.dumps(budget), now],
            )

    def record_release(
        self,
        project: str,
        dataset: str,
        query: str,
        contribution: dict[str, Any],
        budget: dict[str, Any],
    ) -> None:
        """Record a noisy release and the budget it leaves, in one transaction: a budget is never
        spent without its release being kept, nor a release kept without its spend."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN TRANSACTION")
            try:
                conn.execute(
                    "INSERT OR REPLACE INTO causeway_budgets VALUES (?, ?, ?, ?)",
                    [project, dataset, json.dumps(budget), now],
                )
                conn.execute(
                    "INSERT OR REPLACE INTO causeway_releases VALUES (?, ?, ?, ?, ?)",
                    [project, dataset, query, json.dumps(contribution), now],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- analysis -----------------------------------------------------------------------------------

    def view(
        self,
        name: str,
        where: Node | None,
        dictionary: Dictionary | None = None,
        *,
        empty: bool = False,
        cache: MutableMapping[str, Any] | None = None,
    ) -> DataView:
        """The filtered rows of a dataset. ``dictionary`` (the catalog's, checked by the caller to
        agree with this node's) fixes the levels; the filter is checked against it. ``empty``
        selects no row at all (the shape of an answer that must not depend on the data).
        ``cache`` is the task's: a dataset in a warehouse keeps there what it pulled, so later
        rounds of the task read nothing again (a DuckDB dataset needs none)."""
        info = self.dataset(name)
        dictionary = dictionary or info.dictionary
        checked = check(where, dictionary) if where is not None else None
        source = self.source(name)
        if source is not None:
            from causeway.node.postgres_view import PostgresView
            from causeway.node.warehouse import WarehouseSource

            return PostgresView(
                WarehouseSource.from_json(source),
                name,
                info.dictionary,
                dictionary,
                checked,
                empty=empty,
                cache=cache,
                design_budget=self.design_budget,
            )
        return DuckDBView(self, name, dictionary, checked, empty=empty)

    def _fetched(self, sql: str, params: Sequence[Any], fetch: Callable[[Any], T]) -> T:
        """``fetch`` of the result of ``sql``, taken under the store's lock: a result left
        pending on the shared connection is replaced by another thread's next query (a summary
        of 100 million rows read another query's empty result)."""
        with self._lock:
            return fetch(self._conn.execute(sql, list(params)))

    def _batches(self, sql: str, params: Sequence[Any]) -> Iterator[Any]:
        """The Arrow record batches of ``sql``, read through a connection of their own (a
        cursor), so the store's lock is not held while the caller takes each (a model's round
        over 100 million rows reads for a minute); close the generator to release it early."""
        with self._lock:
            cursor = self._conn.cursor()
        try:
            yield from cursor.sql(sql, params=list(params)).to_arrow_reader(BATCH_ROWS)
        finally:
            cursor.close()

    def _float_chunks(
        self, sql: str, params: Sequence[Any], width: int, rows: int
    ) -> Iterator[npt.NDArray[np.float64]]:
        """The rows of ``sql`` as :func:`causeway.node.columns.chunks` of ``rows`` rows, read
        through a connection of their own, so the store's lock is not held between chunks."""
        yield from chunks(self._batches(sql, params), rows, width)

    def _floats(self, sql: str, params: Sequence[Any], width: int) -> npt.NDArray[np.float64]:
        """The rows of ``sql`` (``width`` DOUBLE columns) as one float64 matrix, filled batch by
        batch from Arrow under the store's lock (:mod:`causeway.node.columns`)."""
        with self._lock:
            found = self._conn.execute(f"SELECT count(*) FROM ({sql})", list(params)).fetchall()
            rows = int(found[0][0]) if found else 0
            reader = self._conn.sql(sql, params=list(params)).to_arrow_reader(BATCH_ROWS)
            return fill(reader, rows, width)

    # -- secure aggregation ---------------------------------------------------------------------

    def own_key_version(self, public_key: str) -> int:
        """The version of this node's aggregation key: a new key gets the next one."""
        with self._lock:
            row = self._conn.execute(
                "SELECT version FROM causeway_own_key WHERE public_key = ?", [public_key]
            ).fetchone()
            if row is not None:
                return int(row[0])
            latest = self._conn.execute("SELECT max(version) FROM causeway_own_key").fetchone()
            version = int(latest[0] or 0) + 1 if latest else 1
            self._conn.execute("INSERT INTO causeway_own_key VALUES (?, ?)", [public_key, version])
        return version

    def trust_peer(self, name: str, signing_key: str) -> None:
        """The steward's word that ``signing_key`` (exchanged out of band, never through the hub)
        is the peer hospital ``name``'s: secure aggregation runs only among such peers."""
        load_public(signing_key)  # a well-formed key, or a clear error
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self._lock:
            self._conn.execute(
                "INSERT INTO causeway_peers VALUES (?, ?, 0, ?) ON CONFLICT (name) DO UPDATE "
                "SET signing_key = excluded.signing_key, key_version = 0",
                [name, signing_key, now],
            )

    def peers(self) -> dict[str, str]:
        """The peers the steward trusts, by name: their signing keys."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, signing_key FROM causeway_peers ORDER BY name"
            ).fetchall()
        return {str(name): str(key) for name, key in rows}

    def check_peer(self, name: str, signing_key: str, key_version: int) -> None:
        """Refuse a participant the steward does not trust, one presented with another signing
        key, and an aggregation key older than one seen before (a rollback). Call it once the
        announcement's signature has been checked with ``signing_key``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT signing_key, key_version FROM causeway_peers WHERE name = ?", [name]
            ).fetchone()
            if row is None:
                raise SignatureError(
                    f"{name!r} is not among this node's trusted peers; secure aggregation runs "
                    "only among hospitals its steward trusts ('causeway node trust'), never "
                    "among names the hub supplies"
                )
            if row[0] != signing_key:
                raise SignatureError(
                    f"the hub presents peer {name!r} with a signing key other than the one this "
                    "node's steward trusts; refusing (a substituted key would let the hub unmask)"
                )
            if key_version < int(row[1]):
                raise SignatureError(
                    f"the hub presents peer {name!r}'s aggregation key version {key_version}, "
                    f"older than version {row[1]} seen before; refusing"
                )
            if key_version > int(row[1]):  # a rotation: remember it (a later rollback is refused)
                self._conn.execute(
                    "UPDATE causeway_peers SET key_version = ? WHERE name = ?", [key_version, name]
                )

    def masking(self, step: MaskStep) -> tuple[bytes, str | None]:
        """The self-mask seed of an attempt and, if this node already answered it, its masked
        answer (an attempt delivered again gets the same bytes back, never a fresh computation
        whose difference from the first would unmask both). Refused once a self mask of the
        round was revealed (a node takes part in one unmasked attempt per round), and for a
        different question under an attempt already masked."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT attempt, seed, revealed, assignment, masked FROM causeway_self_masks "
                "WHERE task_id = ? AND round = ?",
                [step.task_id, step.round],
            ).fetchall()
            for attempt, seed, revealed, assignment, masked in rows:
                if revealed and int(attempt) != step.attempt:
                    raise DisclosureRefused(
                        f"this node revealed its self mask for attempt {attempt} of round "
                        f"{step.round}; it takes part in no other attempt of that round"
                    )
                if int(attempt) == step.attempt:
                    if assignment != step.assignment:
                        raise DisclosureRefused(
                            "the hub sent another question under an attempt this node masked "
                            "already; refusing (two answers under one mask would unmask both)"
                        )
                    return bytes(seed), masked
            seed = os.urandom(32)
            self._conn.execute(
                "INSERT INTO causeway_self_masks VALUES (?, ?, ?, ?, false, ?, ?, ?, NULL)",
                [
                    step.task_id,
                    step.round,
                    step.attempt,
                    seed,
                    step.assignment,
                    step.question,
                    json.dumps(sorted(step.participants)),
                ],
            )
        return seed, None

    def keep_masked(self, step: MaskStep, masked: str) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE causeway_self_masks SET masked = ? WHERE task_id = ? AND round = ? "
                "AND attempt = ?",
                [masked, step.task_id, step.round, step.attempt],
            )

    def reveal_seed(self, task_id: str, round_: int, attempt: int) -> bytes:
        """The self-mask seed of an attempt, to reveal. Refused for an attempt this node did not
        mask, once it masked a later attempt or revealed another one of the round, and when it
        revealed the same question (in any task or round) among other participants before: two
        unmasked totals of one question over different sites would give their difference."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT attempt, seed, revealed, question, participants FROM causeway_self_masks "
                "WHERE task_id = ? AND round = ?",
                [task_id, round_],
            ).fetchall()
            mine = [r for r in rows if int(r[0]) == attempt]
            others = [r for r in rows if int(r[0]) != attempt and (r[2] or int(r[0]) > attempt)]
            if not mine or others:
                raise DisclosureRefused(
                    f"this node reveals no self mask for attempt {attempt} of round {round_}: "
                    + ("it masked nothing for it" if not mine else "it took part in another")
                )
            question, participants = mine[0][3], mine[0][4]
            elsewhere = self._conn.execute(
                "SELECT count(*) FROM causeway_self_masks WHERE question = ? AND revealed "
                "AND participants <> ?",
                [question, participants],
            ).fetchone()
            if elsewhere and int(elsewhere[0]):
                raise DisclosureRefused(
                    "this node revealed the same question among other participants before; "
                    "the difference of the two totals would be a site's share, so it reveals "
                    "this one to no one"
                )
            self._conn.execute(
                "UPDATE causeway_self_masks SET revealed = true WHERE task_id = ? AND round = ? "
                "AND attempt = ?",
                [task_id, round_, attempt],
            )
        return bytes(mine[0][1])


def _info(row: tuple[Any, ...]) -> DatasetInfo:
    name, dictionary, level, description, rows, fingerprint, metadata = row
    return DatasetInfo(
        name,
        Dictionary.from_json(json.loads(dictionary)),
        Level(level),
        description,
        rows,
        fingerprint,
        DatasetMetadata.from_json(json.loads(metadata or "{}")),
    )


def _refuse_reserved(dictionary: Dictionary) -> None:
    # DuckDB names columns case-insensitively, so "RowID" would hide the row ids too.
    for name in dictionary.names:
        if name.lower() == _ROW_ID:
            raise DataError(
                f"column name {name!r} is reserved by the node's store; rename the column"
            )


def _read(data: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data.copy()
    path = Path(data)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".csv", ".tsv", ".txt"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    raise DataError(f"{path}: use a .csv, .tsv or .parquet file")


def conform(frame: pd.DataFrame, dictionary: Dictionary) -> pd.DataFrame:
    """The frame with the dictionary's columns in the dictionary's types; a DataError names any
    column that is missing, unexpected, of the wrong type, out of bounds or off its levels."""
    missing = [n for n in dictionary.names if n not in frame.columns]
    extra = [str(n) for n in frame.columns if n not in dictionary]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from the data: {', '.join(missing)}")
        if extra:
            parts.append(f"not in the dictionary: {', '.join(extra)}")
        raise DataError("the data and its dictionary disagree; columns " + "; ".join(parts))
    out = {}
    for column in dictionary.columns:
        series = frame[column.name]
        out[column.name] = _conform_column(column.name, column.type, series, column)
    return pd.DataFrame(out)


def _conform_column(name: str, kind: ColumnType, series: pd.Series[Any], column: Any) -> Any:
    present = series.notna()
    if kind.is_numeric:
        values = pd.to_numeric(series, errors="coerce")
        bad = present & values.isna()
        _refuse(name, bad, series, "is not a number")
        if kind is ColumnType.INTEGER:
            _refuse(name, present & (values % 1 != 0), series, "is not a whole number")
        low = column.minimum if column.minimum is not None else -np.inf
        high = column.maximum if column.maximum is not None else np.inf
        _refuse(
            name,
            present & ((values < low) | (values > high)),
            series,
            f"is outside the bounds [{column.minimum}, {column.maximum}]",
        )
        return values.astype("float64") if kind is ColumnType.NUMERIC else values.astype("Int64")
    if kind is ColumnType.BOOLEAN:
        mapping = {
            True: True,
            False: False,
            "true": True,
            "false": False,
            "1": True,
            "0": False,
            "True": True,
            "False": False,
        }
        values = series.map(lambda v: mapping.get(v) if pd.notna(v) else None)
        _refuse(name, present & values.isna(), series, "is not true or false")
        return values.astype("boolean")
    if kind is ColumnType.DATE:
        values = pd.to_datetime(series, errors="coerce")
        _refuse(name, present & values.isna(), series, "is not a date")
        return values.dt.date
    text = series.map(lambda v: level_text(v) if pd.notna(v) else None)
    if kind is ColumnType.CATEGORICAL and column.levels is not None:
        _refuse(
            name,
            present & ~text.isin(list(column.levels)),
            series,
            f"is not one of its levels ({', '.join(column.levels)})",
        )
    return text.astype(object)


def _refuse(name: str, bad: pd.Series[bool], series: pd.Series[Any], why: str) -> None:
    if bool(bad.any()):
        examples = ", ".join(repr(v) for v in series[bad].unique()[:3])
        raise DataError(f"column {name!r}: {int(bad.sum())} value(s) such as {examples} {why}")


class DuckDBView:
    """A :class:`~causeway.model.data.DataView` over one dataset in the node's DuckDB."""

    def __init__(
        self,
        store: NodeStore,
        name: str,
        dictionary: Dictionary,
        where: Node | None,
        *,
        empty: bool = False,
    ) -> None:
        self._store = store
        self._name = name
        self._table = _table(name)
        self._dictionary = dictionary
        self._cond = SQLCondition("FALSE", ()) if empty else compile_condition(where)
        self._count: int | None = None

    @property
    def dictionary(self) -> Dictionary:
        return self._dictionary

    def count(self) -> int:
        # Asked by the algorithm and again by the release gate (the cohort size): count once.
        if self._count is None:
            row = self._store._fetched(
                f"SELECT count(*) FROM {self._table} WHERE {self._cond.sql}",
                self._cond.params,
                lambda r: r.fetchone(),
            )
            self._count = int(row[0]) if row else 0
        return self._count

    def row_ids(self) -> npt.NDArray[np.int64]:
        # A dataset stored before the name was reserved may hide DuckDB's row ids behind a
        # column of its own: fail closed rather than take that column's values for row ids.
        _refuse_reserved(self._store.dataset(self._name).dictionary)
        result = self._store._fetched(
            f"SELECT {_ROW_ID} FROM {self._table} WHERE {self._cond.sql}",
            self._cond.params,
            lambda r: r.fetchnumpy(),
        )
        ids = np.asarray(result[_ROW_ID], dtype=np.int64)
        if self._count is None:  # the same rows: count(*) need not scan them again
            self._count = len(ids)
        return ids

    def row_id_batches(self) -> Iterator[npt.NDArray[np.int64]]:
        _refuse_reserved(self._store.dataset(self._name).dictionary)
        sql = f"SELECT {_ROW_ID} FROM {self._table} WHERE {self._cond.sql}"
        seen = 0
        for batch in self._store._batches(sql, self._cond.params):
            ids = np.asarray(batch.column(0).to_numpy(zero_copy_only=False), dtype=np.int64)
            seen += len(ids)
            yield ids
        if self._count is None:  # the same rows: count(*) need not scan them again
            self._count = seen

    def labelled(
        self, columns: Sequence[str]
    ) -> Iterator[tuple[npt.NDArray[np.int64], pd.DataFrame]]:
        _refuse_reserved(self._store.dataset(self._name).dictionary)
        cols = "".join(f", {quote(c)}" for c in columns)
        sql = f"SELECT {_ROW_ID} AS causeway_row_id{cols} FROM {self._table} WHERE {self._cond.sql}"
        for batch in self._store._batches(sql, self._cond.params):
            frame = batch.to_pandas()
            yield frame.pop("causeway_row_id").to_numpy(dtype=np.int64), frame

    def group_counts(self, columns: Sequence[str]) -> pd.Series[int]:
        cols = ", ".join(quote(c) for c in columns)
        not_null = " AND ".join(f"{quote(c)} IS NOT NULL" for c in columns)
        rows = self._store._fetched(
            f"SELECT {cols}, count(*) FROM {self._table} "
            f"WHERE {self._cond.sql} AND {not_null} GROUP BY {cols}",
            self._cond.params,
            lambda r: r.fetchall(),
        )
        keys = [tuple(level_text(v) for v in row[:-1]) for row in rows]
        counts = [int(row[-1]) for row in rows]
        if len(columns) == 1:
            return pd.Series(counts, index=pd.Index([k[0] for k in keys]), dtype="int64")
        index = (
            pd.MultiIndex.from_tuples(keys, names=list(columns))
            if keys
            else pd.MultiIndex(
                levels=[[]] * len(columns), codes=[[]] * len(columns), names=list(columns)
            )
        )
        return pd.Series(counts, index=index, dtype="int64")

    def moments(self, column: str, center: float) -> Moments:
        c = quote(column)
        row = self._store._fetched(
            f"SELECT count({c}), fsum({c} - ?), fsum(({c} - ?) * ({c} - ?)) FROM {self._table} "
            f"WHERE {self._cond.sql} AND {c} IS NOT NULL",
            [center, center, center, *self._cond.params],
            lambda r: r.fetchone(),
        )
        if row is None or not row[0]:
            return Moments(0, 0.0, 0.0)
        return Moments(int(row[0]), float(row[1]), float(row[2]))

    def magnitudes(self, column: str, keep: int = 3) -> Summands:
        sql = magnitudes_sql(column, self._table, self._cond.sql, keep)
        return summands_of(self._store._fetched(sql, self._cond.params, lambda r: r.fetchall())[0])

    def frame(self, columns: Sequence[str]) -> pd.DataFrame:
        cols = ", ".join(quote(c) for c in columns)
        frame: pd.DataFrame = self._store._fetched(
            f"SELECT {cols} FROM {self._table} WHERE {self._cond.sql}",
            self._cond.params,
            lambda r: r.df(),
        )
        for name in columns:
            column = self._dictionary.get(name)
            if column is not None and column.type is ColumnType.CATEGORICAL:
                frame[name] = pd.Categorical(frame[name], categories=list(column.levels or ()))
        return frame

    def complete_floats(self, columns: Sequence[str | None]) -> npt.NDArray[np.float64]:
        sql = select_complete(columns, self._table, self._cond.sql)
        return self._store._floats(sql, self._cond.params, len(columns))

    @property
    def design_budget(self) -> int:
        return self._store.design_budget

    def float_chunks(
        self, columns: Sequence[str | None], rows: int
    ) -> Iterator[npt.NDArray[np.float64]]:
        sql = select_complete(columns, self._table, self._cond.sql)
        return self._store._float_chunks(sql, self._cond.params, len(columns), rows)


def _setting(value: str) -> str:
    """A DuckDB size setting such as ``1GB`` or ``512MB``, checked (it is put into SQL)."""
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value.strip()):
        raise InvalidRequest(f"{value!r} is not a memory size such as '1GB' or '512MB'")
    return value.strip()
