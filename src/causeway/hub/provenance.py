"""A result's provenance: the datasets, the project and the approvals behind it, the sites and
rounds that produced it, and the ledger entries that record each step (whose inclusion anyone can
check against a signed tree head)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from causeway.hub import applications, broker
from causeway.hub.applications import StageState
from causeway.hub.db import AssignmentRecord, LedgerEntry, NodeRecord, Project, User
from causeway.model.task import TaskSpec


@dataclass(frozen=True)
class Step:
    """One ledger entry about the task: its index and type, and what it says in brief."""

    index: int
    type: str
    summary: str


@dataclass(frozen=True)
class Provenance:
    task_id: str
    algorithm: str
    dataset: str
    project: str
    use: str
    application_id: int | None
    application_title: str
    stages: list[StageState]
    rounds: dict[str, list[int]]  # each site's answered rounds
    result_sha256: str | None
    steps: list[Step]


def of_task(session: Session, user: User, task_id: str) -> Provenance:
    """The provenance of a task ``user`` may see (their own; every task for admins, auditors)."""
    task = broker.task_for(session, user, task_id)
    spec = TaskSpec.from_json(task.spec)
    project = session.scalar(select(Project).where(Project.name == spec.project))
    application = None if project is None else applications.application_for(session, project)
    answered = session.execute(
        select(NodeRecord.name, AssignmentRecord.round)
        .join(NodeRecord, NodeRecord.id == AssignmentRecord.node_id)
        .where(AssignmentRecord.task_id == task.id, AssignmentRecord.status == "done")
        .order_by(NodeRecord.name, AssignmentRecord.round)
    ).all()
    rounds: dict[str, list[int]] = {}
    for site, number in answered:
        if number not in rounds.setdefault(str(site), []):
            rounds[str(site)].append(int(number))
    steps, digest = _steps(session, task.id)
    return Provenance(
        task_id=task.id,
        algorithm=spec.algorithm,
        dataset=spec.dataset,
        project=spec.project,
        use=project.use if project else "",
        application_id=application.id if application else None,
        application_title=application.title if application else "",
        stages=applications.stages_of(session, project) if project else [],
        rounds=rounds,
        result_sha256=digest,
        steps=steps,
    )


def _steps(session: Session, task_id: str) -> tuple[list[Step], str | None]:
    """The entries naming the task (its own rows, its assignments, its contributions)."""
    found = session.execute(
        select(LedgerEntry.index, LedgerEntry.entry)
        .where(LedgerEntry.entry.contains(f'"{task_id}"'))
        .order_by(LedgerEntry.index)
    ).all()
    steps, digest = [], None
    for index, text in found:
        body = json.loads(text)
        data = body.get("data") or {}
        brief = ", ".join(
            f"{k}={data[k]}" for k in ("status", "round", "phase", "node_id") if k in data
        )
        if body.get("table") == "tasks" and isinstance(data.get("result"), dict):
            digest = str(data["result"]["sha256"])
        steps.append(Step(int(index), str(body["type"]), brief))
    return steps, digest
