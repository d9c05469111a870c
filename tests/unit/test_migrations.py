"""The schema is owned by migrations: they match the models, and an upgrade keeps the data."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from causeway.hub.db import MIGRATIONS, Base, make_engine, migrate


def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    migrate(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_upgrading_from_the_first_schema_keeps_the_data(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            sa.text(
                "INSERT INTO projects (name, status, datasets, members, created_at) "
                "VALUES ('old', 'approved', '[\"cohort\"]', '[\"ada\"]', '2026-01-01')"
            )
        )
    migrate(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT name, datasets, sites FROM projects")).one()
    assert tuple(row) == ("old", '["cohort"]', "[]")
