"""applications: a project's purpose, analyses and expiry (the terms a steward approves),
researchers' applications with their ethics documents, and every review of a project

Existing projects were created approved by an admin: they keep that status, with no purpose, every
analysis known when this was written, and no expiry. Their stewards approve them again at their
nodes, since a node's approval is now bound to the project's terms.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ANALYSES = [  # causeway.algorithms.registry.names() when this was written
    "corr", "count", "cox", "crosstab", "glm", "glm_meta", "km", "quantiles", "summary", "ttest",
]  # fmt: skip

projects = sa.table("projects", sa.column("analyses", sa.JSON()))


def upgrade() -> None:
    op.add_column("projects", sa.Column("purpose", sa.Text(), nullable=False, server_default=""))
    op.add_column("projects", sa.Column("analyses", sa.JSON(), nullable=True))
    op.add_column("projects", sa.Column("expires_at", sa.DateTime(), nullable=True))
    op.execute(projects.update().values(analyses=ANALYSES))
    with op.batch_alter_table("projects") as batch:
        batch.alter_column("analyses", existing_type=sa.JSON(), nullable=False)
    op.create_table(
        "documents",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("protocol", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=4), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("ethics_reference", sa.String(length=300), nullable=False),
        sa.Column("ethics_document", sa.String(length=64), nullable=True),
        sa.Column("duration_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["applicant_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"]),
        sa.ForeignKeyConstraint(["ethics_document"], ["documents.sha256"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id"),
    )
    op.create_index("ix_applications_applicant_id", "applications", ["applicant_id"])
    op.create_index("ix_applications_organisation_id", "applications", ["organisation_id"])
    op.create_table(
        "application_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=120), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("node_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_application_reviews_project_id", "application_reviews", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_application_reviews_project_id", table_name="application_reviews")
    op.drop_table("application_reviews")
    op.drop_index("ix_applications_organisation_id", table_name="applications")
    op.drop_index("ix_applications_applicant_id", table_name="applications")
    op.drop_table("applications")
    op.drop_table("documents")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("analyses")
        batch.drop_column("purpose")
