"""Applications as the client reads them: :class:`Application` and its :class:`Stage` approvals
(``client.apply``, ``client.applications``, ``client.review_application``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from causeway.model import codec


@dataclass(frozen=True)
class Stage:
    """One approval a project needs (``ethics``, ``data_center``, ``data_committee`` or
    ``steward:<site>``) and its latest decision on the current terms (None: waiting)."""

    stage: str
    decision: str | None
    by: str | None
    comment: str
    decided_at: str | None


@dataclass(frozen=True)
class Application:
    """An application for a project, with where each required approval stands. ``status`` is the
    project's at the hub (under_review, approved, rejected, suspended, revoked, withdrawn,
    expired); ``digest`` identifies the terms every approval is bound to."""

    id: int
    project: str
    status: str
    title: str
    purpose: str
    protocol: str
    level: str
    applicant: str
    organisation: str
    datasets: tuple[str, ...]
    analyses: tuple[str, ...]
    team: tuple[str, ...]
    sites: tuple[str, ...]
    duration_days: int
    expires_at: str | None
    ethics_reference: str
    ethics_document: str | None
    created_at: str | None
    use: str
    digest: str
    stages: tuple[Stage, ...]
    waiting_for: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Application:
        application: Application = codec.decode(cls, data, path="application")
        return application


@dataclass(frozen=True)
class Document:
    """An uploaded document, kept at the hub by the SHA-256 of its bytes."""

    sha256: str
    name: str
    media_type: str
    size: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Document:
        document: Document = codec.decode(cls, data, path="document")
        return document
