"""dataset quality: each site's last data quality summary of a dataset (counts of checks passed
and failed per category, as the node published them; never a count of rows)

Existing data: no summary until the node publishes again after assessing the dataset.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("datasets", sa.Column("quality", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("quality")
