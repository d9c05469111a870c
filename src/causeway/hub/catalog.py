"""The catalog: which node holds which dataset, with its dictionary and level; and projects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from causeway.hub.db import DatasetRecord, NodeRecord, Project, User, utcnow
from causeway.hub.status import ProjectStatus
from causeway.model.dictionary import Dictionary
from causeway.model.errors import Conflict, DataError, InvalidRequest, NotFound, PermissionDenied
from causeway.model.levels import Level


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    level: str
    sites: tuple[str, ...]
    rows: int
    description: str
    dictionary: Dictionary | None
    problem: str = ""
    policies: tuple[tuple[str, dict[str, Any] | None], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "level": self.level,
            "sites": list(self.sites),
            "rows": self.rows,
            "description": self.description,
            "columns": self.dictionary.to_json() if self.dictionary else [],
            "problem": self.problem,
            # each site's own summary of the policy it enforces (the node is the authority)
            "policies": {site: policy for site, policy in self.policies},
        }


def register_datasets(session: Session, node: NodeRecord, entries: Sequence[dict[str, Any]]) -> int:
    """Replace what the catalog lists for ``node`` with ``entries`` (the node's own catalog)."""
    parsed = []
    for entry in entries:
        try:
            dictionary = Dictionary.from_json(entry["dictionary"])
            parsed.append(
                DatasetRecord(
                    name=str(entry["name"]),
                    node_id=node.id,
                    dictionary=dictionary.to_json(),
                    level=Level.parse(str(entry["level"])).value,
                    description=str(entry.get("description", "")),
                    rows=int(entry["rows"]),
                    fingerprint=str(entry["fingerprint"]),
                    updated_at=utcnow(),
                    policy=_policy_summary(entry.get("policy")),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest(f"malformed dataset entry: {exc}") from None
    session.execute(delete(DatasetRecord).where(DatasetRecord.node_id == node.id))
    session.add_all(parsed)
    node.last_seen = utcnow()
    return len(parsed)


def entries(session: Session, sites: list[str] | None = None) -> list[CatalogEntry]:
    """The catalog; with ``sites``, as seen from those nodes only (a project's view)."""
    query = (
        select(DatasetRecord, NodeRecord.name)
        .join(NodeRecord, DatasetRecord.node_id == NodeRecord.id)
        .where(NodeRecord.active)
        .order_by(DatasetRecord.name, NodeRecord.name)
    )
    if sites is not None:
        query = query.where(NodeRecord.name.in_(sites))
    rows = session.execute(query).all()
    grouped: dict[str, list[tuple[DatasetRecord, str]]] = {}
    for record, node_name in rows:
        grouped.setdefault(record.name, []).append((record, node_name))
    return [_entry(name, items) for name, items in grouped.items()]


def _entry(name: str, items: list[tuple[DatasetRecord, str]]) -> CatalogEntry:
    levels = sorted({record.level for record, _ in items})
    problem = ""
    merged: Dictionary | None = None
    try:
        for record, _ in items:
            dictionary = Dictionary.from_json(record.dictionary)
            merged = dictionary if merged is None else merged.merge(dictionary)
    except DataError as exc:
        problem, merged = exc.detail, None
    return CatalogEntry(
        name=name,
        level=levels[-1],  # the strictest level any site declares governs the whole
        sites=tuple(node_name for _, node_name in items),
        rows=sum(record.rows for record, _ in items),
        description=next((r.description for r, _ in items if r.description), ""),
        dictionary=merged,
        problem=problem,
        policies=tuple((node_name, record.policy) for record, node_name in items),
    )


def _policy_summary(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRequest("a dataset's policy summary is an object")
    return value


def entry(session: Session, name: str, sites: list[str] | None = None) -> CatalogEntry:
    for found in entries(session, sites):
        if found.name == name:
            return found
    raise NotFound(f"no dataset {name!r} in the catalog")


def add_project(
    session: Session, name: str, datasets: list[str], members: list[str], sites: list[str]
) -> Project:
    """An approved project over ``datasets`` at the nodes ``sites``, for ``members``."""
    if not name.strip():
        raise InvalidRequest("a project needs a name")
    if not sites:
        raise InvalidRequest("a project names the sites (nodes) taking part")
    known = set(session.scalars(select(NodeRecord.name).where(NodeRecord.name.in_(sites))))
    unknown = [site for site in sites if site not in known]
    if unknown:
        raise NotFound(f"no enrolled node {', '.join(map(repr, unknown))}")
    if session.scalar(select(Project).where(Project.name == name)) is not None:
        raise Conflict(f"project {name!r} exists")
    for member in members:
        if session.scalar(select(User).where(User.name == member)) is None:
            raise NotFound(f"no user {member!r}")
    project = Project(
        name=name,
        status=ProjectStatus.APPROVED,
        datasets=datasets,
        members=members,
        sites=list(sites),
    )
    session.add(project)
    session.flush()
    return project


def projects_of(session: Session, user: User) -> list[Project]:
    return [
        p for p in session.scalars(select(Project).order_by(Project.name)) if user.name in p.members
    ]


def project_for(session: Session, user: User, name: str, dataset: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None or user.name not in project.members:
        raise PermissionDenied(f"{user.name} is not a member of a project {name!r}")
    if project.status != ProjectStatus.APPROVED:
        raise PermissionDenied(f"project {name!r} is {project.status}, not approved")
    if dataset not in project.datasets:
        raise PermissionDenied(f"project {name!r} does not cover dataset {dataset!r}")
    return project
