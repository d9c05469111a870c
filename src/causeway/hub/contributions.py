"""Contribution statements: what each hospital contributed to each released result, and the
credits owed to it, from which value is shared back to the data providers.

One record per site per released result (written in the transaction that releases it, so the
ledger records it with the release): the rounds the site answered, its rows — the catalog's
rounded count of the dataset at that site, since a site's exact share of a filtered result stays
hidden under secure aggregation — and the credits its usage terms charge per use. A statement sums
them per hospital over a period, with each hospital's share pro rata to rows × rounds.

A leave-one-out influence (how much the result changes without a site) is not computed: it reveals
a site's share by subtraction, which secure aggregation exists to hide; a later version may offer
it where a dataset's policy allows per-site estimates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from causeway.hub import accounts, ledger
from causeway.hub.accounts import Role
from causeway.hub.db import (
    Base,
    ContributionRecord,
    NodeRecord,
    Organisation,
    Project,
    Task,
    User,
    utcnow,
)
from causeway.hub.status import AssignmentStatus
from causeway.model.errors import PermissionDenied
from causeway.model.task import TaskSpec
from causeway.model.usage import UsageTerms

_A = Base.metadata.tables["assignments"]
_D = Base.metadata.tables["datasets"]
_C = Base.metadata.tables["contributions"]
# (statements built once: every released result runs them)
_ROUNDS = (
    select(_A.c.node_id, func.count(func.distinct(_A.c.round)))
    .where(_A.c.task_id == bindparam("task"), _A.c.status == AssignmentStatus.DONE.value)
    .group_by(_A.c.node_id)
)
# every site's dataset, its rows and terms only (not its dictionary)
_HELD = select(_D.c.node_id, _D.c.rows, _D.c.usage).where(
    _D.c.node_id.in_(bindparam("nodes", expanding=True)), _D.c.name == bindparam("dataset")
)
_ADD = insert(_C).returning(_C.c.id, sort_by_parameter_order=True)


def record(session: Session, task: Task) -> None:
    """Record each site's contribution to ``task``'s released result (one insert for all the
    sites, each row its ledger entry, as the ORM's flush would have written it)."""
    spec = TaskSpec.from_json(task.spec)
    session.flush()  # (the task's last answers, if they went through the ORM)
    connection = session.connection()
    rounds = {
        int(node_id): int(count)
        for node_id, count in connection.execute(_ROUNDS, {"task": task.id})
    }
    if not rounds:
        return
    held = {
        int(node_id): (rows, usage)
        for node_id, rows, usage in connection.execute(
            _HELD, {"nodes": list(rounds), "dataset": spec.dataset}
        )
    }
    now = utcnow()
    rows = []
    for node_id, answered in sorted(rounds.items()):
        count, terms = held.get(node_id, (0, None))
        rows.append(
            {
                "task_id": task.id,
                "node_id": node_id,
                "project": spec.project,
                "dataset": spec.dataset,
                "algorithm": spec.algorithm,
                "rounds": answered,
                "rows": count,
                "credits": UsageTerms.from_json(terms or {}).credits_per_use,
                "released_at": now,
            }
        )
    ids = connection.execute(_ADD, rows).scalars().all()
    for new_id, row in zip(ids, rows, strict=True):
        ledger.record(session, "contributions", "insert", {"id": new_id}, {"id": new_id, **row})


@dataclass(frozen=True)
class Line:
    """One hospital's contributions in a statement."""

    hospital: str
    site: str
    results: int
    rounds: int
    rows: int
    credits: float
    share: float  # pro rata to rows x rounds over the statement


def statement(
    session: Session,
    user: User,
    *,
    project: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[Line]:
    """Contributions per site over a period (and project): an admin or auditor sees all; a
    steward their organisation's sites; a researcher the projects they are a member of."""
    query = (
        select(ContributionRecord, NodeRecord.name, Organisation.name, NodeRecord.organisation_id)
        .join(NodeRecord, NodeRecord.id == ContributionRecord.node_id)
        .join(Organisation, Organisation.id == NodeRecord.organisation_id)
    )
    if project is not None:
        query = query.where(ContributionRecord.project == project)
    if since is not None:
        query = query.where(ContributionRecord.released_at >= since)
    if until is not None:
        query = query.where(ContributionRecord.released_at < until)
    rows = session.execute(query).all()
    if not accounts.has_role(user, Role.ADMIN, Role.AUDITOR):
        rows = [r for r in rows if _may_see(session, user, r[0].project, r[3])]
        if project is not None and not rows and not _member(session, user, project):
            raise PermissionDenied(f"{user.name} may not see the contributions to {project!r}")
    totals: dict[tuple[str, str], list[float]] = {}
    for contribution, site, hospital, _org in rows:
        line = totals.setdefault((hospital, site), [0, 0, 0, 0.0, 0.0])
        line[0] += 1
        line[1] += contribution.rounds
        line[2] += contribution.rows
        line[3] += contribution.credits
        line[4] += contribution.rows * contribution.rounds
    weight = sum(v[4] for v in totals.values()) or 1.0
    return [
        Line(hospital, site, int(v[0]), int(v[1]), int(v[2]), v[3], v[4] / weight)
        for (hospital, site), v in sorted(totals.items())
    ]


def _may_see(session: Session, user: User, project: str, organisation_id: int) -> bool:
    if accounts.has_role(user, Role.STEWARD):
        return organisation_id == user.organisation_id
    return _member(session, user, project)


def _member(session: Session, user: User, project: str) -> bool:
    found = session.scalar(select(Project).where(Project.name == project))
    return found is not None and user.name in found.members
