"""Shared test fixtures: where the shared data lives, and the PostgreSQL server when there is one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
POSTGRES_ADMIN_URL = os.environ.get(
    "CAUSEWAY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared test data, absent in a user's clone)")
    return path


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test; skipped with a reason where no server runs (CI
    must have one, so there it fails instead)."""
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs PostgreSQL at {POSTGRES_ADMIN_URL}: {exc}")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_ADMIN_URL}")
    name = f"causeway_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


POSTGRES_TYPES = {
    "numeric": "double precision",
    "integer": "bigint",
    "boolean": "boolean",
    "date": "date",
    "categorical": "text",
    "text": "text",
}


class WarehouseSchema:
    """A schema of its own in the test PostgreSQL, for tables a node reads as a warehouse."""

    def __init__(self, url: str, schema: str) -> None:
        self.url = url  # a libpq URL (psycopg's), no password
        self.schema = schema

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql, list(params))

    def load(self, table: str, frame: Any, dictionary: Any, *, key: str = "row_id") -> Any:
        """``frame`` as table ``schema.table`` typed by ``dictionary``, with an integer primary
        key ``key`` numbering the rows from 0 (the DuckDB store's row ids), unless the frame has
        that column already; the WarehouseSource that reads it."""
        import pandas as pd
        import psycopg

        from causeway.model.dictionary import level_text
        from causeway.node.warehouse import WarehouseSource

        columns = [f'"{c.name}" {POSTGRES_TYPES[c.type.value]}' for c in dictionary.columns]
        names = [c.name for c in dictionary.columns]
        if key not in names:
            columns.insert(0, f'"{key}" bigint PRIMARY KEY')
        relation = f'"{self.schema}"."{table}"'
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {relation} ({', '.join(columns)})")
            keyed = names if key in names else [key, *names]
            quoted = ", ".join(f'"{n}"' for n in keyed)
            with conn.cursor().copy(f"COPY {relation} ({quoted}) FROM STDIN") as copy:
                for i, row in enumerate(frame[names].itertuples(index=False)):
                    values = []
                    for column, value in zip(dictionary.columns, row, strict=True):
                        if value is None or (not isinstance(value, str) and pd.isna(value)):
                            values.append(None)
                        elif column.type.value == "categorical":
                            values.append(level_text(value))
                        elif column.type.value == "integer":
                            values.append(int(value))
                        elif column.type.value == "boolean":
                            values.append(bool(value))
                        else:
                            values.append(value)
                    copy.write_row(([] if key in names else [i]) + values)
        return WarehouseSource(self.url, f"{self.schema}.{table}", key)


@pytest.fixture(scope="module")
def warehouse() -> Iterator[WarehouseSchema]:
    """A schema with a unique name in the test PostgreSQL for one test module, dropped after;
    skipped with a reason where no server runs (CI must have one, so there it fails instead)."""
    import psycopg

    url = POSTGRES_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs PostgreSQL at {url}: {exc}")
        pytest.skip(f"no PostgreSQL server at {url} (the warehouse tests need one)")
    schema = f"causeway_wh_{uuid.uuid4().hex[:12]}"
    helper = WarehouseSchema(url, schema)
    helper.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield helper
    finally:
        helper.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
