"""A dataset that lives in the hospital's own PostgreSQL (a *warehouse source*).

The node's DuckDB keeps only the registration: name, dictionary, level, metadata and where the
rows are (:class:`WarehouseSource`: a ``postgresql://`` URL without a password, a table, an
integer key column). The rows stay in PostgreSQL: :class:`~causeway.node.postgres_view.PostgresView` runs a task's filter,
its counts and its groups there as SQL with bound parameters, and pulls the columns a model (or a
moment sum) needs once per task, as Arrow, kept in the task's cache for its later rounds. Every connection is opened
for one piece of work, read-only (``SET TRANSACTION READ ONLY``, rolled back), under a statement
timeout, and closed: the node never writes to the warehouse.

The password never reaches the node's files: a URL holding one is refused. libpq finds it in
``PGPASSWORD``, ``~/.pgpass`` (or ``PGPASSFILE``) or a service file (``PGSERVICE``, or
``?service=`` in the URL); or ``--password-env VAR`` names an environment variable of the node's
process to read it from at each connection (the name is stored, never the value).

A live table changes between tasks, so the guarantees DuckDB datasets get at ingestion are
checked by every read of a task instead (:func:`validate`, in the read's own REPEATABLE READ
snapshot): each dictionary column present in a matching type, every value within its bounds and
levels, the key unique, non-null and a row id (0 to 2³²-1). A table that breaks them fails the
task with a :class:`DataError` naming column, count and reason; nothing of it flows into an
analysis. The content fingerprint (the same
definition as a DuckDB dataset's, so the same rows give the same fingerprint) and the row count
describe the table *at registration*; register again (``--replace``) to publish new content.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict

from causeway.model.catalog import DatasetMetadata, check_dataset_name
from causeway.model.dictionary import Column, ColumnType, Dictionary, widen
from causeway.model.errors import (
    AuthenticationError,
    Conflict,
    DataError,
    NotFound,
    PermissionDenied,
    SourceDrifted,
    Unavailable,
)
from causeway.model.levels import Level
from causeway.node import fingerprint as fingerprints
from causeway.node.store import DatasetInfo, NodeStore
from causeway.query import quote

__all__ = [
    "Registration",
    "WarehouseSource",
    "infer",
    "register",
    "validate",
]

STATEMENT_TIMEOUT = 600.0  # seconds a query may run before PostgreSQL cancels it
CONNECT_TIMEOUT = 10  # seconds to reach the server
MAX_ROW_ID = 2**32 - 1  # the differencing guard's row ids are 32-bit
MAX_INFERRED_LEVELS = 50
_BATCH = 50_000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FINITE = 1.7976931348623157e308

# PostgreSQL types by what a dictionary column may hold.
_INTEGERS = {"int2", "int4", "int8"}
_FLOATS = {"float4", "float8", "numeric"}
_TEXTS = {"text", "varchar", "bpchar", "name", "citext"}
_ACCEPTED: dict[ColumnType, set[str] | None] = {
    ColumnType.NUMERIC: _INTEGERS | _FLOATS,
    ColumnType.INTEGER: _INTEGERS | _FLOATS,
    ColumnType.BOOLEAN: {"bool"},
    ColumnType.DATE: {"date"},
    ColumnType.CATEGORICAL: _TEXTS | _INTEGERS,
    ColumnType.TEXT: None,  # anything, read as text
}
_CASTS = {
    ColumnType.NUMERIC: "double precision",
    ColumnType.INTEGER: "bigint",
    ColumnType.CATEGORICAL: "text",
    ColumnType.TEXT: "text",
}


@dataclass(frozen=True)
class WarehouseSource:
    """Where a dataset's rows live: a PostgreSQL URL (no password), a table (``table`` or
    ``schema.table``, named as the database's catalog spells it), and ``key``, an integer column
    unique per row (the rows' ids for the differencing guard, stable across tasks; None until
    :func:`register` takes the table's one-column integer primary key)."""

    url: str
    table: str
    key: str | None = None
    password_env: str | None = None
    timeout: float = STATEMENT_TIMEOUT

    def __post_init__(self) -> None:
        if not self.url.startswith(("postgresql://", "postgres://")):
            raise DataError(f"--source must be a postgresql:// URL, not {self.url!r}")
        try:
            parts = conninfo_to_dict(self.url)
        except psycopg.ProgrammingError as exc:
            raise DataError(f"--source is not a valid PostgreSQL URL: {_first_line(exc)}") from None
        if "password" in parts:
            raise DataError(
                "--source holds a password; the node stores its sources in clear, so give the "
                "password with --password-env VAR, PGPASSWORD, ~/.pgpass or a service file"
            )
        names = self.table.split(".")
        if len(names) > 2 or not all(_IDENTIFIER.fullmatch(n) for n in names):
            raise DataError(
                f"--table {self.table!r} must be a table or schema.table of letters, digits, "
                "_ and $ (at most 63 each)"
            )
        if self.key is not None and not _IDENTIFIER.fullmatch(self.key):
            raise DataError(f"--key {self.key!r} must be a column name")
        if self.password_env is not None and not _ENV_NAME.fullmatch(self.password_env):
            raise DataError(f"--password-env {self.password_env!r} is not a variable name")
        if not 0 < self.timeout <= 86_400:
            raise DataError("the statement timeout must be between 0 and 86400 seconds")

    @property
    def key_column(self) -> str:
        if self.key is None:
            raise DataError(f"no key column for {self.table}: pass --key")
        return self.key

    @property
    def relation(self) -> str:
        """The table, quoted for SQL."""
        return ".".join(quote(n) for n in self.table.split("."))

    @property
    def server(self) -> str:
        parts = conninfo_to_dict(self.url)
        host = parts.get("host") or "the default host"
        port = parts.get("port") or "5432"
        return f"{host}:{port}/{parts.get('dbname') or ''}"

    def describe(self) -> str:
        """One line for the steward (never a password: a source holds none)."""
        return f"{self.url} table {self.table} (key {self.key or 'its primary key'})"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "postgresql", "url": self.url, "table": self.table}
        out |= {"key": self.key_column, "timeout": self.timeout, "live": True}
        if self.password_env is not None:
            out["password_env"] = self.password_env
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WarehouseSource:
        return cls(
            url=str(data["url"]),
            table=str(data["table"]),
            key=str(data["key"]),
            password_env=data.get("password_env"),
            timeout=float(data.get("timeout", STATEMENT_TIMEOUT)),
        )


# -- connections ------------------------------------------------------------------------------------


@contextlib.contextmanager
def connect(source: WarehouseSource) -> Iterator[psycopg.Connection[Any]]:
    """One read-only, repeatable-read transaction on the warehouse, under the statement timeout,
    rolled back and closed after; every PostgreSQL error comes out as a typed Causeway error."""
    password = _password(source)
    try:
        conn = psycopg.connect(
            source.url,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="causeway-node",
            password=password,  # None: libpq's own (PGPASSWORD, ~/.pgpass, a service file)
        )
    except psycopg.Error as exc:
        raise _connect_error(source, exc, password) from None
    try:
        # one snapshot for the transaction: a validation and the read after it see the same rows
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        conn.execute("SET TRANSACTION READ ONLY")
        timeout = f"{int(source.timeout * 1000)}ms"
        conn.execute("SELECT set_config('statement_timeout', %s, true)", [timeout])
        yield conn
    except psycopg.Error as exc:
        raise _query_error(source, exc, password) from None
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        conn.close()


def _password(source: WarehouseSource) -> str | None:
    if source.password_env is None:
        return None  # libpq: PGPASSWORD, ~/.pgpass, a service file
    value = os.environ.get(source.password_env)
    if value is None:
        raise AuthenticationError(
            f"the warehouse password is to come from ${source.password_env}, which is not set "
            "in the node's environment"
        )
    return value


def _first_line(exc: BaseException, password: str | None = None) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text.replace(password, "***") if password else text


def _connect_error(source: WarehouseSource, exc: psycopg.Error, password: str | None) -> Exception:
    # libpq reports a refused login without an SQLSTATE: tell them apart by its words
    detail = _first_line(exc, password)
    text = detail.lower()
    user = conninfo_to_dict(source.url).get("user") or "the default role"
    refused = ("authentication failed", "password", "pg_hba.conf", "role ")
    if getattr(exc, "sqlstate", None) in ("28P01", "28000") or any(w in text for w in refused):
        return AuthenticationError(
            f"the warehouse at {source.server} refused the credentials of {user}: {detail}"
        )
    if "database" in text and "does not exist" in text:
        return NotFound(f"the warehouse at {source.server} has no such database: {detail}")
    return Unavailable(f"cannot reach the warehouse at {source.server}: {detail}")


def _query_error(source: WarehouseSource, exc: psycopg.Error, password: str | None) -> Exception:
    detail = _first_line(exc, password)
    where = f"the warehouse table {source.table} at {source.server}"
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return DataError(f"{where} does not exist: {detail}")
    if isinstance(exc, psycopg.errors.UndefinedColumn):
        return DataError(f"{where} lacks a column the dictionary names: {detail}")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return PermissionDenied(f"the node's role may not read {where}: {detail}")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return Unavailable(f"a query on {where} ran past the {source.timeout:g} s timeout")
    if isinstance(exc, psycopg.OperationalError):
        return Unavailable(f"lost the connection to the warehouse at {source.server}: {detail}")
    return DataError(f"{where} refused a query: {detail}")


# -- the table's shape --------------------------------------------------------------------------------


def _columns(conn: psycopg.Connection[Any], source: WarehouseSource) -> dict[str, str]:
    """The table's columns and their PostgreSQL type names, in order; typed errors for a missing
    table and a role that may not read it."""
    row = conn.execute(
        "SELECT to_regclass(%s)::oid, has_table_privilege(to_regclass(%s), 'SELECT')",
        [source.relation, source.relation],
    ).fetchone()
    if row is None or row[0] is None:
        raise DataError(
            f"the warehouse at {source.server} has no table {source.table} (visible to the "
            "node's role)"
        )
    if not row[1]:
        raise PermissionDenied(
            f"the node's role may not SELECT from {source.table} at {source.server}; grant it "
            "SELECT (and nothing more: the node never writes)"
        )
    found = conn.execute(
        "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        [row[0]],
    ).fetchall()
    return {str(name): str(kind) for name, kind in found}


def _check_types(source: WarehouseSource, dictionary: Dictionary, types: dict[str, str]) -> None:
    problems = []
    key = source.key_column
    key_type = types.get(key)
    if key_type is None:
        problems.append(f"the key {key!r} is not a column of the table")
    elif key_type not in _INTEGERS:
        problems.append(f"the key {key!r} is {key_type}, not an integer column")
    key_column = dictionary.get(key)
    if key_column is not None and key_column.type is not ColumnType.INTEGER:
        problems.append(f"the key {key!r} is in the dictionary as {key_column.type.value}")
    for column in dictionary.columns:
        found = types.get(column.name)
        accepted = _ACCEPTED[column.type]
        if found is None:
            problems.append(f"column {column.name!r} of the dictionary is not in the table")
        elif accepted is not None and found not in accepted:
            problems.append(
                f"column {column.name!r} is {found} in the table, which cannot hold the "
                f"dictionary's {column.type.value}"
            )
    if problems:
        raise DataError(f"{source.table} and its dictionary disagree: " + "; ".join(problems))


def typed_rows(source: WarehouseSource, dictionary: Dictionary) -> str:
    """The table as the dictionary types it (what a DuckDB dataset stores), key included: a
    subquery PostgreSQL flattens, so filters still reach the table's indexes."""
    items = [_cast(c) for c in dictionary.columns]
    if source.key_column not in dictionary:
        items.append(f"CAST({quote(source.key_column)} AS bigint) AS {quote(source.key_column)}")
    return f"(SELECT {', '.join(items)} FROM {source.relation}) AS causeway_rows"


def _cast(column: Column) -> str:
    cast = _CASTS.get(column.type)
    name = quote(column.name)
    return f"CAST({name} AS {cast}) AS {name}" if cast else name


# -- validation: what ingestion guarantees a DuckDB dataset, checked on the live table ---------------


def _checks(
    source: WarehouseSource, dictionary: Dictionary, types: dict[str, str]
) -> list[tuple[str, str, str, list[Any]]]:
    """(column, reason, SQL condition of a bad row, its parameters), one per rule."""
    out: list[tuple[str, str, str, list[Any]]] = []
    key = quote(source.key_column)
    out.append((source.key_column, "is a missing key", f"{key} IS NULL", []))
    out.append(
        (
            source.key_column,
            f"is a key outside 0..{MAX_ROW_ID}",
            f"{key} NOT BETWEEN 0 AND %s",
            [MAX_ROW_ID],
        )
    )
    for column in dictionary.columns:
        c = quote(column.name)
        if column.type.is_numeric:
            if types[column.name] in _FLOATS:
                finite = f"NOT ({c}::float8 BETWEEN %s AND %s)"
                out.append((column.name, "is not a finite number", finite, [-_FINITE, _FINITE]))
                if column.type is ColumnType.INTEGER:
                    out.append((column.name, "is not a whole number", f"{c} <> trunc({c})", []))
            if column.minimum is not None or column.maximum is not None:
                bounds = f"is outside the bounds [{column.minimum}, {column.maximum}]"
                low = column.minimum if column.minimum is not None else -_FINITE
                high = column.maximum if column.maximum is not None else _FINITE
                out.append((column.name, bounds, f"NOT ({c} BETWEEN %s AND %s)", [low, high]))
        elif column.type is ColumnType.DATE:  # PostgreSQL has infinite and BC dates; Python not
            span = [dt.date(1, 1, 1), dt.date(9999, 12, 31)]
            out.append(
                (
                    column.name,
                    "is not a date of years 1 to 9999",
                    f"NOT ({c} BETWEEN %s AND %s)",
                    span,
                )
            )
        elif column.type is ColumnType.CATEGORICAL and column.levels is not None:
            levels = f"is not one of its levels ({', '.join(column.levels)})"
            out.append((column.name, levels, f"NOT ({c}::text = ANY(%s))", [list(column.levels)]))
    return out


def validate(conn: psycopg.Connection[Any], source: WarehouseSource, dictionary: Dictionary) -> int:
    """Check the table against ``dictionary`` and the key, in one pass; the rows it holds, or a
    :class:`DataError` naming each column that breaks it, how many rows do and why."""
    types = _columns(conn, source)
    _check_types(source, dictionary, types)
    checks = _checks(source, dictionary, types)
    counts = ", ".join(f"count(*) FILTER (WHERE {sql})" for _c, _r, sql, _p in checks)
    params = [p for *_rest, ps in checks for p in ps]
    unique = _has_unique_index(conn, source)
    distinct = "count(*)" if unique else f"count(DISTINCT {quote(source.key_column)})"
    row = conn.execute(
        f"SELECT count(*), count({quote(source.key_column)}), {distinct}, {counts} "
        f"FROM {source.relation}",
        params,
    ).fetchone()
    assert row is not None
    rows, keyed, distinct_keys, *bad = (int(v) for v in row)
    problems = [
        f"column {column!r}: {n} row(s) whose value {reason}"
        for (column, reason, _s, _p), n in zip(checks, bad, strict=True)
        if n
    ]
    if distinct_keys != keyed:
        problems.append(f"column {source.key_column!r}: {keyed - distinct_keys} duplicate key(s)")
    if problems:
        raise SourceDrifted(
            f"the warehouse table {source.table} breaks its dictionary, so nothing is read from "
            "it: " + "; ".join(problems)
        )
    return rows


def _has_unique_index(conn: psycopg.Connection[Any], source: WarehouseSource) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass(%s) AND i.indisunique "
        "AND i.indnatts = 1 AND i.indpred IS NULL AND a.attname = %s",
        [source.relation, source.key_column],
    ).fetchone()
    return bool(row and row[0])


def _primary_key(conn: psycopg.Connection[Any], source: WarehouseSource) -> WarehouseSource:
    """``source`` with its key: the one given, or the table's one-column primary key."""
    if source.key is not None:
        return source
    found = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary",
        [source.relation],
    ).fetchall()
    if len(found) != 1:
        raise DataError(
            f"{source.table} has no one-column primary key: pass --key, an integer column "
            "unique per row (the rows' stable ids), or add such a column to the table or a view"
        )
    return dataclasses.replace(source, key=str(found[0][0]))


# -- inference: a dictionary for the steward to review -------------------------------------------------


def infer(source: WarehouseSource) -> tuple[Dictionary, list[str]]:
    """A dictionary guessed from the table's column types and a read-only statistics query
    (bounds widened as for a file, levels of text columns with at most 50 values), and notes on
    the columns left out. The key is left out: an identifier is never analysed."""
    with connect(source) as conn:
        types = _columns(conn, source)
        source = _primary_key(conn, source)
        if source.key_column not in types:
            raise DataError(f"the key {source.key!r} is not a column of {source.table}")
        columns, notes = [], []
        for name, kind in types.items():
            if name == source.key_column:
                continue
            if not name.replace("_", "a").isalnum():
                notes.append(f"column {name!r} left out: rename it (letters, digits, _) in a view")
                continue
            column = _infer_column(conn, source, name, kind)
            if column is None:
                notes.append(f"column {name!r} left out: type {kind} has no dictionary type")
            else:
                columns.append(column)
    if not columns:
        raise DataError(f"{source.table} has no column a dictionary could hold")
    return Dictionary(tuple(columns)), notes


def _infer_column(
    conn: psycopg.Connection[Any], source: WarehouseSource, name: str, kind: str
) -> Column | None:
    c, table = quote(name), source.relation
    if kind == "bool":
        return Column(name, ColumnType.BOOLEAN)
    if kind == "date":
        return Column(name, ColumnType.DATE)
    if kind in _INTEGERS | _FLOATS:
        row = conn.execute(
            f"SELECT min({c})::float8, max({c})::float8, coalesce(bool_and({c} = trunc({c})), true), "
            f"count(*) FILTER (WHERE NOT ({c}::float8 BETWEEN %s AND %s)) FROM {table}",
            [-_FINITE, _FINITE],
        ).fetchone()
        assert row is not None
        low, high, whole, infinite = row
        if infinite:
            raise DataError(f"column {name!r} holds values that are not finite numbers")
        whole = bool(whole) or kind in _INTEGERS
        if low is not None and high is not None:
            low, high = widen(float(low), float(high), whole=whole)
        kind_ = ColumnType.INTEGER if whole else ColumnType.NUMERIC
        return Column(name, kind_, None, low, high)
    if kind in _TEXTS:
        values = conn.execute(
            f"SELECT DISTINCT {c}::text FROM {table} WHERE {c} IS NOT NULL LIMIT %s",
            [MAX_INFERRED_LEVELS + 1],
        ).fetchall()
        if 0 < len(values) <= MAX_INFERRED_LEVELS:
            return Column(name, ColumnType.CATEGORICAL, levels=tuple(sorted(v[0] for v in values)))
        return Column(name, ColumnType.TEXT)
    return None


# -- registration -----------------------------------------------------------------------------------


@dataclass
class Registration:
    """What :func:`register` did: stored the dataset, or wrote an inferred dictionary for review."""

    dataset: str
    source: WarehouseSource
    dictionary: Dictionary
    rows: int = 0
    fingerprint: str = ""
    stored: bool = False
    inferred: bool = False
    dictionary_path: Path | None = None
    notes: list[str] = field(default_factory=list)


def register(
    store: NodeStore,
    name: str,
    source: WarehouseSource,
    *,
    dictionary: Dictionary | None = None,
    level: Level = Level.L1,
    description: str = "",
    metadata: DatasetMetadata | None = None,
    replace: bool = False,
    review_dir: Path | None = None,
) -> Registration:
    """Register the warehouse table as dataset ``name`` of ``store``: checked against
    ``dictionary`` (its types, every value, the key), counted and fingerprinted, read-only.
    Without a dictionary one is inferred and written for review to ``review_dir/<name>.json``
    (default ``dictionaries/`` beside the store); nothing is stored until it comes back. Any
    failure raises a typed error and leaves the store as it was."""
    check_dataset_name(name)
    existing = _existing(store, name)
    if existing is not None and not replace:
        raise Conflict(f"dataset {name!r} exists; pass --replace to replace it")
    if dictionary is None:
        inferred, notes = infer(source)
        report = Registration(name, source, inferred, inferred=True, notes=notes)
        _write_for_review(report, review_dir or _review_dir(store))
        return report
    with connect(source) as conn:
        _columns(conn, source)
        source = _primary_key(conn, source)
        rows = validate(conn, source, dictionary)
        fingerprint = _fingerprint(conn, source, dictionary)
        grants = conn.execute(
            "SELECT has_table_privilege(to_regclass(%s), 'INSERT, UPDATE, DELETE, TRUNCATE')",
            [source.relation],
        ).fetchone()
    report = Registration(name, source, dictionary, rows=rows, fingerprint=fingerprint)
    if grants and grants[0]:
        report.notes.append(
            "the node's role may also write to the table; the node never does (every "
            "transaction is read-only), but a role granted only SELECT is safer"
        )
    store.install_source(
        name,
        source.to_json(),
        dictionary,
        level=level,
        description=description,
        metadata=metadata or DatasetMetadata(),
        rows=rows,
        fingerprint=fingerprint,
    )
    report.stored = True
    return report


def _existing(store: NodeStore, name: str) -> DatasetInfo | None:
    try:
        return store.dataset(name)
    except NotFound:
        return None


def _review_dir(store: NodeStore) -> Path | None:
    return None if store.path == ":memory:" else Path(store.path).parent / "dictionaries"


def _write_for_review(report: Registration, review_dir: Path | None) -> None:
    """As ``node ingest`` does: write the inferred dictionary, never over a different one (it may
    hold the steward's review), and store nothing."""
    if review_dir is None:
        report.notes.append("inferred dictionary not written (an in-memory store)")
        return
    target = review_dir / f"{report.dataset}.json"
    report.dictionary_path = target
    if target.exists():
        try:
            previous = Dictionary.from_json(json.loads(target.read_text()))
        except (OSError, ValueError, DataError):
            previous = None
        if previous != report.dictionary:
            raise DataError(
                f"{target} exists and differs from the dictionary inferred now (it may hold the "
                f"steward's review): pass --dictionary {target} to enforce it, or delete it to "
                "infer again; nothing was stored"
            )
        return
    review_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(report.dictionary.to_json(), indent=2) + "\n")
    partial.replace(target)


# -- pulling columns ------------------------------------------------------------------------------------


def _arrow_type(kind: ColumnType) -> Any:
    import pyarrow as pa

    return {
        ColumnType.NUMERIC: pa.float64(),
        ColumnType.INTEGER: pa.int64(),
        ColumnType.BOOLEAN: pa.bool_(),
        ColumnType.DATE: pa.date32(),
        ColumnType.CATEGORICAL: pa.string(),
        ColumnType.TEXT: pa.string(),
    }[kind]


def as_arrow(rows: Sequence[tuple[Any, ...]], columns: Sequence[Column]) -> Any:
    """Rows fetched from PostgreSQL as an Arrow table of the dictionary's types (those of a
    DuckDB dataset, so DuckDB reads it exactly as it reads a stored table)."""
    import pyarrow as pa

    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return pa.table(
        {
            c.name: pa.array(list(v), type=_arrow_type(c.type))
            for c, v in zip(columns, values, strict=True)
        }
    )


def _fingerprint(
    conn: psycopg.Connection[Any], source: WarehouseSource, dictionary: Dictionary
) -> str:
    """The content fingerprint a DuckDB dataset of the same rows would have (scheme v2 of
    :mod:`causeway.node.fingerprint`): PostgreSQL puts the rows in canonical order and streams
    them through a server-side cursor, batch by batch as Arrow into the same hasher. Nothing is
    written, nothing is kept."""
    names = ", ".join(quote(c.name) for c in dictionary.columns)
    hasher = fingerprints.RowHasher(dictionary)
    with conn.cursor(name="causeway_fingerprint", binary=True) as cursor:
        cursor.execute(
            f"SELECT {names} FROM {typed_rows(source, dictionary)} "
            f"ORDER BY {fingerprints.postgres_order(dictionary)}"
        )
        while batch := cursor.fetchmany(_BATCH):
            hasher.update(as_arrow(batch, dictionary.columns))
    return hasher.hexdigest()
