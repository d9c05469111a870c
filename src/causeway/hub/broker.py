"""The task broker: queues one assignment per node per round, collects contributions, combines.

The hub keeps no state between requests: every step reads and writes the database, so several
replicas can share one PostgreSQL. The round's last contribution triggers ``combine``, under a row
lock on the task.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from causeway.algorithms import Final, get_algorithm
from causeway.crypto.keys import sign
from causeway.hub import catalog, review
from causeway.hub.db import (
    AssignmentRecord,
    BudgetRecord,
    DatasetRecord,
    NodeRecord,
    Project,
    Task,
    User,
    utcnow,
)
from causeway.model.canonical import canonical_json
from causeway.model.contribution import Contribution, aggregate
from causeway.model.dictionary import Dictionary
from causeway.model.disclosure import Check, DisclosureReport, merge_checks
from causeway.model.errors import (
    CausewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    TaskFailed,
    Unavailable,
)
from causeway.model.levels import Level
from causeway.model.task import Assignment, TaskSpec
from causeway.query import check, from_json

log = logging.getLogger("causeway.hub")
LEASE_SECONDS = 60.0  # a claimed assignment not answered by then is delivered again
ROUND_TIMEOUT_SECONDS = 300.0  # a round still waiting for a site after this fails


def create_task(
    session: Session, key: Ed25519PrivateKey, user: User, spec: TaskSpec
) -> tuple[Task, list[str]]:
    """Check everything the hub can check, then queue round 0 at the project's sites that hold the
    dataset (fixed for the task's life). Returns the task and the names of the nodes given work."""
    project = catalog.project_for(session, user, spec.project, spec.dataset)
    try:
        canonical_json(spec.to_json())
    except ValueError:
        raise InvalidRequest(
            "filters and parameters take finite numbers only (no NaN or Infinity)"
        ) from None
    algorithm = get_algorithm(spec.algorithm)
    entry = catalog.entry(session, spec.dataset, list(project.sites))
    if entry.dictionary is None:
        raise InvalidRequest(f"dataset {spec.dataset!r} cannot be analysed: {entry.problem}")
    if spec.where is not None:
        check(from_json(spec.where), entry.dictionary)
    params = algorithm.parse(spec.params)
    prepared = algorithm.prepare(params, entry.dictionary)
    # The hub, not the researcher, decides what is held: every output of an L3 dataset. The
    # parameters travel in their full wire form (defaults and version written out).
    level = Level.parse(entry.level)
    spec = dataclasses.replace(spec, held=level is Level.L3, params=algorithm.encode_params(params))
    state = dict(algorithm.initial_state(prepared, entry.dictionary))
    if level in (Level.L2, Level.L3):
        algorithm.check_private(prepared, entry.dictionary)
        state["private"] = True  # algorithms with a private variant (GLM) use it
    task = Task(
        id=str(uuid.uuid4()),
        user_id=user.id,
        spec=spec.to_json(),
        dictionary=entry.dictionary.to_json(),
        state=state,
        sites=list(entry.sites),
        round=0,
    )
    session.add(task)
    session.flush()
    return task, _queue_round(session, key, task)


def _queue_round(session: Session, key: Ed25519PrivateKey, task: Task) -> list[str]:
    spec = TaskSpec.from_json(task.spec)
    nodes = list(
        session.execute(
            select(NodeRecord)
            .join(DatasetRecord, DatasetRecord.node_id == NodeRecord.id)
            .where(
                DatasetRecord.name == spec.dataset,
                NodeRecord.active,
                NodeRecord.name.in_(task.sites),
            )
            .order_by(NodeRecord.name)
        ).scalars()
    )
    missing = sorted(set(task.sites) - {node.name for node in nodes})
    if missing:
        _fail(task, Unavailable.code, f"site(s) {', '.join(missing)} left during the task")
        return []
    task.updated_at = utcnow()  # the round's clock starts now
    queued = []
    for node in nodes:
        queued.append(node.name)
        assignment = Assignment(
            task_id=task.id,
            round=task.round,
            node=node.name,
            spec=spec,
            state=task.state,
            dictionary=task.dictionary,
            issued_at=time.time(),
        )
        payload = assignment.to_json()
        session.add(
            AssignmentRecord(
                task_id=task.id,
                node_id=node.id,
                round=task.round,
                payload=payload,
                signature=sign(key, canonical_json(payload)),
            )
        )
    return queued


def _deliverable(node_id: int) -> ColumnElement[bool]:
    """Pending assignments of a node, and claimed ones whose lease ran out (the node crashed or
    its answer was lost): those are delivered again."""
    expired = utcnow() - dt.timedelta(seconds=LEASE_SECONDS)
    return (AssignmentRecord.node_id == node_id) & (
        (AssignmentRecord.status == "pending")
        | ((AssignmentRecord.status == "claimed") & (AssignmentRecord.claimed_at < expired))
    )


def has_pending(session: Session, node_id: int) -> bool:
    """Whether the node has an assignment waiting (a cheap read before :func:`claim`)."""
    found = session.scalar(select(AssignmentRecord.id).where(_deliverable(node_id)).limit(1))
    return found is not None


def claim(session: Session, node: NodeRecord) -> list[AssignmentRecord]:
    """The node's deliverable assignments, marked as claimed (leased) from now."""
    found = list(
        session.scalars(
            select(AssignmentRecord)
            .where(_deliverable(node.id))
            .order_by(AssignmentRecord.id)
            .with_for_update(skip_locked=True)
        )
    )
    now = utcnow()
    for record in found:
        record.status, record.claimed_at = "claimed", now
    return found


def submit(
    session: Session,
    key: Ed25519PrivateKey,
    node: NodeRecord,
    assignment_id: int,
    contribution: dict[str, Any] | None,
    error: dict[str, Any] | None,
) -> list[str]:
    """Record a node's answer; returns the nodes given new work (the next round's)."""
    record = session.get(AssignmentRecord, assignment_id)
    if record is None or record.node_id != node.id:
        raise NotFound(f"no assignment {assignment_id} for node {node.name}")
    if record.status not in ("pending", "claimed"):
        raise PermissionDenied(f"assignment {assignment_id} was answered already")
    task = session.scalars(select(Task).where(Task.id == record.task_id).with_for_update()).one()
    if task.status != "running" or task.round != record.round:
        record.status = "stale"
        return []
    if error is None and contribution is None:
        raise InvalidRequest("send a contribution or an error")
    if error is None:
        try:
            _check_contribution(Contribution.from_json(contribution or {}), task, record)
        except InvalidRequest as exc:
            error = {"code": exc.code, "detail": f"sent a contribution the hub cannot use: {exc}"}
    if error is not None:
        record.status, record.error = "failed", error
        detail = str(error.get("detail", "failed"))
        _fail(task, str(error.get("code", TaskFailed.code)), f"site {node.name}: {detail}")
        return []
    record.status, record.contribution = "done", contribution
    _record_budget(session, node, TaskSpec.from_json(task.spec), contribution or {})
    session.flush()
    return _maybe_combine(session, key, task)


def _check_contribution(item: Contribution, task: Task, record: AssignmentRecord) -> None:
    spec = TaskSpec.from_json(task.spec)
    if (item.task_id, item.round, item.dataset, item.algorithm) != (
        task.id,
        record.round,
        spec.dataset,
        spec.algorithm,
    ):
        raise InvalidRequest("the contribution answers a different task, round or dataset")
    profile = get_algorithm(spec.algorithm).profile
    undeclared = [name for name in item.parts if name not in profile.parts]
    if undeclared or set(item.meta) - profile.meta:
        raise InvalidRequest("the contribution carries parts its algorithm does not declare")


def _maybe_combine(session: Session, key: Ed25519PrivateKey, task: Task) -> list[str]:
    records = list(
        session.scalars(
            select(AssignmentRecord).where(
                AssignmentRecord.task_id == task.id, AssignmentRecord.round == task.round
            )
        )
    )
    if any(r.status != "done" for r in records):
        return []
    spec = TaskSpec.from_json(task.spec)
    algorithm = get_algorithm(spec.algorithm)
    try:
        total = aggregate(Contribution.from_json(r.contribution or {}) for r in records)
        dictionary = Dictionary.from_json(task.dictionary)
        prepared = algorithm.prepare(spec.params, dictionary)
        outcome = algorithm.combine(total, prepared, task.state, dictionary)
    except CausewayError as exc:
        _fail(task, exc.code, exc.detail)
        return []
    except Exception:  # a bug in combine must fail the task, never leave it running
        log.exception("combining task %s failed", task.id)
        _fail(task, "E999", "the hub hit an internal error combining the results (logged)")
        return []
    task.updated_at = utcnow()
    if isinstance(outcome, Final):
        report = _disclosure(session, task)
        task.result = {**algorithm.encode_result(outcome.result), "disclosure": report}
        task.status = review.HELD if spec.held else "done"
        return []
    if task.round + 1 >= algorithm.max_rounds:
        _fail(
            task,
            TaskFailed.code,
            f"{spec.algorithm} did not finish in {algorithm.max_rounds} rounds",
        )
        return []
    state = dict(outcome.state)
    if task.state.get("private"):  # the privacy mode holds for the task's life
        state["private"] = True
    task.round, task.state, task.note = task.round + 1, state, outcome.note
    return _queue_round(session, key, task)


def _record_budget(
    session: Session, node: NodeRecord, spec: TaskSpec, contribution: dict[str, Any]
) -> None:
    """Keep what the node says its budget for this project and dataset is now (shown at the
    hub; the node's own count is the one enforced)."""
    budget = contribution.get("budget")
    if not isinstance(budget, dict):
        return
    found = session.scalar(
        select(BudgetRecord).where(
            BudgetRecord.project == spec.project,
            BudgetRecord.dataset == spec.dataset,
            BudgetRecord.node_id == node.id,
        )
    )
    if found is None:
        found = BudgetRecord(project=spec.project, dataset=spec.dataset, node_id=node.id)
        session.add(found)
    found.budget, found.updated_at = dict(budget), utcnow()


def budgets(session: Session, user: User, project: str, dataset: str) -> list[dict[str, Any]]:
    """Each site's last reported budget of ``project`` on ``dataset``, for the project's members
    (and admins and auditors)."""
    found = session.scalar(select(Project).where(Project.name == project))
    if found is None or (user.name not in found.members and user.role not in ("admin", "auditor")):
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


def _disclosure(session: Session, task: Task) -> dict[str, Any]:
    """Every site's gate report over all the task's rounds, each distinct check once."""
    rows = session.execute(
        select(NodeRecord.name, AssignmentRecord.contribution)
        .join(NodeRecord, NodeRecord.id == AssignmentRecord.node_id)
        .where(AssignmentRecord.task_id == task.id, AssignmentRecord.status == "done")
        .order_by(AssignmentRecord.round, NodeRecord.name)
    ).all()
    rounds: dict[str, list[list[Check]]] = {}
    for site, contribution in rows:
        checks = [Check.from_json(c) for c in (contribution or {}).get("report", [])]
        rounds.setdefault(site, []).append(checks)
    sites = {site: merge_checks(found) for site, found in rounds.items()}
    return DisclosureReport(sites).to_json()


def _fail(task: Task, code: str, detail: str) -> None:
    task.status, task.error, task.updated_at = "failed", {"code": code, "detail": detail}, utcnow()


def task_for(
    session: Session, user: User, task_id: str, round_timeout: float = ROUND_TIMEOUT_SECONDS
) -> Task:
    """The task as its owner (or an admin or auditor) may see it; a round that has waited longer
    than ``round_timeout`` for some site fails, naming the silent sites."""
    task = session.get(Task, task_id)
    if task is None or (task.user_id != user.id and user.role not in ("admin", "auditor")):
        raise NotFound(f"no task {task_id}")
    if task.status == "running" and utcnow() - task.updated_at > dt.timedelta(
        seconds=round_timeout
    ):
        silent = session.scalars(
            select(NodeRecord.name)
            .join(AssignmentRecord, AssignmentRecord.node_id == NodeRecord.id)
            .where(
                AssignmentRecord.task_id == task.id,
                AssignmentRecord.round == task.round,
                AssignmentRecord.status.in_(("pending", "claimed")),
            )
            .order_by(NodeRecord.name)
        ).all()
        _fail(
            task,
            Unavailable.code,
            f"no answer within {round_timeout:g}s from site(s) {', '.join(silent) or '?'}",
        )
    return task
