"""catalog metadata: a dataset's title, keywords, licence, terms, contact, time coverage, and
when its node first registered it

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_EPOCH = "1970-01-01 00:00:00"


def upgrade() -> None:
    op.add_column("datasets", sa.Column("title", sa.String(200), nullable=False, server_default=""))
    op.add_column("datasets", sa.Column("keywords", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column(
        "datasets", sa.Column("licence", sa.String(300), nullable=False, server_default="")
    )
    op.add_column("datasets", sa.Column("terms", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "datasets", sa.Column("contact", sa.String(300), nullable=False, server_default="")
    )
    op.add_column("datasets", sa.Column("coverage_start", sa.Date(), nullable=True))
    op.add_column("datasets", sa.Column("coverage_end", sa.Date(), nullable=True))
    # A constant default (SQLite adds no column with a computed one), then the best estimate of
    # when each existing registration was made.
    op.add_column(
        "datasets",
        sa.Column("registered_at", sa.DateTime(), nullable=False, server_default=_EPOCH),
    )
    op.execute("UPDATE datasets SET registered_at = updated_at")


def downgrade() -> None:
    for column in (
        "registered_at",
        "coverage_end",
        "coverage_start",
        "contact",
        "terms",
        "licence",
        "keywords",
        "title",
    ):
        op.drop_column("datasets", column)
