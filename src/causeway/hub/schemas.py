"""Request and response bodies at the HTTP boundary (pydantic); inside, the hub uses dataclasses."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from causeway.hub import tokens
from causeway.hub.db import ApiToken, AssignmentRecord, NodeRecord, Project, Task, User
from causeway.hub.status import TaskStatus

if TYPE_CHECKING:
    from causeway.hub.broker import Delivery


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str
    organisation: str | None = Field(default=None, max_length=200)  # the hub's own if None
    committee: str | None = None  # a reviewer's: ethics, data_center or data_committee
    senior: bool = False  # a researcher who may apply for L3 projects


class UserOut(BaseModel):
    name: str
    role: str
    organisation: str | None = None
    committee: str | None = None
    senior: bool = False
    status: str = "active"
    created_at: str | None = None
    token: str | None = None  # only when the user was just created, shown once

    @classmethod
    def of(cls, user: User, organisation: str | None = None, token: str | None = None) -> UserOut:
        return cls(
            name=user.name,
            role=user.role,
            organisation=organisation,
            committee=user.committee,
            senior=user.senior,
            status=user.status,
            created_at=_iso(user.created_at),
            token=token,
        )


class TokenIn(BaseModel):
    label: str = Field(default="", max_length=200)
    # None: never expires
    expires_in_days: float | None = Field(default=90.0, gt=0, le=3650)


class TokenOut(BaseModel):
    """A token as it is listed: never the secret, only what recognises it."""

    id: int
    user: str
    prefix: str
    label: str
    state: str  # active, expired or revoked
    created_at: str | None
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None
    token: str | None = None  # only when just issued, shown once

    @classmethod
    def of(cls, record: ApiToken, user: str, secret: str | None = None) -> TokenOut:
        return cls(
            id=record.id,
            user=user,
            prefix=record.prefix,
            label=record.label,
            state=tokens.state(record),
            created_at=_iso(record.created_at),
            expires_at=_iso(record.expires_at),
            last_used_at=_iso(record.last_used_at),
            revoked_at=_iso(record.revoked_at),
            token=secret,
        )


class MembersIn(BaseModel):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


class OrganisationOut(BaseModel):
    name: str
    users: int
    nodes: int


class NodeKeyIn(BaseModel):
    public_key: str = Field(max_length=100)


class NodeInfo(BaseModel):
    """An enrolled node as admins, auditors and its own stewards see it."""

    name: str
    organisation: str
    status: str  # active or retired
    public_key: str
    enrolled_at: str | None
    key_changed_at: str | None
    retired_at: str | None
    last_seen: str | None

    @classmethod
    def of(cls, node: NodeRecord, organisation: str) -> NodeInfo:
        return cls(
            name=node.name,
            organisation=organisation,
            status="active" if node.active else "retired",
            public_key=node.public_key,
            enrolled_at=_iso(node.enrolled_at),
            key_changed_at=_iso(node.key_changed_at),
            retired_at=_iso(node.retired_at),
            last_seen=_iso(node.last_seen),
        )


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


class NodeIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    organisation: str = Field(min_length=1, max_length=200)
    public_key: str = Field(max_length=100)


class NodeOut(BaseModel):
    name: str
    organisation: str
    hub_public_key: str

    @classmethod
    def of(cls, node: NodeRecord, organisation: str, hub_public_key: str) -> NodeOut:
        return cls(name=node.name, organisation=organisation, hub_public_key=hub_public_key)


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    datasets: list[str]
    members: list[str]
    sites: list[str]


class ProjectOut(BaseModel):
    name: str
    status: str
    datasets: list[str]
    members: list[str]
    sites: list[str]
    purpose: str = ""
    analyses: list[str] = Field(default_factory=list)
    expires_at: str | None = None
    use: str = "research"

    @classmethod
    def of(cls, p: Project) -> ProjectOut:
        return cls(
            name=p.name,
            status=p.status,
            datasets=p.datasets,
            members=p.members,
            sites=p.sites,
            purpose=p.purpose,
            analyses=p.analyses,
            expires_at=_iso(p.expires_at),
            use=p.use,
        )


class ApplicationIn(BaseModel):
    """A researcher's application for a project (see :mod:`causeway.hub.applications`)."""

    project: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=300)
    purpose: str = Field(min_length=1, max_length=10_000)
    protocol: str = Field(min_length=1, max_length=50_000)
    datasets: list[str] = Field(min_length=1, max_length=50)
    analyses: list[str] = Field(min_length=1, max_length=50)
    team: list[str] = Field(default_factory=list, max_length=200)
    duration_days: int = Field(ge=1, le=3650)
    ethics_reference: str = Field(default="", max_length=300)
    ethics_document: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")
    sites: list[str] | None = Field(default=None, max_length=200)
    use: str = "research"  # what the project is for: causeway.model.usage.PURPOSES


class StageOut(BaseModel):
    stage: str
    decision: str | None
    by: str | None
    comment: str
    decided_at: str | None


class ApplicationOut(BaseModel):
    id: int
    project: str
    status: str
    title: str
    purpose: str
    protocol: str
    level: str
    applicant: str
    organisation: str
    datasets: list[str]
    analyses: list[str]
    team: list[str]
    sites: list[str]
    duration_days: int
    expires_at: str | None
    ethics_reference: str
    ethics_document: str | None
    created_at: str | None
    use: str  # what the project is for (causeway.model.usage.PURPOSES)
    digest: str  # of the project's terms: what each approval is bound to
    stages: list[StageOut]
    waiting_for: str | None  # the next approval due (None: none)


class DocumentOut(BaseModel):
    sha256: str
    name: str
    media_type: str
    size: int


class ProjectDecisionIn(BaseModel):
    """An admin's decision on a project: suspend, revoke (for good) or approve (lift a suspension)."""

    decision: str
    comment: str = Field(default="", max_length=10_000)


class TermsOut(BaseModel):
    """A project as a node's steward sees it before deciding: its terms and their digest, its
    status and approvals at the hub, and the application behind it (if any)."""

    terms: dict[str, Any]
    digest: str
    status: str
    stages: list[StageOut]
    waiting_for: str | None
    application: ApplicationOut | None


class StewardDecisionIn(BaseModel):
    """A steward's decision, reported by their node: on the terms with this digest."""

    project: str = Field(min_length=1, max_length=100)
    digest: str = Field(pattern="^[0-9a-f]{64}$")
    decision: str
    comment: str = Field(default="", max_length=10_000)


class TaskIn(BaseModel):
    algorithm: str
    dataset: str
    project: str
    where: dict[str, Any] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    # go on without a site silent past the hub's site_silence (additive analyses)
    allow_missing_sites: bool = False


class TaskOut(BaseModel):
    id: str
    status: str
    round: int
    note: str
    algorithm: str
    dataset: str
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    created_at: str | None = None
    # while running: each site of the current round, answered / computing / waiting / silent
    sites: dict[str, str] = {}

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(
            created_at=task.created_at.isoformat(timespec="seconds") if task.created_at else None,
            id=task.id,
            status=task.status,
            round=task.round,
            note=task.note,
            algorithm=str(task.spec["algorithm"]),
            dataset=str(task.spec["dataset"]),
            # only a finished, released result is shown (a held or rejected one never is)
            result=task.result if task.status == TaskStatus.DONE else None,
            error=task.error,
        )

    @property
    def running(self) -> bool:
        """Still in the round ``round`` (not finished, held or failed)."""
        return self.status == TaskStatus.RUNNING


class DatasetEntryIn(BaseModel):
    name: str
    level: str
    description: str = ""
    rows: int
    fingerprint: str
    dictionary: list[dict[str, Any]]
    policy: dict[str, Any] | None = None  # the node's summary of the policy it enforces
    # the steward's catalog metadata (causeway.model.catalog.DatasetMetadata.to_json)
    metadata: dict[str, Any] | None = None
    # the hospital's claim of ownership (causeway.model.ownership.Claim) and its node's signature
    claim: dict[str, Any] | None = None
    claim_signature: str | None = None


class CatalogIn(BaseModel):
    datasets: list[DatasetEntryIn]


class AssignmentOut(BaseModel):
    id: int
    payload: dict[str, Any]
    signature: str
    # seconds until it is delivered again unless answered or its lease renewed
    # (POST /api/node/assignments/{id}/lease)
    lease: float | None = None

    @classmethod
    def of(cls, record: AssignmentRecord | Delivery, lease: float | None = None) -> AssignmentOut:
        return cls(id=record.id, payload=record.payload, signature=record.signature, lease=lease)


class LeaseOut(BaseModel):
    """A renewed lease: seconds from now until the assignment is delivered again unless
    answered or renewed."""

    lease: float


class ResultIn(BaseModel):
    contribution: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class ResultOut(BaseModel):
    status: str
    next: list[AssignmentOut] = Field(default_factory=list)


class DecisionIn(BaseModel):
    decision: str
    comment: str = Field(default="", max_length=10_000)


class AggregationKeyIn(BaseModel):
    """A node's aggregation key announcement (see :class:`causeway.crypto.secagg.KeyAnnouncement`)."""

    key: str = Field(max_length=100)
    version: int = Field(ge=1)
    signature: str = Field(max_length=120)


class CosignatureIn(BaseModel):
    """A witness node's signature over a tree head the hub signed (over ``TreeHead.to_sign``)."""

    size: int = Field(ge=1)
    root: str = Field(min_length=64, max_length=64)
    signature: str = Field(max_length=120)
