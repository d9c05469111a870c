"""secure aggregation: nodes' aggregation keys, a task's secure round, attempts and phases

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("nodes", sa.Column("agg_key", sa.String(100), nullable=True))
    op.add_column("nodes", sa.Column("agg_key_version", sa.Integer(), nullable=True))
    op.add_column("nodes", sa.Column("agg_key_signature", sa.String(120), nullable=True))
    op.add_column("tasks", sa.Column("secure", sa.JSON(), nullable=True))
    # the unique step of an assignment gains the attempt and the phase of a secure round
    columns = (
        sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("phase", sa.String(10), nullable=False, server_default="plain"),
    )
    step = ["task_id", "node_id", "round", "attempt", "phase"]
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's constraint has no name: reflected under this convention, it gets one
        convention = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
        with op.batch_alter_table(
            "assignments", recreate="always", naming_convention=convention
        ) as batch:
            batch.drop_constraint("uq_assignments_task_id", type_="unique")
            for column in columns:
                batch.add_column(column)
            batch.create_unique_constraint("uq_assignments_step", step)
    else:
        op.drop_constraint("assignments_task_id_node_id_round_key", "assignments", type_="unique")
        for column in columns:
            op.add_column("assignments", column)
        op.create_unique_constraint("uq_assignments_step", "assignments", step)


def downgrade() -> None:
    with op.batch_alter_table("assignments", recreate="always") as batch:
        batch.drop_constraint("uq_assignments_step", type_="unique")
        batch.drop_column("phase")
        batch.drop_column("attempt")
        batch.create_unique_constraint("uq_assignments_round", ["task_id", "node_id", "round"])
    op.drop_column("tasks", "secure")
    op.drop_column("nodes", "agg_key_signature")
    op.drop_column("nodes", "agg_key_version")
    op.drop_column("nodes", "agg_key")
