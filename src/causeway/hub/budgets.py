"""Privacy budgets as the nodes report them: each project's budget on a dataset at each site.

The node keeps the authoritative count and enforces it; the hub keeps the last report of each
node, to show researchers and auditors what is left.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from causeway.hub.accounts import Role, has_role
from causeway.hub.db import BudgetRecord, NodeRecord, Project, User, utcnow
from causeway.model.errors import NotFound
from causeway.model.task import TaskSpec


def record(session: Session, node_id: int, spec: TaskSpec, contribution: dict[str, Any]) -> None:
    """Keep what the node says its budget for this project and dataset is now (shown at the
    hub; the node's own count is the one enforced)."""
    budget = contribution.get("budget")
    if not isinstance(budget, dict):
        return
    found = session.scalar(
        select(BudgetRecord).where(
            BudgetRecord.project == spec.project,
            BudgetRecord.dataset == spec.dataset,
            BudgetRecord.node_id == node_id,
        )
    )
    if found is None:
        found = BudgetRecord(project=spec.project, dataset=spec.dataset, node_id=node_id)
        session.add(found)
    found.budget, found.updated_at = dict(budget), utcnow()


def reported(session: Session, user: User, project: str, dataset: str) -> list[dict[str, Any]]:
    """Each site's last reported budget of ``project`` on ``dataset``, for the project's members
    (and admins and auditors)."""
    found = session.scalar(select(Project).where(Project.name == project))
    if found is None or (
        user.name not in found.members and not has_role(user, Role.ADMIN, Role.AUDITOR)
    ):
        raise NotFound(f"no project {project!r} of yours")
    rows = session.execute(
        select(NodeRecord.name, BudgetRecord.budget, BudgetRecord.updated_at)
        .join(NodeRecord, NodeRecord.id == BudgetRecord.node_id)
        .where(BudgetRecord.project == project, BudgetRecord.dataset == dataset)
        .order_by(NodeRecord.name)
    ).all()
    return [
        {"site": site, **budget, "updated_at": updated.isoformat()}
        for site, budget, updated in rows
    ]
