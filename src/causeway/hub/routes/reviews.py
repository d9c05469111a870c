"""Output checking (held outputs and the checkers' decisions) and privacy budgets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from causeway.hub import budgets, review
from causeway.hub.deps import HubDep, UserDep
from causeway.hub.schemas import DecisionIn, TaskOut

router = APIRouter(prefix="/api")


@router.get("/reviews", tags=["output checking"])
def held_outputs(user: UserDep, hub: HubDep) -> list[dict[str, Any]]:
    """Held outputs this output checker may still decide on."""
    return hub.run(lambda s: [h.to_json() for h in review.pending(s, user)])


@router.post("/reviews/{task_id}", tags=["output checking"])
def decide(task_id: str, body: DecisionIn, user: UserDep, hub: HubDep) -> TaskOut:
    """Release, reject or ask for changes to a held output (two checkers decide)."""
    decision = review.Decision.parse(body.decision)
    out = hub.run(lambda s: TaskOut.of(review.decide(s, user, task_id, decision, body.comment)))
    hub.changed(task_id, [])
    return out


@router.get("/reviews/{task_id}", tags=["output checking"])
def decisions(task_id: str, user: UserDep, hub: HubDep) -> list[dict[str, Any]]:
    """The checkers' decisions, once both have decided (blinded until then)."""
    return hub.run(lambda s: review.decisions(s, user, task_id))


@router.get("/budgets", tags=["privacy"])
def budgets_of(project: str, dataset: str, user: UserDep, hub: HubDep) -> list[dict[str, Any]]:
    """Each site's privacy budget of a project on a dataset, as the nodes last reported it."""
    return hub.run(lambda s: budgets.reported(s, user, project, dataset))
