"""The task broker: queues one assignment per node per round, collects contributions, combines.

The hub keeps no state between requests: every step reads and writes the database, so several
replicas can share one PostgreSQL. The round's last contribution triggers ``combine``, under a row
lock on the task.

An assignment's life (:class:`AssignmentStatus`)::

    pending ──claim──▶ claimed ──answer──▶ done | failed
       ▲                  │
       └── lease runs out ┘        (either, when its task ends first) ──▶ stale

Each is delivered to one node at a time: a claim takes rows no other transaction holds
(``SKIP LOCKED``) and marks them with a conditional update, so two replicas polling for the same
node never both deliver one. An answer is taken once; a second one, or one that comes after its
task ended, is refused (:class:`AlreadyAnswered`, :class:`StaleAnswer`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import ColumnElement, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, object_session

from causeway.algorithms import ALGORITHMS, Final, get_algorithm
from causeway.crypto.keys import sign
from causeway.hub import applications, budgets, catalog, contributions, ledger, metrics, secure
from causeway.hub.accounts import Role, has_role, require
from causeway.hub.db import (
    AssignmentRecord,
    Base,
    DatasetRecord,
    NodeRecord,
    Project,
    Task,
    User,
    utcnow,
)
from causeway.hub.errors import AlreadyAnswered, StaleAnswer
from causeway.hub.status import OPEN_ASSIGNMENT, AssignmentStatus, TaskStatus
from causeway.model.canonical import canonical_json, jcs, spliced
from causeway.model.contribution import Contribution, aggregate
from causeway.model.dictionary import Dictionary
from causeway.model.disclosure import Check, DisclosureReport, merge_checks
from causeway.model.errors import (
    CausewayError,
    InternalError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    TaskFailed,
    Unavailable,
)
from causeway.model.kept import Kept
from causeway.model.levels import Level
from causeway.model.task import Assignment, TaskSpec
from causeway.query import check, from_json

log = logging.getLogger("causeway.hub")
# a claimed assignment neither answered nor renewed by then is delivered again (a node renews the
# leases of what it computes every third of this: see renew)
LEASE_SECONDS = 60.0
ROUND_TIMEOUT_SECONDS = 300.0  # a round still waiting for a site after this fails
SITE_SILENCE_SECONDS = 90.0  # nodes poll every 20 s: a site unseen this long is not coming


@dataclass(frozen=True)
class Answered:
    """What taking a node's answer changed: its task, the nodes given new work, and whether the
    task moved (ended, or went on to another round or phase): only then has a researcher
    following it (who waits for that) something new to see."""

    task_id: str
    queued: list[str]
    moved: bool = True


@dataclass(frozen=True)
class Delivery:
    """An assignment claimed for its node: what the node is sent."""

    id: int
    node_id: int
    payload: dict[str, Any]
    signature: str


class Sender(Protocol):
    """The node behind an answer (its record, or :class:`causeway.hub.nodes.SignedNode`)."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


def create_task(
    session: Session,
    key: Ed25519PrivateKey,
    user: User,
    spec: TaskSpec,
    task_id: str | None = None,
) -> tuple[Task, list[str]]:
    """Check everything the hub can check, then queue round 0 at the project's sites that hold the
    dataset (fixed for the task's life). Returns the task and the names of the nodes given work.
    ``task_id``: the new task's id, if the caller chose it (a random UUID; by default one is made
    here)."""
    project = applications.runnable(session, user, spec.project, spec.dataset)
    try:
        canonical_json(spec.to_json())
    except ValueError:
        raise InvalidRequest(
            "filters and parameters take finite numbers only (no NaN or Infinity)"
        ) from None
    algorithm = get_algorithm(spec.algorithm)
    if spec.algorithm not in project.analyses:
        raise PermissionDenied(
            f"project {spec.project!r} is approved for {', '.join(project.analyses)}, "
            f"not {spec.algorithm}"
        )
    entry = catalog.holding(session, spec.dataset, list(project.sites))
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
    sites = sorted(entry.sites)
    step = None
    if spec.allow_missing_sites and not algorithm.allows_missing_sites:
        raise InvalidRequest(
            f"allow_missing_sites: {spec.algorithm} cannot go on without a site (its rounds must "
            "all see the same sites); it is for additive analyses whose result is summed in one "
            f"round: {', '.join(sorted(n for n, a in ALGORITHMS.items() if a.allows_missing_sites))}"
        )
    if secure.required(entry.policies):
        if spec.allow_missing_sites:
            raise InvalidRequest(
                "allow_missing_sites: the sites' policy asks for secure aggregation, whose "
                "rounds need every site they mask with (a site that drops out re-runs the "
                "round among the rest, as it is)"
            )
        if algorithm.estimates_per_site:
            raise InvalidRequest(
                f"{spec.algorithm} releases each site's own estimates, which the sites' policy "
                "of secure aggregation refuses (the hub may learn only totals): fit the pooled "
                "model instead"
            )
        secure.check_participants(sites)
        step = secure.Step(0, secure.MASK, tuple(sites)).to_json()
    task = Task(
        id=task_id or str(uuid.uuid4()),
        user_id=user.id,
        spec=spec.to_json(),
        dictionary=entry.dictionary.to_json(),
        state=state,
        sites=sites,
        secure=step,
        round=0,
    )
    session.add(task)
    session.flush()
    metrics.task_created(session, task)
    return task, _queue_round(session, key, task, project)


def _queue_round(
    session: Session, key: Ed25519PrivateKey, task: Task, runnable: Project | None = None
) -> list[str]:
    """Queue the task's current round at its sites. ``runnable``: the task's project as
    :func:`applications.runnable` returned it in this same transaction (round 0), which need
    not be checked again."""
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
    requester = session.get(User, task.user_id)
    if requester is None:  # the foreign key makes this impossible
        _fail(task, NotFound.code, "the task's requester is gone")
        return []
    try:  # suspended, revoked, expired or the requester removed since the last round: stop here
        project = runnable or applications.runnable(session, requester, spec.project, spec.dataset)
    except PermissionDenied as exc:
        _fail(task, exc.code, exc.detail)
        return []
    terms = applications.terms_of(session, project)
    task.updated_at = utcnow()  # the round's clock starts now
    step = secure.Step.of(task)
    try:
        secure_round = secure.round_of(step, nodes)
    except InvalidRequest as exc:
        _fail(task, exc.code, exc.detail)
        return []
    if step.phase == secure.MASK and step.attempt > 0:
        metrics.secure_rerun(session, task)
    # Every site's assignment is the same but for its name: encode it once (at hundreds of sites,
    # encoding the terms and the dictionary per site dominated queueing a round).
    template = Assignment(
        task_id=task.id,
        round=task.round,
        node="",
        spec=spec,
        state=task.state,
        dictionary=task.dictionary,
        issued_at=time.time(),
        terms_digest=terms.digest(),
        requester=requester.name,
        secure=secure_round,
    ).to_json()
    names = [node.name for node in nodes]
    signed = spliced(template, "node", names, canonical_json)
    recorded = spliced(template, "node", names, jcs)  # as the ledger hashes it
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for node, text in zip(nodes, signed, strict=True):
        rows.append(
            {
                "task_id": task.id,
                "node_id": node.id,
                "round": task.round,
                "attempt": step.attempt,
                "phase": step.phase,
                "status": AssignmentStatus.PENDING.value,
                "claimed_at": None,
                "payload": {**template, "node": node.name},
                "signature": sign(key, text),
                "contribution": None,
                "error": None,
                "created_at": now,
            }
        )
    # One insert for the round's assignments, each its ledger entry (every column, as the ORM's
    # flush would record the row; the payload's hash from the form spliced above).
    session.flush()  # (the task itself, or assignments staled through the ORM, first)
    ids = session.connection().execute(_QUEUE, rows).scalars().all()
    for new_id, row, form in zip(ids, rows, recorded, strict=True):
        ledger.record(
            session,
            "assignments",
            "insert",
            {"id": new_id},
            {"id": new_id, **row},
            forms={"payload": form},
        )
        _remember_payload(row["signature"], row["payload"])
    return names


# The statements of the hot path, built once: a node's poll, its answer, the round's end. They run
# on the session's connection (SQLAlchemy Core: no ORM objects, no autoflush); a change of record
# among them is put on the ledger by :func:`ledger.record`, in the same transaction.
_A = Base.metadata.tables["assignments"]
_DELIVERABLE = (_A.c.status == AssignmentStatus.PENDING.value) | (
    (_A.c.status == AssignmentStatus.CLAIMED.value) & (_A.c.claimed_at < bindparam("expired"))
)
_CANDIDATES = (
    select(_A.c.id)
    .where(_A.c.node_id.in_(bindparam("nodes", expanding=True)), _DELIVERABLE)
    .with_for_update(skip_locked=True)
)
# On PostgreSQL the row locks already make the candidates this transaction's. SQLite locks
# nothing on a read, so there it is this update, re-checking each row as it writes it, that
# keeps two hubs on one file from both delivering an assignment.
_TAKE = (
    update(_A)
    .where(_A.c.id.in_(bindparam("ids", expanding=True)), _DELIVERABLE)
    .values(status=AssignmentStatus.CLAIMED.value, claimed_at=bindparam("now"))
    .returning(_A.c.id, _A.c.node_id, _A.c.signature)
)
_PAYLOADS_OF = select(_A.c.id, _A.c.payload).where(_A.c.id.in_(bindparam("ids", expanding=True)))
_QUEUE = insert(_A).returning(_A.c.id, sort_by_parameter_order=True)
_ANSWERING = select(
    _A.c.id, _A.c.node_id, _A.c.task_id, _A.c.round, _A.c.attempt, _A.c.phase, _A.c.status
).where(_A.c.id == bindparam("assignment"))
_ANSWER = (
    update(_A)
    .where(_A.c.id == bindparam("assignment"))
    .values(status=AssignmentStatus.DONE.value, contribution=bindparam("answer"))
)
_FAILURE = (
    update(_A)
    .where(_A.c.id == bindparam("assignment"))
    .values(status=AssignmentStatus.FAILED.value, error=bindparam("failure"))
)
_OF_STEP = (
    _A.c.task_id == bindparam("task"),
    _A.c.round == bindparam("round"),
    _A.c.attempt == bindparam("attempt"),
    _A.c.phase == bindparam("phase"),
)
_WAITING = (
    select(_A.c.id)
    .where(
        *_OF_STEP,
        _A.c.status.not_in((AssignmentStatus.DONE.value, AssignmentStatus.STALE.value)),
    )
    .limit(1)
)
_ANSWERS = (
    select(_A.c.contribution)
    .where(*_OF_STEP, _A.c.status == AssignmentStatus.DONE.value)
    .order_by(_A.c.id)
)
_N = Base.metadata.tables["nodes"]
_REPORTS = (
    select(_N.c.name, _A.c.contribution)
    .join(_N, _N.c.id == _A.c.node_id)
    .where(_A.c.task_id == bindparam("task"), _A.c.status == AssignmentStatus.DONE.value)
    .order_by(_A.c.round, _N.c.name)
)
_LOCK_TASK = select(Task).where(Task.id == bindparam("task")).with_for_update()
_ROUND_STARTED = select(func.min(_A.c.created_at)).where(
    _A.c.task_id == bindparam("task"), _A.c.round == bindparam("round")
)


def _deliverable(lease: float) -> ColumnElement[bool]:
    """Pending assignments, and claimed ones whose lease ran out (the node crashed or its answer
    was lost): those are delivered again."""
    expired = utcnow() - dt.timedelta(seconds=lease)
    return (AssignmentRecord.status == AssignmentStatus.PENDING) | (
        (AssignmentRecord.status == AssignmentStatus.CLAIMED)
        & (AssignmentRecord.claimed_at < expired)
    )


def has_pending(session: Session, node_id: int, lease: float = LEASE_SECONDS) -> bool:
    """Whether the node has an assignment waiting (a cheap read before :func:`claim`)."""
    found = session.scalar(
        select(AssignmentRecord.id)
        .where(AssignmentRecord.node_id == node_id, _deliverable(lease))
        .limit(1)
    )
    return found is not None


def claim(session: Session, node_id: int, lease: float = LEASE_SECONDS) -> list[Delivery]:
    """The node's deliverable assignments, marked as claimed (leased) from now."""
    return claim_many(session, [node_id], lease)


def claim_many(
    session: Session, node_ids: list[int], lease: float = LEASE_SECONDS
) -> list[Delivery]:
    """These nodes' deliverable assignments, marked as claimed (leased) from now, in id order.
    Leasing is not a change of record (no ledger entry)."""
    if not node_ids:
        return []
    session.flush()  # assignments this transaction queued (the next round, at an answer)
    connection = session.connection()
    now = utcnow()
    expired = now - dt.timedelta(seconds=lease)
    ids = list(connection.execute(_CANDIDATES, {"nodes": node_ids, "expired": expired}).scalars())
    if not ids:
        return []
    taken = connection.execute(_TAKE, {"ids": ids, "expired": expired, "now": now}).all()
    payloads = _payloads(session, [(int(i), str(signature)) for i, _, signature in taken])
    found = [
        Delivery(int(i), int(node), payloads[int(i)], str(signature))
        for i, node, signature in taken
    ]
    return sorted(found, key=lambda d: d.id)


# The payloads this process queued lately, by their signature (the hub's signature over exactly
# that payload, so a hit is that payload): a claim then need not decode from the database what
# the hub serialised moments ago. At hundreds of sites every payload carries the project's terms
# for every site, and decoding them at each claim was a tenth of the hub's work in a round.
_PAYLOADS: OrderedDict[str, dict[str, Any]] = OrderedDict()
_PAYLOADS_KEPT = 4096
_PAYLOADS_LOCK = threading.Lock()


def _remember_payload(signature: str, payload: dict[str, Any]) -> None:
    with _PAYLOADS_LOCK:
        _PAYLOADS[signature] = payload
        while len(_PAYLOADS) > _PAYLOADS_KEPT:
            _PAYLOADS.popitem(last=False)


def _payloads(session: Session, taken: list[tuple[int, str]]) -> dict[int, dict[str, Any]]:
    """Each claimed assignment's payload, by id: from :data:`_PAYLOADS` when this process
    queued it, else from the database."""
    out: dict[int, dict[str, Any]] = {}
    with _PAYLOADS_LOCK:
        for assignment_id, signature in taken:
            known = _PAYLOADS.get(signature)
            if known is not None:
                out[assignment_id] = known
    missing = [assignment_id for assignment_id, _ in taken if assignment_id not in out]
    if missing:
        rows = session.connection().execute(_PAYLOADS_OF, {"ids": missing}).all()
        out.update((int(i), dict(payload)) for i, payload in rows)
    return out


def deliver(session: Session, node_id: int, lease: float = LEASE_SECONDS) -> list[Delivery]:
    """The node's next assignments, claimed for it (none, without writing, when it has none:
    :func:`claim` writes only what its first read found, so no read needs to come before it)."""
    return claim(session, node_id, lease)


def renew(session: Session, node: NodeRecord, assignment_id: int) -> None:
    """Extend the lease on an assignment the node is computing, from now: only the node it was
    delivered to, and only while it is claimed and its task waits for it (refused as
    :class:`AlreadyAnswered` or :class:`StaleAnswer` otherwise). A local step longer than the
    lease is then not delivered again while it runs. Not a change of record (no ledger entry)."""
    record = session.get(AssignmentRecord, assignment_id)
    if record is None or record.node_id != node.id:
        raise NotFound(f"no assignment {assignment_id} for node {node.name}")
    task = session.get(Task, record.task_id)
    if task is None:  # the foreign key makes this impossible
        raise NotFound(f"no assignment {assignment_id} for node {node.name}")
    _check_open(record, task)
    if record.status != AssignmentStatus.CLAIMED:
        raise InvalidRequest(
            f"assignment {assignment_id} was not delivered to {node.name}: no lease to renew"
        )
    record.claimed_at = utcnow()


@dataclass(frozen=True)
class _Answering:
    """The assignment an answer is for, as the broker checks it (not its payload)."""

    id: int
    node_id: int
    task_id: str
    round: int
    attempt: int
    phase: str
    status: str


def _answering(session: Session, assignment_id: int) -> _Answering | None:
    row = session.connection().execute(_ANSWERING, {"assignment": assignment_id}).one_or_none()
    return None if row is None else _Answering(*row)


def submit(
    session: Session,
    key: Ed25519PrivateKey,
    node: Sender,
    assignment_id: int,
    contribution: dict[str, Any] | None,
    error: dict[str, Any] | None,
) -> Answered:
    """Record a node's answer; returns its task and the nodes given new work (the next round's).
    Refuses a second answer (:class:`AlreadyAnswered`) and one that comes after its task ended or
    moved on (:class:`StaleAnswer`)."""
    record = _answering(session, assignment_id)
    if record is None or record.node_id != node.id:
        raise NotFound(f"no assignment {assignment_id} for node {node.name}")
    task = session.scalars(_LOCK_TASK, {"task": record.task_id}).one()
    # as it is now that the task is ours (another replica may have moved)
    record = _answering(session, assignment_id)
    if record is None:  # the foreign key and the task's lock make this impossible
        raise NotFound(f"no assignment {assignment_id} for node {node.name}")
    _check_open(record, task)
    if error is None and contribution is None:
        raise InvalidRequest("send a contribution or an error")
    if error is None:
        try:
            _check_contribution(Contribution.from_json(contribution or {}), task, record)
        except InvalidRequest as exc:
            error = {"code": exc.code, "detail": f"sent a contribution the hub cannot use: {exc}"}
    connection = session.connection()
    if error is not None:
        connection.execute(_FAILURE, {"assignment": record.id, "failure": error})
        failed = {"status": AssignmentStatus.FAILED.value, "error": error}
        ledger.record(session, "assignments", "update", {"id": record.id}, failed)
        detail = str(error.get("detail", "failed"))
        _fail(task, str(error.get("code", TaskFailed.code)), f"site {node.name}: {detail}")
        return Answered(task.id, [])
    connection.execute(_ANSWER, {"assignment": record.id, "answer": contribution})
    done = {"status": AssignmentStatus.DONE.value, "contribution": contribution}
    ledger.record(session, "assignments", "update", {"id": record.id}, done)
    budgets.record(session, node.id, TaskSpec.from_json(task.spec), contribution or {})
    queued = _maybe_combine(session, key, task)
    return Answered(task.id, queued, moved=bool(queued) or task.status != TaskStatus.RUNNING)


def _check_open(record: _Answering | AssignmentRecord, task: Task) -> None:
    """Refuse an answer to an assignment answered before, or whose task ended or moved on."""
    if record.status in (AssignmentStatus.DONE, AssignmentStatus.FAILED):
        raise AlreadyAnswered(f"assignment {record.id} was answered already")
    step = secure.Step.of(task)
    if (
        record.status == AssignmentStatus.STALE
        or task.status != TaskStatus.RUNNING
        or task.round != record.round
        or (record.attempt, record.phase) != (step.attempt, step.phase)
    ):
        raise StaleAnswer(
            f"assignment {record.id} (round {record.round}) came too late: its task is "
            f"{task.status}, in round {task.round}"
        )


def _check_contribution(item: Contribution, task: Task, record: _Answering) -> None:
    spec = TaskSpec.from_json(task.spec)
    if (item.task_id, item.round, item.dataset, item.algorithm) != (
        task.id,
        record.round,
        spec.dataset,
        spec.algorithm,
    ):
        raise InvalidRequest("the contribution answers a different task, round or dataset")
    secure.check_contribution(item, secure.Step.of(task))
    profile = get_algorithm(spec.algorithm).profile
    names = [*item.parts, *(entry.name for entry in item.layout)]
    undeclared = [name for name in names if name not in profile.parts]
    if undeclared or set(item.meta) - profile.meta:
        raise InvalidRequest("the contribution carries parts its algorithm does not declare")


# A task's parameters checked against its dictionary, by the question (every round of a GLM
# combined them again: a formula checked against the dictionary costs milliseconds)
_PREPARED: Kept[str, tuple[Dictionary, Any]] = Kept(64)


def _prepared(spec: TaskSpec, dictionary: list[dict[str, Any]]) -> tuple[Dictionary, Any]:
    """The task's dictionary and its parameters checked against it (frozen; shared between the
    rounds and tasks asking the same)."""
    key = hashlib.sha256(
        canonical_json(
            {"algorithm": spec.algorithm, "params": spec.params, "dictionary": dictionary}
        )
    ).hexdigest()

    def make() -> tuple[Dictionary, Any]:
        parsed = Dictionary.from_json(dictionary)
        return parsed, get_algorithm(spec.algorithm).prepare(spec.params, parsed)

    return _PREPARED.get_or_make(key, make)


def _maybe_combine(session: Session, key: Ed25519PrivateKey, task: Task) -> list[str]:
    step = secure.Step.of(task)
    of_step = {"task": task.id, "round": task.round, "attempt": step.attempt, "phase": step.phase}
    session.flush()  # (assignments this transaction staled or answered through the ORM)
    connection = session.connection()
    # Only the statuses, on every answer: loading each record (its payload and contribution) made
    # a round of n sites cost O(n^2) JSON decoding at the hub (see "Many nodes" in benchmarks.md).
    # A site the task went on without (allow_missing_sites, stale) is out of the round.
    waiting = connection.execute(_WAITING, of_step).first()
    if waiting is not None:
        return []
    if step.phase == secure.MASK:  # every masked vector is in: ask for the self-mask seeds
        task.secure = secure.Step(step.attempt, secure.UNMASK, step.participants).to_json()
        return _queue_round(session, key, task)
    spec = TaskSpec.from_json(task.spec)
    algorithm = get_algorithm(spec.algorithm)
    try:
        if step.phase == secure.UNMASK:
            total = secure.total(session, task, step)
        else:
            answers = connection.execute(_ANSWERS, of_step).scalars()
            total = aggregate(Contribution.from_json(c or {}) for c in answers)
        dictionary, prepared = _prepared(spec, task.dictionary)
        outcome = algorithm.combine(total, prepared, task.state, dictionary)
    except CausewayError as exc:
        _fail(task, exc.code, exc.detail)
        return []
    except Exception:  # a bug in combine must fail the task, never leave it running
        log.exception("combining task %s failed", task.id)
        _fail(
            task, InternalError.code, "the hub hit an internal error combining the results (logged)"
        )
        return []
    started = connection.execute(_ROUND_STARTED, {"task": task.id, "round": task.round}).scalar()
    metrics.round_completed(session, task, started)
    if isinstance(outcome, Final):
        report = _disclosure(session, task)
        # (read before the task changes: a query flushes, and a JSON value changed in place
        # after a flush would not be written; the task's row is then written once, not twice)
        missing = (
            {"missing_sites": _missing_sites(session, task)} if spec.allow_missing_sites else {}
        )
        task.updated_at = utcnow()
        task.result = {
            **algorithm.encode_result(outcome.result),
            "disclosure": report,
            "participants": list(step.participants),
            "secure_aggregation": step.phase != secure.PLAIN,
            **missing,
        }
        task.status = TaskStatus.HELD if spec.held else TaskStatus.DONE
        if task.status == TaskStatus.DONE:
            contributions.record(session, task)
        metrics.task_finished(task)
        return []
    task.updated_at = utcnow()
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
    if step.phase != secure.PLAIN:
        task.secure = secure.Step(0, secure.MASK, step.participants).to_json()
    return _queue_round(session, key, task)


def _disclosure(session: Session, task: Task) -> dict[str, Any]:
    """Every site's gate report over all the task's rounds, each distinct check once."""
    session.flush()
    rows = session.connection().execute(_REPORTS, {"task": task.id}).all()
    rounds: dict[str, list[list[Check]]] = {}
    for site, contribution in rows:
        checks = [Check.from_json(c) for c in (contribution or {}).get("report", [])]
        rounds.setdefault(site, []).append(checks)
    sites = {site: merge_checks(found) for site, found in rounds.items()}
    return DisclosureReport(sites).to_json()


def _fail(task: Task, code: str, detail: str) -> None:
    """Fail the task; its assignments still out are dropped (never delivered or taken again: a
    node would compute, and spend privacy budget, for a task that has ended)."""
    task.status, task.error = TaskStatus.FAILED, {"code": code, "detail": detail}
    task.updated_at = utcnow()
    metrics.task_finished(task)
    session = object_session(task)
    if session is not None:
        _stale(session, task)


def tasks_of(session: Session, user: User, limit: int = 100) -> list[Task]:
    """The user's most recent tasks, newest first."""
    return list(
        session.scalars(
            select(Task)
            .where(Task.user_id == user.id)
            .order_by(Task.created_at.desc())
            .limit(max(1, min(limit, 1000)))
        )
    )


def every_task(session: Session, user: User, limit: int = 100) -> list[tuple[Task, str]]:
    """Everyone's most recent tasks with who asked, newest first (admins and auditors)."""
    require(user, Role.ADMIN, Role.AUDITOR)
    return [
        (task, name)
        for task, name in session.execute(
            select(Task, User.name)
            .join(User, Task.user_id == User.id)
            .order_by(Task.created_at.desc())
            .limit(max(1, min(limit, 1000)))
        ).all()
    ]


def cancel(session: Session, user: User, task_id: str) -> Task:
    """Stop a running task (its owner's, or an admin's): it fails as cancelled, and its open
    assignments are never delivered or taken."""
    task = task_for(session, user, task_id)
    if task.user_id != user.id and not has_role(user, Role.ADMIN):
        raise NotFound(f"no task {task_id}")
    if task.status == TaskStatus.RUNNING:
        _fail(task, TaskFailed.code, f"cancelled by {user.name}")
    return task


def task_for(
    session: Session,
    user: User,
    task_id: str,
    round_timeout: float = ROUND_TIMEOUT_SECONDS,
    key: Ed25519PrivateKey | None = None,
    site_silence: float = SITE_SILENCE_SECONDS,
) -> Task:
    """The task as its owner (or an admin or auditor) may see it. A round that has waited longer
    than ``round_timeout`` for some site fails, naming the silent sites; a securely aggregated
    round whose masked parts are missing re-runs among the rest instead, if enough remain (this
    needs the hub's ``key`` to sign the new assignments)."""
    task = session.get(Task, task_id)
    if task is None or (task.user_id != user.id and not has_role(user, Role.ADMIN, Role.AUDITOR)):
        raise NotFound(f"no task {task_id}")
    if task.status != TaskStatus.RUNNING:
        return task
    if utcnow() - task.updated_at > dt.timedelta(seconds=round_timeout):
        silent = [
            site for site, status in site_status(session, task).items() if status != "answered"
        ]
        _expire(session, task, silent, f"no answer within {round_timeout:g}s", key)
    else:
        gone = [
            site
            for site, status in site_status(session, task, site_silence).items()
            if status == "silent"
        ]
        if gone:
            why = f"no contact for over {site_silence:g}s"
            spec = TaskSpec.from_json(task.spec)
            if spec.allow_missing_sites and task.secure is None:
                if key is not None:  # (signing the next round's assignments needs it)
                    _go_on_without(session, key, task, gone, why)
            else:
                _expire(session, task, gone, why, key)
    return task


def site_status(
    session: Session, task: Task, site_silence: float = SITE_SILENCE_SECONDS
) -> dict[str, str]:
    """Each site of the current step: ``answered``, ``computing`` (it took the assignment),
    ``waiting`` (not yet taken) or ``silent`` (not answered, and the node has not contacted the
    hub for ``site_silence`` seconds since the assignment was queued: a node parked in a long
    poll makes no request until there is work, so its last request may be older than the task)."""
    step = secure.Step.of(task)
    rows = session.execute(
        select(
            NodeRecord.name,
            AssignmentRecord.status,
            NodeRecord.last_seen,
            AssignmentRecord.created_at,
        )
        .join(AssignmentRecord, AssignmentRecord.node_id == NodeRecord.id)
        .where(
            AssignmentRecord.task_id == task.id,
            AssignmentRecord.round == task.round,
            AssignmentRecord.attempt == step.attempt,
            AssignmentRecord.phase == step.phase,
            AssignmentRecord.status != AssignmentStatus.STALE,  # a site the task went on without
        )
        .order_by(NodeRecord.name)
    ).all()
    quiet_since = utcnow() - dt.timedelta(seconds=site_silence)
    out = {}
    for name, status, last_seen, queued in rows:
        if status in (AssignmentStatus.DONE, AssignmentStatus.FAILED):
            out[name] = "answered"
        elif max(last_seen or queued, queued) < quiet_since:
            out[name] = "silent"
        else:
            out[name] = "computing" if status == AssignmentStatus.CLAIMED else "waiting"
    return out


def _stale(session: Session, task: Task) -> None:
    """Mark the task's open assignments stale (each one a change of record in the ledger)."""
    for record in session.scalars(
        select(AssignmentRecord).where(
            AssignmentRecord.task_id == task.id, AssignmentRecord.status.in_(OPEN_ASSIGNMENT)
        )
    ):
        record.status = AssignmentStatus.STALE


def _go_on_without(
    session: Session, key: Ed25519PrivateKey, task: Task, silent: list[str], why: str
) -> None:
    """A task run with ``allow_missing_sites``: leave the silent sites out for the rest of the task
    (their open assignments stale, never taken), and combine now if the others have all answered;
    the result names them (:func:`_missing_sites`). With no site left, the task fails."""
    rest = [site for site in task.sites if site not in silent]
    waited = f"{why} from site(s) {', '.join(silent)}"
    if not rest:
        _fail(task, Unavailable.code, f"{waited}: no site is left to answer")
        return
    for record in session.scalars(
        select(AssignmentRecord)
        .join(NodeRecord, NodeRecord.id == AssignmentRecord.node_id)
        .where(
            AssignmentRecord.task_id == task.id,
            AssignmentRecord.status.in_(OPEN_ASSIGNMENT),
            NodeRecord.name.in_(silent),
        )
    ):
        record.status = AssignmentStatus.STALE
    log.warning("task %s: %s; it goes on without them", task.id, waited)
    task.sites = rest
    task.note = f"{waited}; going on without them (allow_missing_sites)"
    session.flush()
    _maybe_combine(session, key, task)


def _missing_sites(session: Session, task: Task) -> list[str]:
    """The sites a task was queued at and went on without (allow_missing_sites)."""
    queued = session.scalars(
        select(NodeRecord.name)
        .join(AssignmentRecord, AssignmentRecord.node_id == NodeRecord.id)
        .where(AssignmentRecord.task_id == task.id)
        .distinct()
    )
    return sorted(set(queued) - set(task.sites))


def _expire(
    session: Session, task: Task, silent: list[str], why: str, key: Ed25519PrivateKey | None
) -> None:
    """The round cannot complete with ``silent``: fail the task naming them, or re-run a secure
    round among the rest."""
    step = secure.Step.of(task)
    waited = f"{why} from site(s) {', '.join(silent) or '?'}"
    rest = tuple(site for site in step.participants if site not in silent)
    if step.phase != secure.MASK or key is None or not silent:
        if step.phase == secure.UNMASK:
            waited += (
                " in the unmask phase; the round cannot be completed (the sites that revealed "
                "their self masks take part in no other attempt of it): run the task again"
            )
        _fail(task, Unavailable.code, waited)
        return
    if len(rest) < secure.MIN_PARTICIPANTS:
        _fail(
            task,
            Unavailable.code,
            f"{waited}; secure aggregation needs at least {secure.MIN_PARTICIPANTS} sites and "
            f"only {len(rest)} remain ({', '.join(rest) or 'none'})",
        )
        return
    _stale(session, task)
    log.warning("task %s: %s; the round re-runs among %s", task.id, waited, ", ".join(rest))
    task.sites = list(rest)
    task.secure = secure.Step(step.attempt + 1, secure.MASK, rest).to_json()
    task.note = f"{waited}; round {task.round} re-runs among {len(rest)} sites with fresh masks"
    _queue_round(session, key, task)
