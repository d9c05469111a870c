"""What the console's pages show, read from the hub (through the steward's module), the approvals
file, the audit log and the store: plain dicts for the templates, no value of any dataset."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causeway.model.errors import CausewayError
from causeway.model.policy import NodePolicy
from causeway.node import audit
from causeway.node.approvals import Approval, Approvals
from causeway.node.steward import ENDED, ProjectView
from causeway.node.store import NodeStore
from causeway.privacy.budget import Budget

TASKS_PER_PAGE = 50


def decision_label(mine: Approval | None, digest: str | None) -> str:
    """This node's decision on one dataset, said against the terms the hub states now."""
    if mine is None:
        return "not decided here"
    if digest is not None and mine.digest != digest:
        return f"{mine.state.value} other terms"
    return mine.state.value


def here(view: ProjectView, approvals: Approvals, held: set[str]) -> list[dict[str, Any]]:
    """This node's decision for each dataset of the project."""
    rows = []
    for dataset in view.terms.datasets:
        mine = approvals.current(view.name, dataset)
        rows.append(
            {
                "dataset": dataset,
                "held": dataset in held,
                "decision": decision_label(mine, view.digest),
                "comment": "" if mine is None else mine.comment,
                "decided_at": "" if mine is None else mine.decided_at,
            }
        )
    return rows


def project_row(view: ProjectView, approvals: Approvals, held: set[str]) -> dict[str, Any]:
    application = view.application or {}
    return {
        "name": view.name,
        "status": view.status,
        "waiting_for": view.waiting_for,
        "digest": view.digest,
        "application": application,
        "stages": list(view.stages),
        "here": here(view, approvals, held),
    }


def local_rows(approvals: Approvals, names: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The decisions kept here (for projects other than ``names``)."""
    skip = set(names)
    return [
        {
            "project": a.project,
            "dataset": a.dataset,
            "decision": a.state.value,
            "comment": a.comment,
            "decided_at": a.decided_at,
            "digest": a.digest,
            "expires": a.terms.expires,
        }
        for a in approvals.all()
        if a.project not in skip
    ]


@dataclass(frozen=True)
class Actions:
    """Which of the steward's forms a project page offers, and why not the others."""

    approve: bool
    reject: bool
    suspend: bool
    revoke: bool
    notes: tuple[str, ...] = field(default_factory=tuple)


def actions(view: ProjectView | None, approvals: Approvals, name: str) -> Actions:
    mine = [a for a in approvals.all() if a.project == name]
    suspend = any(a.state.value == "approved" for a in mine)
    revoke = any(a.state.value != "revoked" for a in mine)
    if view is None:  # the hub is out of reach: only what can be done here alone
        return Actions(False, False, suspend, revoke, ("Approving needs the hub's current terms.",))
    notes = []
    approve = view.status not in ENDED and view.committees_done()
    if view.status in ENDED:
        notes.append(f"The project is {view.status} at the hub: there is nothing to approve.")
    elif not view.committees_done():
        waiting = (view.waiting_for or "").replace("_", " ")
        notes.append(f"It waits for the {waiting} review before the stewards decide.")
    reject = view.status == "under_review"
    return Actions(approve, reject, suspend, revoke, tuple(notes))


# -- the audit log: one row per assignment ---------------------------------------------------------


def assignments(directory: Path) -> list[dict[str, Any]]:
    """Every assignment the log records, newest first: what was asked, how it ended and what left
    (parts' names, kinds and shapes; the log holds no value)."""
    found: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    for event in audit.events(directory):
        kind = event.get("event")
        key = (event.get("assignment"), event.get("task"), event.get("round"))
        if kind == "assignment":
            secure = event.get("secure") if isinstance(event.get("secure"), Mapping) else None
            found[key] = {
                "time": str(event.get("time", "")),
                "task": event.get("task"),
                "round": event.get("round"),
                "project": event.get("project"),
                "dataset": event.get("dataset"),
                "algorithm": event.get("algorithm"),
                "secure": None if secure is None else secure.get("phase"),
                "held": bool(event.get("held")),
                "outcome": "unfinished",
                "failed_check": None,
                "reason": "",
                "parts": [],
                "masked": False,
                "epsilon": None,
            }
            continue
        row = found.get(key)
        if row is None:
            continue
        if kind == "check" and event.get("outcome") == "failed":
            row["failed_check"] = event.get("check")
        elif kind == "refused":
            row["outcome"] = "refused"
            row["reason"] = f"{event.get('code')}: {event.get('message')}"
        elif kind == "released":
            row["outcome"] = "released"
            row["masked"] = bool(event.get("masked"))
            row["self_seed"] = bool(event.get("self_seed"))
            row["parts"] = [
                {
                    "name": p.get("name"),
                    "kind": p.get("kind"),
                    "shape": " × ".join(str(n) for n in (p.get("shape") or ())) or "scalar",
                    "suppressed": p.get("suppressed") or 0,
                }
                for p in event.get("parts", [])
                if isinstance(p, Mapping)
            ]
            spent = event.get("budget_spent")
            row["epsilon"] = spent if isinstance(spent, int | float) else None
    return list(reversed(found.values()))


# -- budgets ---------------------------------------------------------------------------------------


def budgets(store: NodeStore, policies: NodePolicy) -> list[dict[str, Any]]:
    """The privacy budget each project approved here has spent on each dataset."""
    rows = []
    for approval in store.approvals.all():
        row: dict[str, Any] = {
            "project": approval.project,
            "dataset": approval.dataset,
            "decision": approval.state.value,
            "level": None,
            "noise": False,
        }
        try:
            info = store.dataset(approval.dataset)
        except CausewayError:
            row["note"] = "this node does not hold the dataset"
            rows.append(row)
            continue
        row["level"] = info.level.value
        policy = policies.for_dataset(info.name, info.level)
        if policy.dp is None:
            row["note"] = f"no noise at {info.level.value}: no budget is spent"
            rows.append(row)
            continue
        stored = store.budget(approval.project, approval.dataset) or {}
        budget = Budget(policy.dp.epsilon, policy.dp.delta, float(stored.get("rho_spent", 0.0)))
        row.update(
            noise=True,
            epsilon=budget.epsilon,
            delta=budget.delta,
            spent=budget.epsilon_spent,
            left=budget.epsilon_left,
            share=min(1.0, budget.epsilon_spent / budget.epsilon),
        )
        rows.append(row)
    return rows
