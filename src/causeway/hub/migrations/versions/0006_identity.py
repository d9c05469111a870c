"""identity: API tokens in a table of their own (many per user, with expiry, last use and
revocation), a user's status (active, suspended, deleted), committee and seniority, every user in
an organisation, and a node's retirement and key change

Existing data: each user's one token hash becomes their first token (no expiry); a user marked
inactive becomes suspended; users without an organisation join the organisation ``hub`` (the
operator's, created if needed); an inactive node counts as retired since its enrolment.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HUB_ORGANISATION = "hub"  # causeway.hub.accounts.HUB_ORGANISATION when this was written

users = sa.table(
    "users",
    sa.column("id", sa.Integer()),
    sa.column("organisation_id", sa.Integer()),
    sa.column("token_hash", sa.String()),
    sa.column("active", sa.Boolean()),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime()),
)
organisations = sa.table(
    "organisations",
    sa.column("id", sa.Integer()),
    sa.column("name", sa.String()),
    sa.column("created_at", sa.DateTime()),
)
nodes = sa.table(
    "nodes",
    sa.column("active", sa.Boolean()),
    sa.column("enrolled_at", sa.DateTime()),
    sa.column("retired_at", sa.DateTime()),
)


def upgrade() -> None:
    op.add_column("users", sa.Column("committee", sa.String(20), nullable=True))
    op.add_column(
        "users", sa.Column("senior", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "users", sa.Column("status", sa.String(20), nullable=False, server_default="active")
    )
    op.execute(users.update().where(users.c.active == sa.false()).values(status="suspended"))
    _give_everyone_an_organisation()
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_tokens_user_id"), "tokens", ["user_id"], unique=False)
    tokens = sa.table(
        "tokens",
        *(sa.column(c) for c in ("user_id", "token_hash", "prefix", "label", "created_at")),
    )
    op.execute(
        tokens.insert().from_select(
            ["user_id", "token_hash", "prefix", "label", "created_at"],
            sa.select(
                users.c.id,
                users.c.token_hash,
                sa.literal("cw_"),
                sa.literal("issued before token management"),
                users.c.created_at,
            ),
        )
    )
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_hash")
        batch.drop_column("active")
        batch.alter_column("organisation_id", existing_type=sa.Integer(), nullable=False)
    op.add_column("nodes", sa.Column("retired_at", sa.DateTime(), nullable=True))
    op.add_column("nodes", sa.Column("key_changed_at", sa.DateTime(), nullable=True))
    op.execute(
        nodes.update().where(nodes.c.active == sa.false()).values(retired_at=nodes.c.enrolled_at)
    )


def _give_everyone_an_organisation() -> None:
    bind = op.get_bind()
    orphans = bind.scalar(
        sa.select(sa.func.count()).select_from(users).where(users.c.organisation_id.is_(None))
    )
    if not orphans:
        return
    found = bind.scalar(
        sa.select(organisations.c.id).where(organisations.c.name == HUB_ORGANISATION)
    )
    if found is None:
        bind.execute(
            organisations.insert().values(
                name=HUB_ORGANISATION, created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)
            )
        )
        found = bind.scalar(
            sa.select(organisations.c.id).where(organisations.c.name == HUB_ORGANISATION)
        )
    bind.execute(
        users.update().where(users.c.organisation_id.is_(None)).values(organisation_id=found)
    )


def downgrade() -> None:
    op.drop_column("nodes", "key_changed_at")
    op.drop_column("nodes", "retired_at")
    with op.batch_alter_table("users") as batch:
        batch.alter_column("organisation_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    tokens = sa.table("tokens", sa.column("user_id"), sa.column("token_hash"), sa.column("id"))
    first = (
        sa.select(tokens.c.token_hash)
        .where(tokens.c.user_id == users.c.id)
        .order_by(tokens.c.id)
        .limit(1)
        .scalar_subquery()
    )
    op.execute(users.update().values(token_hash=first))
    op.execute(users.update().where(users.c.status != "active").values(active=sa.false()))
    op.drop_index(op.f("ix_tokens_user_id"), table_name="tokens")
    op.drop_table("tokens")
    with op.batch_alter_table("users") as batch:
        batch.create_unique_constraint("uq_users_token_hash", ["token_hash"])
        batch.drop_column("status")
        batch.drop_column("senior")
        batch.drop_column("committee")
