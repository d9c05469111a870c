"""The schema is owned by migrations: they match the models, and an upgrade keeps the data."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.orm import Session

from causeway.hub import tokens
from causeway.hub.accounts import HUB_ORGANISATION, Role, add_user
from causeway.hub.db import MIGRATIONS, Base, NodeRecord, Organisation, User, make_engine, migrate
from causeway.hub.tokens import hash_token
from causeway.model.errors import AuthenticationError


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


def _upgrade_identity_from_0005(url: str) -> None:
    """A 0005 database with two users (one without an organisation, one inactive) and a retired
    node, brought to the newest schema."""
    engine = make_engine(url)
    try:
        migrate(engine, "0005")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO organisations (name, created_at) "
                    "VALUES ('north hospital', '2026-01-01')"
                )
            )
            north = conn.execute(sa.text("SELECT id FROM organisations")).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO users (name, role, organisation_id, token_hash, active, "
                    "created_at) VALUES "
                    f"('root', 'admin', NULL, '{hash_token('cw_root')}', TRUE, '2026-01-01'),"
                    f"('ada', 'researcher', {north}, '{hash_token('cw_ada')}', FALSE, '2026-01-02')"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO nodes (name, organisation_id, public_key, active, enrolled_at) "
                    f"VALUES ('north', {north}, 'k', FALSE, '2026-01-03')"
                )
            )
        migrate(engine)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        with Session(engine) as session:
            root = session.scalar(sa.select(User).where(User.name == "root"))
            ada = session.scalar(sa.select(User).where(User.name == "ada"))
            assert root is not None and ada is not None
            assert session.get(Organisation, root.organisation_id).name == HUB_ORGANISATION  # type: ignore[union-attr]
            assert (root.status, ada.status) == ("active", "suspended")
            assert tokens.authenticate(session, "cw_root").name == "root"
            with pytest.raises(AuthenticationError, match="ada is suspended"):
                tokens.authenticate(session, "cw_ada")
            node = session.scalar(sa.select(NodeRecord))
            assert node is not None and node.retired_at is not None
    finally:
        engine.dispose()


def test_upgrading_to_identity_keeps_tokens_and_places_everyone(tmp_path: Path) -> None:
    _upgrade_identity_from_0005(f"sqlite:///{tmp_path / 'hub.sqlite'}")


def test_upgrading_to_identity_on_postgresql(postgres_url: str) -> None:
    _upgrade_identity_from_0005(postgres_url)


def test_identity_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    migrate(engine)
    with Session(engine) as session, session.begin():
        add_user(session, "root", Role.ADMIN, None)
    migrate(engine, "0005", downgrade=True)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT token_hash IS NOT NULL FROM users")).scalar()
    migrate(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
