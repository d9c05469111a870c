"""Output checking: an L3 dataset's result is held until two output checkers have each decided.

The checkers see the result and its disclosure report, never each other's decision until both
have decided, and neither may be the researcher who asked. Two releases release the result; any
rejection fails the task; a request for changes fails it with the checkers' comments. Every
decision is kept with who made it and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from causeway.hub import contributions
from causeway.hub.accounts import Role, has_role, require
from causeway.hub.db import OutputReview, Task, User, utcnow
from causeway.hub.status import TaskStatus
from causeway.model.choice import parse_choice
from causeway.model.errors import (
    Conflict,
    DisclosureRefused,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)

CHECKERS_NEEDED = 2


class Decision(StrEnum):
    RELEASE = "release"
    REJECT = "reject"
    CHANGES = "changes"

    @classmethod
    def parse(cls, text: str) -> Decision:
        return parse_choice(cls, text, "decision")


@dataclass(frozen=True)
class HeldOutput:
    """What a checker sees of a held task: the question, the result and its disclosure report
    (never another checker's decision: see :func:`decisions`)."""

    task_id: str
    algorithm: str
    dataset: str
    project: str
    where: dict[str, Any] | None
    params: dict[str, Any]
    result: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "algorithm": self.algorithm,
            "dataset": self.dataset,
            "project": self.project,
            "where": self.where,
            "params": self.params,
            "result": self.result,
        }


def pending(session: Session, checker: User) -> list[HeldOutput]:
    """Held outputs this checker may still decide on (not their own, not decided by them)."""
    require(checker, Role.OUTPUT_CHECKER)
    decided = set(
        session.scalars(select(OutputReview.task_id).where(OutputReview.checker_id == checker.id))
    )
    tasks = session.scalars(
        select(Task)
        .where(Task.status == TaskStatus.HELD, Task.user_id != checker.id)
        .order_by(Task.created_at)
    )
    return [_held(task) for task in tasks if task.id not in decided]


def decide(session: Session, checker: User, task_id: str, decision: Decision, comment: str) -> Task:
    require(checker, Role.OUTPUT_CHECKER)
    task = session.scalars(select(Task).where(Task.id == task_id).with_for_update()).first()
    if task is None or task.status != TaskStatus.HELD:
        raise NotFound(f"no held output {task_id}")
    if task.user_id == checker.id:
        raise PermissionDenied("the researcher who asked cannot check their own output")
    if decision is not Decision.RELEASE and not comment.strip():
        raise InvalidRequest("say why: a rejection or a request for changes needs a comment")
    exists = session.scalar(
        select(OutputReview).where(
            OutputReview.task_id == task_id, OutputReview.checker_id == checker.id
        )
    )
    if exists is not None:
        raise Conflict(f"you decided on {task_id} already")
    session.add(
        OutputReview(
            task_id=task_id,
            checker_id=checker.id,
            decision=decision.value,
            comment=comment,
            decided_at=utcnow(),
        )
    )
    session.flush()
    reviews = _reviews(session, task_id)
    if len(reviews) >= CHECKERS_NEEDED:
        _conclude(task, reviews)
    return task


def decisions(session: Session, user: User, task_id: str) -> list[dict[str, Any]]:
    """The decisions on a task, for its requester, its checkers, an admin or an auditor, once
    every checker has decided (blinded until then)."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"no task {task_id}")
    reviews = _reviews(session, task_id)
    involved = {r.checker_id for r in reviews} | {task.user_id}
    if user.id not in involved and not has_role(
        user, Role.ADMIN, Role.AUDITOR, Role.OUTPUT_CHECKER
    ):
        raise NotFound(f"no task {task_id}")
    if len(reviews) < CHECKERS_NEEDED:
        return []
    return [_decision(session, r) for r in reviews]


def _conclude(task: Task, reviews: list[OutputReview]) -> None:
    chosen = {Decision(r.decision) for r in reviews}
    comments = "; ".join(r.comment for r in reviews if r.comment.strip())
    task.updated_at = utcnow()
    if chosen == {Decision.RELEASE}:
        task.status = TaskStatus.DONE
        session = object_session(task)
        if session is not None:
            contributions.record(session, task)
    elif Decision.REJECT in chosen:
        task.status, task.result = TaskStatus.FAILED, None
        task.error = {
            "code": DisclosureRefused.code,
            "detail": f"output checking rejected the result: {comments}",
        }
    else:
        task.status, task.result = TaskStatus.FAILED, None
        task.error = {
            "code": DisclosureRefused.code,
            "detail": f"output checkers asked for changes: {comments}",
        }


def _reviews(session: Session, task_id: str) -> list[OutputReview]:
    return list(
        session.scalars(
            select(OutputReview)
            .where(OutputReview.task_id == task_id)
            .order_by(OutputReview.decided_at, OutputReview.id)
        )
    )


def _decision(session: Session, review: OutputReview) -> dict[str, Any]:
    checker = session.get(User, review.checker_id)
    return {
        "checker": checker.name if checker else "?",
        "decision": review.decision,
        "comment": review.comment,
        "decided_at": review.decided_at.isoformat(),
    }


def _held(task: Task) -> HeldOutput:
    return HeldOutput(
        task_id=task.id,
        algorithm=str(task.spec["algorithm"]),
        dataset=str(task.spec["dataset"]),
        project=str(task.spec["project"]),
        where=task.spec.get("where"),
        params=dict(task.spec.get("params") or {}),
        result=dict(task.result or {}),
    )
