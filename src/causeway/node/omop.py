"""OMOP CDM sources at the node: a folder of CDM v5.4 CSVs checked and stored in the node's DuckDB.

Each CDM table of :mod:`causeway.node.cdm` is read by DuckDB into a staging table of text columns,
checked there with SQL (required values present, integer ids, ISO dates, unique primary keys;
every refusal named by file, line and column) and typed; only a folder with nothing refused
replaces the source, in one transaction, as tables ``<source>__person``, ``<source>__drug_era``…
An optional table that is absent or holds a header only is stored empty; ``person`` must hold
rows. Rows naming a person_id that ``person`` lacks are kept and reported as warnings.

These raw tables are not datasets: person-level rows never leave the node and no algorithm runs
on them. They are the source of analysis frames (:mod:`causeway.node.frame`), which are.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from causeway.model.catalog import check_dataset_name
from causeway.model.errors import Conflict, DataError, NotFound
from causeway.node.cdm import REQUIRED_TABLES, TABLES, CdmTable, table_name
from causeway.node.cdm_csv import OmopRefused as OmopRefused
from causeway.node.cdm_csv import OmopReport as OmopReport
from causeway.node.cdm_csv import check_and_type, ident, stage_csv
from causeway.node.ingest import memory_bounded

if TYPE_CHECKING:
    import pandas as pd

    from causeway.node.store import NodeStore

_REGISTRY_DDL = """
CREATE TABLE IF NOT EXISTS causeway_omop_sources (
    name VARCHAR PRIMARY KEY, origin VARCHAR NOT NULL, path VARCHAR NOT NULL,
    tables VARCHAR NOT NULL, ingested_at TIMESTAMP NOT NULL
)
"""


@dataclass(frozen=True)
class OmopSource:
    """An OMOP source stored at the node: where it came from and the rows of each table."""

    name: str
    origin: str  # "omop" (a CSV folder) or "fhir"
    path: str
    tables: dict[str, int]


# -- storing --------------------------------------------------------------------------------------


def empty_table(conn: duckdb.DuckDBPyConnection, spec: CdmTable) -> str:
    """A new empty typed table with the spec's columns (a CDM table the source does not have)."""
    name = f"causeway_omop_typed_{uuid.uuid4().hex[:12]}"
    columns = ", ".join(f"{ident(c.name)} {c.type.sql}" for c in spec.columns)
    conn.execute(f"CREATE TABLE {ident(name)} ({columns})")
    return name


def frame_table(conn: duckdb.DuckDBPyConnection, spec: CdmTable, frame: pd.DataFrame) -> str:
    """A new typed table of the spec's columns from a frame holding some of them (the others
    NULL); values are cast to the CDM types."""
    name = f"causeway_omop_typed_{uuid.uuid4().hex[:12]}"
    view = f"causeway_omop_frame_{uuid.uuid4().hex[:12]}"
    conn.register(view, frame)
    try:
        selects = ", ".join(
            f"CAST({ident(c.name) if c.name in frame.columns else 'NULL'} AS {c.type.sql}) "
            f"AS {ident(c.name)}"
            for c in spec.columns
        )
        conn.execute(f"CREATE TABLE {ident(name)} AS SELECT {selects} FROM {view}")
    finally:
        conn.unregister(view)
    return name


def orphans(conn: duckdb.DuckDBPyConnection, typed: Mapping[str, str], report: OmopReport) -> None:
    """Warn of rows naming a person_id that person lacks (kept: frames join on person)."""
    person = ident(typed["person"])
    for name, table in typed.items():
        if not TABLES[name].person:
            continue
        row = conn.execute(
            f"SELECT count(*), count(DISTINCT t.person_id) FROM {ident(table)} t "
            f"ANTI JOIN {person} p ON t.person_id = p.person_id"
        ).fetchone()
        if row and row[0]:
            report.warnings.append(
                f"{name}: {int(row[0]):,} row(s) name {int(row[1]):,} person_id(s) that person "
                "does not hold (orphans: kept, left out of every frame)"
            )


def install(
    store: NodeStore,
    source: str,
    typed: Mapping[str, str],
    report: OmopReport,
    *,
    replace: bool,
) -> None:
    """Make the typed tables the source's CDM tables, replacing any earlier ones, in one
    transaction."""
    conn = store._conn
    conn.execute(_REGISTRY_DDL)
    exists = conn.execute(
        "SELECT count(*) FROM causeway_omop_sources WHERE name = ?", [source]
    ).fetchone()
    if exists and exists[0] and not replace:
        raise Conflict(f"OMOP source {source!r} exists; pass --replace to replace it")
    conn.execute("BEGIN TRANSACTION")
    try:
        for name, table in typed.items():
            target = ident(table_name(source, name))
            conn.execute(f"DROP TABLE IF EXISTS {target}")
            conn.execute(f"ALTER TABLE {ident(table)} RENAME TO {target}")
        conn.execute("DELETE FROM causeway_omop_sources WHERE name = ?", [source])
        conn.execute(
            "INSERT INTO causeway_omop_sources VALUES (?, ?, ?, ?, ?)",
            [
                source,
                report.origin,
                report.path,
                json.dumps(report.tables),
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
            ],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    report.stored = True


def source(store: NodeStore, name: str) -> OmopSource:
    """The OMOP source ``name`` stored at the node."""
    with store._lock:
        store._conn.execute(_REGISTRY_DDL)
        row = store._conn.execute(
            "SELECT name, origin, path, tables FROM causeway_omop_sources WHERE name = ?", [name]
        ).fetchone()
    if row is None:
        raise NotFound(
            f"this node holds no OMOP source {name!r}; ingest one with "
            "'causeway node ingest --format omop FOLDER --dataset NAME'"
        )
    return OmopSource(str(row[0]), str(row[1]), str(row[2]), dict(json.loads(row[3])))


@contextmanager
def dropping(conn: duckdb.DuckDBPyConnection, tables: list[str]) -> Iterator[list[str]]:
    """Drop whatever tables are still listed on the way out (the staging of a refused source)."""
    try:
        yield tables
    finally:
        for table in tables:
            with suppress(duckdb.Error):
                conn.execute(f"DROP TABLE IF EXISTS {ident(table)}")


# -- the entry point ------------------------------------------------------------------------------


def ingest_omop(
    store: NodeStore,
    folder: str | Path,
    *,
    dataset: str,
    replace: bool = False,
    dry_run: bool = False,
) -> OmopReport:
    """Read an OMOP CDM folder of CSVs (``person.csv``, ``drug_era.csv``…; names in any case) into
    ``store`` as the source ``dataset``, all or nothing; a refused folder raises
    :class:`OmopRefused` and leaves the node as it was."""
    check_dataset_name(dataset)
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder of OMOP CDM CSV files")
    report = OmopReport(dataset, str(folder), dry_run=dry_run)
    files = {
        p.stem.lower(): p for p in sorted(folder.iterdir()) if p.suffix.lower() in (".csv", ".tsv")
    }
    report.ignored = sorted(p.name for stem, p in files.items() if stem not in TABLES)
    for name in REQUIRED_TABLES:
        if name not in files:
            raise DataError(f"{folder}: no {name}.csv; an OMOP source needs its {name} table")
    conn = store._conn
    # held to ingest's memory limit, and with its row order kept (the IN-list optimizer off)
    with store._lock, memory_bounded(conn), dropping(conn, []) as temporary:
        typed: dict[str, str] = {}
        for name, spec in TABLES.items():
            path = files.get(name)
            staged = stage_csv(conn, path, report) if path is not None else None
            if staged is not None and staged.table:
                temporary.append(staged.table)
            if path is None or (staged is not None and not staged.names):
                report.absent.append(name)
                typed[name] = empty_table(conn, spec)
                temporary.append(typed[name])
                report.tables[name] = 0
                continue
            if staged is None:
                continue
            table = check_and_type(conn, spec, staged, report)
            if table is not None:
                temporary.append(table)
                typed[name] = table
                report.tables[name] = staged.rows
        if report.refused_total:
            report.refused.sort(key=lambda r: (r.file, r.line or 0))
            raise OmopRefused(
                f"{folder.name}: {report.refused_total:,} value(s) or line(s) refused; nothing "
                "was stored",
                report,
            )
        for name in REQUIRED_TABLES:
            if not report.tables.get(name):
                raise OmopRefused(f"{files[name].name} holds no rows; nothing was stored", report)
        orphans(conn, typed, report)
        if dry_run:
            return report
        install(store, dataset, typed, report, replace=replace)
        temporary.clear()
    return report


def read_table(store: NodeStore, source_name: str, table: str, columns: Sequence[str] = ()) -> Any:
    """A stored CDM table of a source as a DataFrame (for the steward's checks and tests)."""
    source(store, source_name)
    cols = ", ".join(ident(c) for c in columns) if columns else "*"
    with store._lock:
        return store._conn.execute(
            f"SELECT {cols} FROM {ident(table_name(source_name, table))}"
        ).df()
