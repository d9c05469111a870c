"""The steward's side of governance at the node: see the projects that name this node, decide.

Used by ``causeway node approve|revoke|suspend|projects`` and the node console. The hub's terms
are checked before anything is kept: their digest must be the one the hub states, this node must
be one of their sites and the committees' approvals must be in. An approval is reported to the hub
first (it refuses one made on changed terms) and then kept here; a suspension or revocation is
kept here first, so it takes effect at once even when the hub cannot be reached.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from causeway.model.errors import CausewayError, Conflict, PermissionDenied, SignatureError
from causeway.model.terms import ProjectTerms
from causeway.node.approvals import Approval, Approvals
from causeway.node.transport import HubConnection

log = logging.getLogger("causeway.node")

APPROVE, REJECT, SUSPEND, REVOKE = "approve", "reject", "suspend", "revoke"
ENDED = ("rejected", "withdrawn", "expired")  # the hub's statuses no steward's approval revives


@dataclass(frozen=True)
class ProjectView:
    """A project as the hub states it to this node, its terms checked against their digest."""

    terms: ProjectTerms
    digest: str
    status: str
    stages: tuple[dict[str, Any], ...]
    waiting_for: str | None
    application: dict[str, Any] | None

    @property
    def name(self) -> str:
        return self.terms.project

    @classmethod
    def of(cls, data: dict[str, Any], node: str) -> ProjectView:
        terms = ProjectTerms.from_json(data["terms"])
        if terms.digest() != data["digest"]:
            raise SignatureError(
                f"the hub's digest of project {terms.project!r} does not match its terms"
            )
        if node not in terms.sites:
            raise PermissionDenied(f"project {terms.project!r} does not name {node} as a site")
        return cls(
            terms=terms,
            digest=str(data["digest"]),
            status=str(data["status"]),
            stages=tuple(dict(s) for s in data.get("stages", [])),
            waiting_for=data.get("waiting_for"),
            application=data.get("application"),
        )

    def committees_done(self) -> bool:
        return self.waiting_for is None or self.waiting_for.startswith("steward:")


def projects(connection: HubConnection, node: str) -> list[ProjectView]:
    """Every project naming this node as a site, as the hub states it."""
    return [ProjectView.of(item, node) for item in connection.request("GET", "/api/node/projects")]


def project(connection: HubConnection, node: str, name: str) -> ProjectView:
    return ProjectView.of(connection.request("GET", f"/api/node/projects/{name}"), node)


def approve(
    connection: HubConnection,
    approvals: Approvals,
    node: str,
    name: str,
    datasets: Sequence[str] = (),
    comment: str = "",
    *,
    expected: str | None = None,
) -> list[Approval]:
    """Approve the project's current terms for ``datasets`` (default: all of its datasets);
    with ``expected``, only if they are still the terms with that digest (those shown)."""
    view = project(connection, node, name)
    if expected is not None and view.digest != expected:
        raise Conflict(f"project {name!r} changed while you looked at it: look again")
    if view.status in ENDED:
        raise Conflict(f"project {name!r} is {view.status}: there is nothing to approve")
    if not view.committees_done():
        waiting = (view.waiting_for or "").replace("_", " ")
        raise Conflict(
            f"project {name!r} waits for the {waiting} review before its stewards decide"
        )
    chosen = list(datasets) or list(view.terms.datasets)
    outside = [d for d in chosen if d not in view.terms.datasets]
    if outside:
        raise PermissionDenied(f"project {name!r} does not cover {', '.join(outside)}")
    _report(connection, view, APPROVE, comment)  # the hub refuses changed terms
    return [approvals.approve(view.terms, dataset, comment) for dataset in chosen]


def reject(connection: HubConnection, node: str, name: str, comment: str) -> ProjectView:
    view = project(connection, node, name)
    _report(connection, view, REJECT, comment)
    return view


def withdraw(
    connection: HubConnection | None,
    approvals: Approvals,
    name: str,
    verdict: str,
    comment: str,
    datasets: Sequence[str] = (),
) -> list[Approval]:
    """Suspend or revoke here at once (every dataset approved for the project, or ``datasets``),
    then tell the hub; a hub that cannot be told changes nothing here."""
    if verdict not in (SUSPEND, REVOKE):
        raise ValueError(verdict)
    if not comment.strip():
        raise PermissionDenied(f"say why: to {verdict} needs a comment")
    current = [a for a in approvals.all() if a.project == name]
    if datasets:
        current = [a for a in current if a.dataset in datasets]
    if not current:
        raise PermissionDenied(f"project {name!r} was never approved here")
    change = approvals.suspend if verdict == SUSPEND else approvals.revoke
    done = [change(a.project, a.dataset, comment) for a in current]
    if connection is not None:
        try:
            _report_digest(connection, name, current[0].terms.digest(), verdict, comment)
        except CausewayError as exc:
            log.warning("the hub was not told of the %s of %s: %s", verdict, name, exc.detail)
    return done


def _report(connection: HubConnection, view: ProjectView, verdict: str, comment: str) -> None:
    _report_digest(connection, view.name, view.digest, verdict, comment)


def _report_digest(
    connection: HubConnection, name: str, digest: str, verdict: str, comment: str
) -> None:
    connection.request(
        "POST",
        "/api/node/decisions",
        json={"project": name, "digest": digest, "decision": verdict, "comment": comment},
    )
