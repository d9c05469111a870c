"""ownership, usage terms and contributions: a dataset's signed ownership claim, version and
machine-readable usage terms; a project's declared use and the usage terms it accepted; what each
hospital contributed to each released result

Existing data: datasets are at version 1 with no claim until their node publishes again (it signs
one then); existing projects are for "research" and accepted no terms (a node with restrictive
terms refuses them until they accept: POST /api/projects/{name}/accept-terms).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

projects = sa.table("projects", sa.column("accepted", sa.JSON()))


def upgrade() -> None:
    op.add_column("datasets", sa.Column("usage", sa.JSON(), nullable=True))
    op.add_column("datasets", sa.Column("claim", sa.JSON(), nullable=True))
    op.add_column("datasets", sa.Column("claim_signature", sa.String(length=120), nullable=True))
    op.add_column(
        "datasets", sa.Column("version", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column(
        "projects",
        sa.Column("use", sa.String(length=40), nullable=False, server_default="research"),
    )
    op.add_column("projects", sa.Column("accepted", sa.JSON(), nullable=True))
    op.execute(projects.update().values(accepted=[]))
    with op.batch_alter_table("projects") as batch:
        batch.alter_column("accepted", existing_type=sa.JSON(), nullable=False)
    op.create_table(
        "contributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("dataset", sa.String(length=100), nullable=False),
        sa.Column("algorithm", sa.String(length=40), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("credits", sa.Double(), nullable=False),
        sa.Column("released_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"]),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "node_id"),
    )
    op.create_index("ix_contributions_task_id", "contributions", ["task_id"])
    op.create_index("ix_contributions_node_id", "contributions", ["node_id"])
    op.create_index("ix_contributions_project", "contributions", ["project"])
    op.create_index("ix_contributions_released_at", "contributions", ["released_at"])


def downgrade() -> None:
    for index in ("released_at", "project", "node_id", "task_id"):
        op.drop_index(f"ix_contributions_{index}", table_name="contributions")
    op.drop_table("contributions")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("accepted")
        batch.drop_column("use")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("version")
        batch.drop_column("claim_signature")
        batch.drop_column("claim")
        batch.drop_column("usage")
