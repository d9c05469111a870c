"""project and task sites; assignment leases

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing projects and tasks get no sites: an old project must be given its sites again
    # (work is never sent to a node a project does not name).
    op.add_column("projects", sa.Column("sites", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("tasks", sa.Column("sites", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("assignments", sa.Column("claimed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("assignments", "claimed_at")
    op.drop_column("tasks", "sites")
    op.drop_column("projects", "sites")
