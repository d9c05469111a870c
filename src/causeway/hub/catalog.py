"""The catalog: which node holds which dataset, with its dictionary, level and metadata; and
projects. What a user may see of an entry is :mod:`causeway.hub.visibility`'s business."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from causeway.algorithms.registry import ALGORITHMS
from causeway.crypto.keys import load_public, verify
from causeway.hub.db import (
    Base,
    DatasetRecord,
    NodeRecord,
    Organisation,
    Project,
    User,
    utcnow,
)
from causeway.hub.status import ProjectStatus, UserStatus
from causeway.model.catalog import (
    MAX_KEYWORDS,
    DatasetMetadata,
    check_dataset_name,
    round_count,
)
from causeway.model.dictionary import Dictionary
from causeway.model.errors import Conflict, DataError, InvalidRequest, NotFound
from causeway.model.kept import Kept
from causeway.model.levels import Level
from causeway.model.ownership import Claim, dictionary_digest
from causeway.model.quality import QualitySummary
from causeway.model.usage import UsageTerms, check_use


@dataclass(frozen=True)
class Holder:
    """One site holding a dataset, as its node registered it."""

    site: str
    hospital: str  # the node's organisation
    rows: int  # rounded (see causeway.model.catalog.round_count)
    last_seen: dt.datetime | None
    policy: dict[str, Any] | None
    quality: QualitySummary | None = None  # the site's last quality assessment (checks only)


@dataclass(frozen=True)
class CatalogEntry:
    """One dataset over the sites that hold it. ``dictionary`` is the exact merged dictionary
    the broker encodes tasks by; what a user may see of it is decided by
    :mod:`causeway.hub.visibility`."""

    name: str
    level: str
    holders: tuple[Holder, ...]
    description: str
    dictionary: Dictionary | None
    metadata: DatasetMetadata = field(default_factory=DatasetMetadata)
    problem: str = ""
    # nodes claiming the dataset whose registration the catalog does not count (see entries)
    claims: tuple[str, ...] = ()

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(h.site for h in self.holders)

    @property
    def hospitals(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h.hospital for h in self.holders))

    @property
    def rows(self) -> int:
        return round_count(sum(h.rows for h in self.holders))

    @property
    def policies(self) -> tuple[tuple[str, dict[str, Any] | None], ...]:
        """Each site's own summary of the policy it enforces (the node is the authority)."""
        return tuple((h.site, h.policy) for h in self.holders)


def register_datasets(session: Session, node: NodeRecord, entries: Sequence[dict[str, Any]]) -> int:
    """Replace what the catalog lists for ``node`` with ``entries`` (the node's own catalog).

    A dataset the node registered before keeps its first registration time (see :func:`entries`
    for why that matters). Row counts are stored rounded, whatever the node sent."""
    previous = {
        r.name: r
        for r in session.scalars(select(DatasetRecord).where(DatasetRecord.node_id == node.id))
    }
    names = [str(entry.get("name")) for entry in entries]
    if len(set(names)) != len(names):
        raise InvalidRequest("a node's catalog lists a dataset twice")
    kept = set()
    for entry in entries:
        record = previous.get(str(entry["name"])) or DatasetRecord(node_id=node.id)
        _fill(record, entry)
        _claim(record, node, entry)
        kept.add(record.name)
        session.add(record)
    for name, record in previous.items():
        if name not in kept:
            session.delete(record)
    node.last_seen = utcnow()
    return len(entries)


def _fill(record: DatasetRecord, entry: dict[str, Any]) -> None:
    try:
        dictionary = Dictionary.from_json(entry["dictionary"])
        metadata = DatasetMetadata.from_json(entry.get("metadata") or {})
        record.name = check_dataset_name(str(entry["name"]))
        record.dictionary = dictionary.to_json()
        record.level = Level.parse(str(entry["level"])).value
        record.description = str(entry.get("description", ""))
        record.rows = round_count(int(entry["rows"]))
        record.fingerprint = str(entry["fingerprint"])
        record.policy = _policy_summary(entry.get("policy"))
        record.updated_at = utcnow()
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"malformed dataset entry: {exc}") from None
    record.title = metadata.title
    record.keywords = list(metadata.keywords)
    record.licence = metadata.licence
    record.terms = metadata.terms
    record.contact = metadata.contact
    record.coverage_start = metadata.coverage_start
    record.coverage_end = metadata.coverage_end
    record.usage = metadata.usage.to_json()
    record.quality = None if metadata.quality is None else metadata.quality.to_json()


def _claim(record: DatasetRecord, node: NodeRecord, entry: dict[str, Any]) -> None:
    """Check the hospital's signed claim of the dataset and keep it; new content or a new
    dictionary is a new version (the ledger records each one)."""
    raw, signature = entry.get("claim"), entry.get("claim_signature")
    before = (record.claim or {}).get("fingerprint"), (record.claim or {}).get("dictionary")
    if raw is None or signature is None:
        record.claim, record.claim_signature = None, None
        return
    try:
        claim = Claim.from_json(raw)
    except InvalidRequest as exc:
        raise InvalidRequest(f"dataset {record.name!r}: {exc.detail}") from None
    expected = (record.name, node.name, record.fingerprint, dictionary_digest(record.dictionary))
    if (claim.dataset, claim.node, claim.fingerprint, claim.dictionary) != expected:
        raise InvalidRequest(
            f"the claim of dataset {record.name!r} does not describe what {node.name} registered"
        )
    verify(load_public(node.public_key), claim.to_sign(), str(signature))
    if record.claim is not None and before != (claim.fingerprint, claim.dictionary):
        record.version = (record.version or 1) + 1
    record.claim, record.claim_signature = claim.to_json(), str(signature)


Registration = tuple[DatasetRecord, NodeRecord, str]  # a record, its node, its organisation


def _registrations(
    session: Session, sites: list[str] | None = None, name: str | None = None
) -> list[Registration]:
    query = (
        select(DatasetRecord, NodeRecord, Organisation.name)
        .join(NodeRecord, DatasetRecord.node_id == NodeRecord.id)
        .join(Organisation, NodeRecord.organisation_id == Organisation.id)
        .where(NodeRecord.active)
        .order_by(DatasetRecord.name, DatasetRecord.registered_at, DatasetRecord.id)
    )
    if sites is not None:
        query = query.where(NodeRecord.name.in_(sites))
    if name is not None:
        query = query.where(DatasetRecord.name == name)
    return [(record, node, org) for record, node, org in session.execute(query).all()]


def entries(
    session: Session, sites: list[str] | None = None, name: str | None = None
) -> list[CatalogEntry]:
    """The catalog; with ``sites``, as seen from those nodes only (a project's view, which the
    broker encodes tasks by); with ``name``, only that dataset's entry (if any).

    Without ``sites`` (the catalog users browse), a node's registration counts only if the node
    may speak for the dataset, so a rogue node cannot change what others see of it:

    - once a project names the dataset, only the sites of projects on it count;
    - before that, only the nodes of the organisation that registered the name first count.

    Any other node's registration is a *claim*: listed (to admins and auditors) but never merged
    into the entry's dictionary, rows, level or metadata. An admin adopts a claimant by naming
    it as a site of a project on the dataset.
    """
    grouped: dict[str, list[Registration]] = {}
    for registration in _registrations(session, sites, name):
        grouped.setdefault(registration[0].name, []).append(registration)
    if sites is not None:
        return [_entry(name, items) for name, items in grouped.items()]
    governing = _project_sites(session)
    out = []
    for name, items in grouped.items():
        counted = _counted(items, governing.get(name))
        claims = tuple(node.name for _, node, _ in items if node.name not in counted)
        members = [item for item in items if item[1].name in counted]
        if members:
            out.append(_entry(name, members, claims))
    return out


def _project_sites(session: Session) -> dict[str, set[str]]:
    """Each dataset's sites of record: the sites of the projects that name it."""
    found: dict[str, set[str]] = {}
    for project in session.scalars(select(Project).where(Project.status.not_in(_UNDECIDED))):
        for dataset in project.datasets:
            found.setdefault(str(dataset), set()).update(str(s) for s in project.sites)
    return found


# An application's sites are the applicant's choice, not yet anyone's decision: they say nothing
# about who speaks for a dataset.
_UNDECIDED = (ProjectStatus.UNDER_REVIEW, ProjectStatus.REJECTED, ProjectStatus.WITHDRAWN)


def _counted(items: list[Registration], governing: set[str] | None) -> set[str]:
    if governing:
        return {node.name for _, node, _ in items if node.name in governing}
    first_organisation = items[0][1].organisation_id  # ordered by first registration
    return {node.name for _, node, _ in items if node.organisation_id == first_organisation}


def holders(session: Session, dataset: str) -> set[str]:
    """Every active node that registered ``dataset`` (counted in the catalog or not)."""
    return {node.name for record, node, _ in _registrations(session) if record.name == dataset}


# The merged dictionaries lately asked for, by the registered ones' JSON: every task's creation
# merges its sites' dictionaries, which change only when a site registers its dataset again.
_MERGED: Kept[str, tuple[Dictionary | None, str]] = Kept(256)


def _merged(dictionaries: Sequence[list[Any]]) -> tuple[Dictionary | None, str]:
    """The sites' dictionaries merged in order of registration; or None and why not."""
    key = json.dumps(dictionaries, separators=(",", ":"))
    return _MERGED.get_or_make(key, lambda: _merge(dictionaries))


def _merge(dictionaries: Sequence[list[Any]]) -> tuple[Dictionary | None, str]:
    merged: Dictionary | None = None
    try:
        for found in dictionaries:
            dictionary = Dictionary.from_json(found)
            merged = dictionary if merged is None else merged.merge(dictionary)
    except DataError as exc:
        return None, exc.detail
    return merged, ""


def _entry(name: str, items: list[Registration], claims: tuple[str, ...] = ()) -> CatalogEntry:
    levels = sorted({record.level for record, _, _ in items})
    merged, problem = _merged([record.dictionary for record, _, _ in items])
    records = [record for record, _, _ in items]
    return CatalogEntry(
        name=name,
        level=levels[-1],  # the strictest level any site declares governs the whole
        holders=tuple(
            Holder(
                node.name,
                org,
                round_count(record.rows),
                node.last_seen,
                record.policy,
                _quality(record),
            )
            for record, node, org in sorted(items, key=lambda item: item[1].name)
        ),
        description=next((r.description for r in records if r.description), ""),
        dictionary=merged,
        metadata=_merged_metadata(records),
        problem=problem,
        claims=claims,
    )


def _merged_metadata(records: list[DatasetRecord]) -> DatasetMetadata:
    """One entry's metadata over its sites: each text from the earliest registration that gives
    one, the union of the keywords, and the widest time coverage."""

    def first(field: str) -> str:
        return next((str(getattr(r, field)) for r in records if getattr(r, field)), "")

    keywords: dict[str, str] = {}
    for record in records:
        for keyword in record.keywords:
            keywords.setdefault(str(keyword).lower(), str(keyword))
    qualities = [q for q in (_quality(r) for r in records) if q is not None]
    starts = [r.coverage_start for r in records if r.coverage_start is not None]
    ends = [r.coverage_end for r in records if r.coverage_end is not None]
    return DatasetMetadata(
        title=first("title"),
        keywords=tuple(keywords.values())[:MAX_KEYWORDS],
        licence=first("licence"),
        terms=first("terms"),
        contact=first("contact"),
        coverage_start=min(starts) if starts else None,
        coverage_end=max(ends) if ends else None,
        quality=QualitySummary.combine(qualities),
    )


def _quality(record: DatasetRecord) -> QualitySummary | None:
    """A site's quality summary (checked when it was registered; None if absent)."""
    return None if record.quality is None else QualitySummary.from_json(record.quality)


def _policy_summary(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRequest("a dataset's policy summary is an object")
    return value


@dataclass(frozen=True)
class Holding:
    """What a task needs of a dataset as a project's sites hold it: the part of its
    :class:`CatalogEntry` the broker reads (the same level, dictionary and policies)."""

    level: str
    dictionary: Dictionary | None
    problem: str
    policies: tuple[tuple[str, dict[str, Any] | None], ...]  # by site name

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(site for site, _ in self.policies)


_D = Base.metadata.tables["datasets"]
_N = Base.metadata.tables["nodes"]
_HOLDING = (
    select(_N.c.name, _D.c.level, _D.c.dictionary, _D.c.policy)
    .join(_N, _D.c.node_id == _N.c.id)
    .where(
        _N.c.active,
        _N.c.name.in_(bindparam("sites", expanding=True)),
        _D.c.name == bindparam("dataset"),
    )
    .order_by(_D.c.registered_at, _D.c.id)  # (the catalog's order: see _registrations)
)


def holding(session: Session, name: str, sites: list[str]) -> Holding:
    """``entry(session, name, sites)`` as a task needs it, in one query of four columns."""
    rows = session.connection().execute(_HOLDING, {"sites": sites, "dataset": name}).all()
    if not rows:
        raise NotFound(f"no dataset {name!r} in the catalog")
    merged, problem = _merged([dictionary for _, _, dictionary, _ in rows])
    return Holding(
        level=sorted({level for _, level, _, _ in rows})[-1],
        dictionary=merged,
        problem=problem,
        policies=tuple(sorted(((site, p) for site, _, _, p in rows), key=lambda sp: sp[0])),
    )


def entry(session: Session, name: str, sites: list[str] | None = None) -> CatalogEntry:
    for found in entries(session, sites, name):
        if found.name == name:
            return found
    raise NotFound(f"no dataset {name!r} in the catalog")


def add_project(
    session: Session,
    name: str,
    datasets: list[str],
    members: list[str],
    sites: list[str],
    *,
    status: ProjectStatus = ProjectStatus.APPROVED,
    purpose: str = "",
    analyses: list[str] | None = None,
    expires_at: dt.datetime | None = None,
    use: str = "research",
) -> Project:
    """A project over ``datasets`` at the nodes ``sites``, for ``members``: approved at once when
    an admin creates it, under review when it comes from an application. ``analyses`` defaults to
    every analysis the hub knows; each site's steward approves these terms at their node."""
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
    _check_members(session, members)
    _refuse_unheld(session, datasets, sites)
    chosen = sorted(
        analyses if analyses is not None else allowed_analyses(session, datasets, sites)
    )
    accepted = accept_usage(session, datasets, sites, check_use(use), chosen)
    project = Project(
        name=name,
        status=status.value,
        datasets=datasets,
        members=members,
        sites=list(sites),
        purpose=purpose,
        analyses=chosen,
        expires_at=expires_at,
        use=use,
        accepted=accepted,
    )
    session.add(project)
    session.flush()
    return project


def accept_usage(
    session: Session, datasets: list[str], sites: list[str], use: str, analyses: list[str]
) -> list[list[str]]:
    """The usage terms of every dataset at every site, accepted: ``[dataset, site, digest]``
    each. Terms that refuse the use or an analysis asked for refuse the project now (the node
    would refuse its every task)."""
    today = utcnow().date()
    accepted = []
    for record, node, _org in _registrations(session, sites):
        if record.name not in datasets:
            continue
        usage = UsageTerms.from_json(record.usage or {})
        for algorithm in analyses:
            why = usage.refusal(use, algorithm, today)
            if why:
                raise InvalidRequest(
                    f"the usage terms of dataset {record.name!r} at {node.name} refuse it: {why}"
                )
        accepted.append([record.name, node.name, usage.digest()])
    return sorted(accepted)


def allowed_analyses(session: Session, datasets: list[str], sites: list[str]) -> list[str]:
    """Every analysis the usage terms of all these datasets at all these sites allow."""
    allowed = set(ALGORITHMS)
    for record, _node, _org in _registrations(session, sites):
        if record.name in datasets:
            usage = UsageTerms.from_json(record.usage or {})
            if usage.analyses:
                allowed &= set(usage.analyses)
    return sorted(allowed)


def _check_members(session: Session, members: list[str]) -> None:
    for member in members:
        found = session.scalar(select(User).where(User.name == member))
        if found is None or found.status == UserStatus.DELETED:
            raise NotFound(f"no user {member!r}")


def change_members(session: Session, name: str, add: list[str], remove: list[str]) -> Project:
    """Add ``add`` to the project's members and take ``remove`` out (both checked first)."""
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"no project {name!r}")
    _check_members(session, add)
    both = sorted(set(add) & set(remove))
    if both:
        raise InvalidRequest(f"both added and removed: {', '.join(both)}")
    strangers = [m for m in remove if m not in project.members]
    if strangers:
        raise InvalidRequest(f"not members of {name!r}: {', '.join(strangers)}")
    kept = [m for m in project.members if m not in remove]
    project.members = kept + [m for m in dict.fromkeys(add) if m not in kept]
    return project


def _refuse_unheld(session: Session, datasets: list[str], sites: list[str]) -> None:
    """A project over a dataset that none of its sites holds could never run: refuse it now."""
    if not datasets:
        raise InvalidRequest("a project covers at least one dataset")
    held = {record.name for record, _, _ in _registrations(session, sites)}
    missing = [dataset for dataset in datasets if dataset not in held]
    if missing:
        raise InvalidRequest(
            f"no site of the project ({', '.join(sites)}) holds "
            f"{', '.join(map(repr, missing))}: a project covers only datasets its sites hold"
        )


def projects_of(session: Session, user: User) -> list[Project]:
    return [
        p for p in session.scalars(select(Project).order_by(Project.name)) if user.name in p.members
    ]
