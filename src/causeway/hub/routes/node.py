"""The node protocol: every request signed by the node's key (see :mod:`causeway.crypto.requests`).
A node publishes its catalog, long-polls for assignments and posts its answers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from causeway.hub import applications, broker, catalog, secure
from causeway.hub.db import Task
from causeway.hub.deps import NodeDep, NodeRequest
from causeway.hub.notify import Waiter
from causeway.hub.polling import long_poll
from causeway.hub.routes.applications import terms_out
from causeway.hub.schemas import (
    AggregationKeyIn,
    AssignmentOut,
    CatalogIn,
    LeaseOut,
    ResultIn,
    ResultOut,
    StewardDecisionIn,
    TaskOut,
    TermsOut,
)
from causeway.hub.state import HubState
from causeway.hub.status import TaskStatus
from causeway.model.errors import NotFound

router = APIRouter(prefix="/api/node", tags=["node"])


@router.put("/datasets")
def node_datasets(body: CatalogIn, node: NodeDep) -> dict[str, int]:
    entries = [d.model_dump() for d in body.datasets]
    count = node.hub.run(lambda s: catalog.register_datasets(s, node.authenticate(s), entries))
    return {"registered": count}


@router.put("/aggregation-key")
def node_aggregation_key(body: AggregationKeyIn, node: NodeDep) -> dict[str, int]:
    """The node's X25519 key for secure aggregation, signed with its signing key (the hub checks
    the signature, and so does every peer: the hub cannot substitute a key)."""

    def record(session: Session) -> int:
        sender = node.authenticate(session)
        secure.announce(sender, body.key, body.version, body.signature)
        return body.version

    return {"version": node.hub.run(record)}


@router.get("/projects")
def node_projects(node: NodeDep) -> list[TermsOut]:
    """The projects naming this node as a site, for its steward: terms, digest, approvals."""

    def listed(session: Session) -> list[TermsOut]:
        sender = node.authenticate(session)
        return [terms_out(session, p) for p in applications.for_node(session, sender)]

    return node.hub.run(listed)


@router.get("/projects/{name}")
def node_project(name: str, node: NodeDep) -> TermsOut:
    def one(session: Session) -> TermsOut:
        sender = node.authenticate(session)
        for project in applications.for_node(session, sender):
            if project.name == name:
                return terms_out(session, project)
        raise NotFound(f"no project {name!r} names node {sender.name}")

    return node.hub.run(one)


@router.post("/decisions")
def node_decision(body: StewardDecisionIn, node: NodeDep) -> TermsOut:
    """The steward's decision at this node (approve, reject, suspend, revoke) on the terms with
    ``digest``; the node keeps its own record and enforces it, whatever the hub says."""
    verdict = applications.Verdict.parse(body.decision)

    def decide(session: Session) -> TermsOut:
        sender = node.authenticate(session)
        project = applications.steward_decision(
            session, sender, body.project, body.digest, verdict, body.comment
        )
        return terms_out(session, project)

    return node.hub.run(decide)


@router.delete("/instance")
def node_goodbye(node: NodeDep, instance: str) -> dict[str, bool]:
    """The node's process ``instance`` stops cleanly: a restart is served at once, not refused as
    a second process with the node's identity for the rest of the grace period."""
    node.hub.run(node.authenticate)
    return {"released": node.hub.instances.release(node.signed.node, instance)}


@router.get("/assignments")
async def node_assignments(
    node: NodeDep, wait: float = 0.0, instance: str = "", where: str = ""
) -> list[AssignmentOut]:
    """The node's next assignments; with ``wait``, long-poll up to that many seconds.
    ``instance`` names the polling process (and ``where`` its host and data directory): a second
    process with one node's identity (a copied data directory) is refused while the first lives."""
    node_id = await run_in_threadpool(node.hub.run, lambda s: node.identify(s).id)
    if instance:
        node.hub.instances.claim(node.signed.node, instance, where, wait)
    return await _next(node, node_id, wait)


@router.post("/assignments/{assignment_id}")
async def node_result(
    assignment_id: int, body: ResultIn, node: NodeDep, wait: float = 0.0
) -> ResultOut:
    """A node's answer. With ``wait``, the response also carries the node's next assignments
    (long-polled), so a busy node needs one request per assignment, not two; they are looked for
    in the answer's own transaction first (the next round of its task is there already)."""
    hub = node.hub
    # listening before the answer is taken: work queued for the node from then on wakes it
    listening = hub.notifier.register(node.topic) if wait > 0 else None

    def answer(
        session: Session,
    ) -> tuple[int, broker.Answered, list[AssignmentOut], tuple[int, TaskOut] | None]:
        sender = node.identify(session)
        answered = broker.submit(
            session, hub.key, sender, assignment_id, body.contribution, body.error
        )
        claimed = broker.deliver(session, sender.id, hub.lease) if wait > 0 else []
        return (
            sender.id,
            answered,
            [AssignmentOut.of(r, hub.lease) for r in claimed],
            _final(session, hub, answered),
        )

    try:
        node_id, answered, claimed, final = await run_in_threadpool(hub.run, answer)
        if final is not None:  # (committed: the request following the task takes it)
            hub.outcomes.leave(*final)
        if answered.moved:  # (a researcher following the task waits for nothing less)
            hub.changed(answered.task_id, answered.queued)
        if wait <= 0:
            return ResultOut(status="received")
        if claimed:
            return ResultOut(status="received", next=claimed)
        return ResultOut(status="received", next=await _next(node, node_id, wait, listening))
    finally:
        if listening is not None:
            hub.notifier.unregister(listening)


@router.post("/assignments/{assignment_id}/lease")
def node_lease(assignment_id: int, node: NodeDep) -> LeaseOut:
    """Renew the lease on an assignment this node is computing (it does so every third of the
    lease): without it, a local step longer than the lease would be delivered again."""

    def renew(session: Session) -> None:
        broker.renew(session, node.authenticate(session), assignment_id)

    node.hub.run(renew)
    return LeaseOut(lease=node.hub.lease)


def _final(
    session: Session, hub: HubState, answered: broker.Answered
) -> tuple[int, TaskOut] | None:
    """The task's owner and final state (done or failed), if the answer finished it and a request
    follows it (see :mod:`causeway.hub.outcomes`)."""
    if not answered.moved or not hub.notifier.listening(f"task:{answered.task_id}"):
        return None
    task = session.get(Task, answered.task_id)  # (the answer's, in this session already)
    if task is None or task.status not in (TaskStatus.DONE, TaskStatus.FAILED):
        return None
    return task.user_id, TaskOut.of(task)


async def _next(
    node: NodeRequest, node_id: int, wait: float, listening: Waiter | None = None
) -> list[AssignmentOut]:
    """The node's next assignments, claimed for it; long-polled up to ``wait`` seconds
    (``listening``: see :func:`long_poll`)."""
    hub = node.hub

    def fetch() -> list[AssignmentOut] | None:
        # (with the other nodes woken now, in one transaction: see causeway.hub.deliveries)
        claimed = hub.deliveries.take(node_id)
        return [AssignmentOut.of(r, hub.lease) for r in claimed] or None

    def handed() -> list[AssignmentOut] | None:
        # claimed for it by the transaction that queued the work (see causeway.hub.deliveries)
        return [AssignmentOut.of(r, hub.lease) for r in hub.deliveries.handed(node_id)] or None

    return await long_poll(hub, fetch, wait, node.topic, listening=listening, handed=handed) or []
